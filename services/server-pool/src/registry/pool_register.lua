-- pool_register.lua: a game server joins its region's pool under its id, as a new
-- incarnation with its own credential. An id whose incarnation is still alive (its
-- heartbeat has not lapsed, by Redis's clock) is in use and refused. Otherwise this
-- registration takes the id: the games of the incarnation before are put in the region's
-- orphaned set, to be ended at once as server_lost (the caller does it now, the region's
-- worker if the caller dies first), and its slots are not carried over.
-- KEYS[1]  the server's hash
-- KEYS[2]  the region's ready servers by load (sorted set: id -> active / capacity)
-- KEYS[3]  the region's liveness (sorted set: id -> heartbeat lapse time, ms)
-- KEYS[4]  the server's games (set)
-- KEYS[5]  the server's assignments (sorted set)
-- KEYS[6]  the region's lost servers (sorted set)
-- KEYS[7]  the region's orphaned matches (sorted set)
-- ARGV[1]  server id
-- ARGV[2]  address (host:port)
-- ARGV[3]  capacity
-- ARGV[4]  labels (JSON)
-- ARGV[5]  heartbeat TTL in ms
-- ARGV[6]  the SHA-256 (hex) of the new server token
-- Returns {'registered', incarnation, games of the previous incarnation to end} or
-- {'in_use', the live incarnation, ms until its heartbeat lapses}.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local current = redis.call('HMGET', KEYS[1], 'status', 'incarnation')
local lapses = tonumber(redis.call('ZSCORE', KEYS[3], ARGV[1]) or '0')
if current[1] and lapses > now then
  return {'in_use', current[2] or '0', string.format('%d', lapses - now)}
end
local orphaned = 0
for _, match in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  redis.call('ZADD', KEYS[7], now, match)
  orphaned = orphaned + 1
end
redis.call('DEL', KEYS[1], KEYS[4], KEYS[5])
local incarnation = math.max(now, tonumber(current[2] or '0') + 1)
redis.call('HSET', KEYS[1], 'address', ARGV[2], 'capacity', ARGV[3], 'labels', ARGV[4],
  'status', 'ready', 'active', 0, 'heartbeat_ms', now, 'registered_ms', now,
  'incarnation', string.format('%d', incarnation), 'token_hash', ARGV[6])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
return {'registered', string.format('%d', incarnation), string.format('%d', orphaned)}
