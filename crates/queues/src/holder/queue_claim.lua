-- queue_claim.lua: claim the tickets of one match, all or none.
-- Every ticket must still be queued (none left, none claimed by another match) and the
-- caller must hold the queue's lease (a paused ex-holder cannot claim).
-- KEYS[1]  the queue's lease
-- KEYS[2]  the queue's tickets by rating (sorted set)
-- KEYS[3]  the queue's tickets by enqueue time (sorted set)
-- KEYS[4]  the queue's player index (hash)
-- KEYS[5]  the queue's claimed matches not yet handed over (sorted set by claim time)
-- KEYS[6]  the claimed match's hash
-- KEYS[7]  the queue's counters (hash)
-- KEYS[8..] the tickets' hashes, in the order of ARGV[5..]
-- ARGV[1]  the caller's lease owner token
-- ARGV[2]  match id
-- ARGV[3]  now, ms since the epoch
-- ARGV[4]  the match record (JSON), kept until the hand-over to the server pool is done
-- ARGV[5..] ticket ids
-- Returns {'claimed'} | {'not_holder'} | {'gone', ticket, ...}: the tickets no longer queued.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {'not_holder'}
end
local gone = {'gone'}
for i = 5, #ARGV do
  if redis.call('HGET', KEYS[i + 3], 'state') ~= 'queued' then
    gone[#gone + 1] = ARGV[i]
  end
end
if #gone > 1 then
  return gone
end
for i = 5, #ARGV do
  local id = ARGV[i]
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('HSET', KEYS[i + 3], 'state', 'claimed', 'match', ARGV[2])
  -- Kept a while for queue.status and queue.leave to answer "matched".
  redis.call('PEXPIRE', KEYS[i + 3], 3600000)
end
redis.call('HSET', KEYS[6], 'record', ARGV[4], 'claimed_ms', ARGV[3])
redis.call('PEXPIRE', KEYS[6], 3600000)
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[2])
redis.call('HINCRBY', KEYS[7], 'matches', 1)
redis.call('HINCRBY', KEYS[7], 'tickets_matched', #ARGV - 4)
return {'claimed'}
