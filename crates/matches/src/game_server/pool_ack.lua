-- pool_ack.lua: the game server took its assignment. Only the server the match was given
-- to may (the same incarnation: its token's hash is kept on the match).
-- KEYS[1]  the match's hash in the pool
-- KEYS[2]  the server's assignments (sorted set)
-- KEYS[3]  the region's matches not yet acknowledged (sorted set)
-- ARGV[1]  match id
-- ARGV[2]  now, ms since the epoch
-- ARGV[3]  the caller's server id
-- ARGV[4]  the SHA-256 (hex) of the token the caller sent
-- Returns 'started' (also for a repeated ack), 'not_yours' (the match is on another
-- server), 'unauthorized' (the token is not that incarnation's), or 'unknown' / the state
-- it is in instead.
local match = redis.call('HMGET', KEYS[1], 'server', 'server_token_hash', 'state')
local state = match[3]
if not state then
  return 'unknown'
end
if match[1] ~= ARGV[3] then
  return 'not_yours'
end
if match[2] ~= ARGV[4] then
  return 'unauthorized'
end
if state == 'started' then
  -- Acknowledged before: a backfill's update (the match back in the assignments) taken.
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 'started'
end
if state ~= 'assigned' then
  return state
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'started', 'started_ms', ARGV[2])
return 'started'
