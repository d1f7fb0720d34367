-- backfill_claim.lua: claim tickets for a running match's backfill, all or none
-- (claim_lib.lua in front): the same claim as a new match's, so a ticket goes to a new
-- match or to a backfill, never both. The request must still be open under the same id
-- (a cancelled or replaced request takes nobody) and still want at least as many players
-- on each team as this fill takes; what it still wants goes down in the same step.
-- KEYS[1]  the queue's lease
-- KEYS[2]  the queue's tickets by rating (sorted set)
-- KEYS[3]  the queue's tickets by enqueue time (sorted set)
-- KEYS[4]  the queue's player index (hash)
-- KEYS[5]  the queue's claims not yet handed over (sorted set by claim time)
-- KEYS[6]  this fill's claim hash
-- KEYS[7]  the queue's counters (hash)
-- KEYS[8]  the queue's open backfills (sorted set)
-- KEYS[9]  the match's backfill request (hash)
-- KEYS[10..] the tickets' hashes, in the order of ARGV[8..]
-- ARGV[1]  the caller's lease owner token
-- ARGV[2]  the fill's id (its claim)
-- ARGV[3]  now, ms since the epoch
-- ARGV[4]  the fill's record (JSON), kept until its hand-over is done
-- ARGV[5]  the match id
-- ARGV[6]  the backfill request's id
-- ARGV[7]  the players this fill seats per team: "<team>:<count>,..."
-- ARGV[8..] ticket ids
-- Returns {'claimed', '1'} when the request wants nobody more now (it is closed),
-- {'claimed', '0'} when it still wants players, {'not_holder'}, {'gone', ticket, ...},
-- {'cancelled'} (no such request open) or {'changed'} (it wants fewer now).
local queue, ids, hashes = claim_args(KEYS, ARGV, 8, 10)
if not holds_lease(queue, ARGV[1]) then
  return {'not_holder'}
end
if redis.call('HGET', KEYS[9], 'id') ~= ARGV[6] then
  return {'cancelled'}
end
local seated = 0
for team, count in string.gmatch(ARGV[7], '(%d+):(%d+)') do
  local wanted = tonumber(redis.call('HGET', KEYS[9], 'want:' .. team) or '0')
  if wanted < tonumber(count) then
    return {'changed'}
  end
  seated = seated + tonumber(count)
end
local gone = gone_tickets(ids, hashes)
if gone then
  return gone
end
claim_tickets(queue, ids, hashes, ARGV[5], ARGV[2], ARGV[4], ARGV[3])
for team, count in string.gmatch(ARGV[7], '(%d+):(%d+)') do
  redis.call('HINCRBY', KEYS[9], 'want:' .. team, -tonumber(count))
end
redis.call('HINCRBY', KEYS[7], 'backfills', 1)
redis.call('HINCRBY', KEYS[7], 'players_backfilled', seated)
local fields = redis.call('HGETALL', KEYS[9])
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 5) == 'want:' and tonumber(fields[i + 1]) > 0 then
    return {'claimed', '0'}
  end
end
redis.call('DEL', KEYS[9])
redis.call('ZREM', KEYS[8], ARGV[5])
return {'claimed', '1'}
