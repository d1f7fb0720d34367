-- queue_expire.lua: remove a queued ticket for good: it waited longer than the queue
-- allows, or its player has been gone longer than the grace.
-- KEYS[1]  the queue's lease
-- KEYS[2]  the queue's tickets by rating (sorted set)
-- KEYS[3]  the queue's tickets by enqueue time (sorted set)
-- KEYS[4]  the queue's player index (hash)
-- KEYS[5]  the queue's counters (hash)
-- KEYS[6]  the ticket's hash
-- ARGV[1]  the caller's lease owner token
-- ARGV[2]  ticket id
-- ARGV[3]  the counter to bump ('timeouts' or 'abandoned')
-- Returns {'not_holder'} | {'gone'} | {'expired', player, enqueued_ms}.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {'not_holder'}
end
if redis.call('HGET', KEYS[6], 'state') ~= 'queued' then
  return {'gone'}
end
local ticket = redis.call('HMGET', KEYS[6], 'player', 'enqueued_ms')
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[2])
redis.call('DEL', KEYS[6])
redis.call('HINCRBY', KEYS[5], ARGV[3], 1)
return {'expired', ticket[1] or '', ticket[2] or '0'}
