-- pool_reap.lua: a server whose heartbeat lapsed (by Redis's clock, TIME) is taken out of
-- the pool: its hash goes, its games are listed for the reaper to cancel or end, and it
-- stays in the region's lost set until that is done. Idempotent: a server already found
-- dead is listed again with the games still to deal with (each is taken off its games set
-- as it is ended). A new incarnation registered meanwhile is alive and left alone.
-- KEYS[1]  the server's hash
-- KEYS[2]  the region's ready servers by load (sorted set)
-- KEYS[3]  the region's liveness (sorted set)
-- KEYS[4]  the region's lost servers (sorted set)
-- KEYS[5]  the server's games (set)
-- ARGV[1]  server id
-- Returns {'alive'} if it heartbeated (or registered again) meanwhile, else
-- {'dead', match, match, ...}.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lapses = redis.call('ZSCORE', KEYS[3], ARGV[1])
if lapses and tonumber(lapses) > now then
  return {'alive'}
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[1])
redis.call('ZADD', KEYS[4], now, ARGV[1])
local out = {'dead'}
for _, match in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  out[#out + 1] = match
end
return out
