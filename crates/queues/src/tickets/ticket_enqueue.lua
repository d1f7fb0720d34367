-- ticket_enqueue.lua: put a reserved ticket into its queue (second step of queue.join; also
-- a requeue after a cancelled match, with the ticket's original enqueue time).
-- KEYS[1]  the queue's tickets by rating (sorted set)
-- KEYS[2]  the queue's tickets by enqueue time (sorted set)
-- KEYS[3]  the ticket's hash
-- KEYS[4]  the queue's player index (hash: ticket -> player)
-- KEYS[5]  the queue's change log (list) for the matchmaker holding the queue
-- ARGV[1]  ticket id
-- ARGV[2]  who it seats: a player id, or a party's members (queues/members.rs)
-- ARGV[3]  rating
-- ARGV[4]  enqueued at, ms since the epoch
-- ARGV[5]  the traceparent of the queue.join, or '' when not traced
-- Returns 1 (0 if the ticket already existed: a retried step changes nothing).
if redis.call('EXISTS', KEYS[3]) == 1 then
  return 0
end
redis.call('HSET', KEYS[3], 'player', ARGV[2], 'rating', ARGV[3], 'enqueued_ms', ARGV[4], 'state', 'queued')
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
local change = 'j ' .. ARGV[1] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. ARGV[2]
if ARGV[5] and ARGV[5] ~= '' then
  change = change .. ' ' .. ARGV[5]
end
local logged = redis.call('RPUSH', KEYS[5], change)
-- Nobody may be following the log (no matchmaker running): keep it bounded; the next
-- holder starts from a snapshot anyway. Trimmed only once past the bound: an `LTRIM`
-- on every join was one more command, replicated, for nothing.
if logged > 100000 then
  redis.call('LTRIM', KEYS[5], -100000, -1)
end
return 1
