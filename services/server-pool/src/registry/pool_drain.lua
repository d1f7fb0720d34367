-- pool_drain.lua: stop allocating to a server; it leaves once its games end (at once if
-- it runs none). Asked by the server itself (its token is checked) or by an operator.
-- KEYS[1]  the server's hash
-- KEYS[2]  the region's ready servers by load (sorted set)
-- KEYS[3]  the region's liveness (sorted set)
-- ARGV[1]  server id
-- ARGV[2]  the SHA-256 (hex) of the token the server sent, or '' (an operator's drain)
-- Returns 'left' (gone now), 'draining' (games still running), 'unknown' or
-- 'unauthorized' (the token is not this incarnation's).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 'unknown'
end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'token_hash') ~= ARGV[2] then
  return 'unauthorized'
end
redis.call('ZREM', KEYS[2], ARGV[1])
if tonumber(redis.call('HGET', KEYS[1], 'active') or '0') <= 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 'left'
end
redis.call('HSET', KEYS[1], 'status', 'draining')
return 'draining'
