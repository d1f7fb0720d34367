-- pool_register.lua: a game server joins its region's pool (or registers again).
-- A server that registers again keeps the games the pool counts on it.
-- KEYS[1]  the server's hash
-- KEYS[2]  the region's ready servers by load (sorted set: id -> active / capacity)
-- KEYS[3]  the region's liveness (sorted set: id -> heartbeat lapse time, ms)
-- ARGV[1]  server id
-- ARGV[2]  address (host:port)
-- ARGV[3]  capacity
-- ARGV[4]  labels (JSON)
-- ARGV[5]  now, ms since the epoch
-- ARGV[6]  heartbeat TTL in ms
-- Returns the games the pool counts on the server.
local active = tonumber(redis.call('HGET', KEYS[1], 'active') or '0')
local capacity = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'address', ARGV[2], 'capacity', capacity, 'labels', ARGV[4],
  'status', 'ready', 'active', active, 'heartbeat_ms', ARGV[5])
redis.call('ZADD', KEYS[2], active / capacity, ARGV[1])
redis.call('ZADD', KEYS[3], tonumber(ARGV[5]) + tonumber(ARGV[6]), ARGV[1])
return active
