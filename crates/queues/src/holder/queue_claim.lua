-- queue_claim.lua: claim the tickets of one match, all or none (claim_lib.lua in front).
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
local queue, ids, hashes = claim_args(KEYS, ARGV, 5, 8)
if not holds_lease(queue, ARGV[1]) then
  return {'not_holder'}
end
local gone = gone_tickets(ids, hashes)
if gone then
  return gone
end
claim_tickets(queue, ids, hashes, ARGV[2], ARGV[2], ARGV[4], ARGV[3])
redis.call('HINCRBY', KEYS[7], 'matches', 1)
return {'claimed'}
