-- pool_ack.lua: the game server took its assignment.
-- KEYS[1]  the match's hash in the pool
-- KEYS[2]  the server's assignments (sorted set)
-- KEYS[3]  the region's matches not yet acknowledged (sorted set)
-- ARGV[1]  match id
-- ARGV[2]  now, ms since the epoch
-- Returns 'started' (also for a repeated ack), or 'unknown' / the state it is in instead.
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'started' then
  return 'started'
end
if state ~= 'assigned' then
  return state or 'unknown'
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'started', 'started_ms', ARGV[2])
return 'started'
