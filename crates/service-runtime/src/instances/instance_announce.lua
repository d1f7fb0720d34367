-- instance_announce.lua: announce (or renew) one service instance in the registry.
-- KEYS[1]  the instance's info hash
-- KEYS[2]  the registry's expiry index (sorted set: "<service>/<id>" -> lapse time in ms)
-- ARGV[1]  the member name "<service>/<id>"
-- ARGV[2]  now, in ms
-- ARGV[3]  the entry's lifetime in ms
-- ARGV[4..] field, value pairs of the info hash
-- Returns the number of live instances after pruning lapsed ones.
local now = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
if #ARGV > 4 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 4))
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return redis.call('ZCARD', KEYS[2])
