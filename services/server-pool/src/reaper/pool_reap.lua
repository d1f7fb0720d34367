-- pool_reap.lua: a server whose heartbeat lapsed is taken out of the pool; its games are
-- listed for the reaper to cancel or end. Idempotent: a server already found dead is
-- listed again until its games are dealt with.
-- KEYS[1]  the server's hash
-- KEYS[2]  the region's ready servers by load (sorted set)
-- KEYS[3]  the region's liveness (sorted set)
-- KEYS[4]  the region's lost servers (sorted set)
-- KEYS[5]  the server's games (set)
-- KEYS[6]  the server's assignments (sorted set)
-- ARGV[1]  server id
-- ARGV[2]  now, ms since the epoch
-- Returns {'alive'} if it heartbeated meanwhile, else {'dead', match, match, ...}.
local lapses = redis.call('ZSCORE', KEYS[3], ARGV[1])
if lapses and tonumber(lapses) > tonumber(ARGV[2]) then
  return {'alive'}
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'status', 'lost')
end
redis.call('ZADD', KEYS[4], tonumber(ARGV[2]), ARGV[1])
local out = {'dead'}
for _, match in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  out[#out + 1] = match
end
return out
