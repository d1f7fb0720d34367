-- ticket_requeue.lua: put the ticket of a cancelled match back in its queue, with its
-- original enqueue time, so the player keeps their place. Idempotent.
-- KEYS[1]  the queue's tickets by rating (sorted set)
-- KEYS[2]  the queue's tickets by enqueue time (sorted set)
-- KEYS[3]  the ticket's hash
-- KEYS[4]  the queue's player index (hash)
-- KEYS[5]  the queue's change log (list)
-- ARGV[1]  ticket id
-- ARGV[2]  who it seats: a player id, or a party's members (queues/members.rs)
-- ARGV[3]  rating
-- ARGV[4]  enqueued at, ms since the epoch (the original)
-- ARGV[5]  the cancelled match id
-- Returns 1 if requeued, 0 if not: only a ticket still claimed by this very match goes
-- back, so a requeue redone after the player left, or after the ticket expired or was
-- matched again, changes nothing.
local state = redis.call('HGET', KEYS[3], 'state')
if state ~= 'claimed' or redis.call('HGET', KEYS[3], 'match') ~= ARGV[5] then
  return 0
end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'player', ARGV[2], 'rating', ARGV[3], 'enqueued_ms', ARGV[4], 'state', 'queued')
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
local logged = redis.call('RPUSH', KEYS[5], 'j ' .. ARGV[1] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. ARGV[2])
if logged > 100000 then
  redis.call('LTRIM', KEYS[5], -100000, -1)
end
return 1
