-- ticket_remove.lua: take a queued ticket out of its queue (queue.leave).
-- Races the matchmaker's claim safely: both run on the queue's slot, so a ticket is either
-- removed here while still queued, or found claimed and left alone.
-- KEYS[1]  the queue's tickets by rating (sorted set)
-- KEYS[2]  the queue's tickets by enqueue time (sorted set)
-- KEYS[3]  the ticket's hash
-- KEYS[4]  the queue's player index (hash)
-- KEYS[5]  the queue's change log (list)
-- ARGV[1]  ticket id
-- Returns {'removed', who it seated (a player id, or a party's members: queues/members.rs)}
--       | {'missing'} | {state, match id} when no longer queued (claimed).
local state = redis.call('HGET', KEYS[3], 'state')
if not state then
  return {'missing'}
end
if state ~= 'queued' then
  return {state, redis.call('HGET', KEYS[3], 'match') or ''}
end
local seats = redis.call('HGET', KEYS[3], 'player') or ''
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('RPUSH', KEYS[5], 'l ' .. ARGV[1])
return {'removed', seats}
