-- pool_heartbeat.lua: a game server is alive, and reviews its games. Liveness is kept by
-- Redis's clock (TIME), so no pool instance's clock decides whether a server is dead.
-- KEYS[1]  the server's hash
-- KEYS[2]  the region's liveness (sorted set)
-- KEYS[3]  the region's orphaned matches (sorted set)
-- KEYS[4..] the pool hash of each game reviewed, in the order of ARGV[8..]
-- ARGV[1]  server id
-- ARGV[2]  heartbeat TTL in ms
-- ARGV[3]  the SHA-256 (hex) of the token the caller sent
-- ARGV[4]  games the server reports running ('' if not said)
-- ARGV[5]  players it reports connected ('' if not said)
-- ARGV[6]  '1' if the heartbeat lists the server's games, else '0'
-- ARGV[7]  the longest a game may run, ms (0: no limit)
-- ARGV[8..] per game the pool has on the server: its match id, then '1' if listed
-- A started game that two listing heartbeats in a row leave out ends as server_lost; one
-- running longer than ARGV[7] ends as game_timeout: each is marked with its reason and put
-- in the region's orphaned set, from which it is ended.
-- Returns {'alive' | 'draining' | 'left', orphaned match...}: 'left' when a draining
-- server has no game left (it leaves the pool now); {'unknown'} when the pool does not
-- know the server or found it dead (it must register again); {'unauthorized'} when the
-- token is not this incarnation's.
local server = redis.call('HMGET', KEYS[1], 'status', 'token_hash')
if not server[1] then
  return {'unknown'}
end
if server[2] ~= ARGV[3] then
  return {'unauthorized'}
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[1], 'heartbeat_ms', now, 'reported_games', ARGV[4], 'players', ARGV[5])
local out = {'alive'}
local max_game = tonumber(ARGV[7])
for i = 8, #ARGV, 2 do
  local hash = KEYS[4 + (i - 8) / 2]
  local game = redis.call('HMGET', hash, 'state', 'server', 'started_ms')
  if game[1] == 'started' and game[2] == ARGV[1] then
    local reason = nil
    if max_game > 0 and now - tonumber(game[3] or now) > max_game then
      reason = 'game_timeout'
    elseif ARGV[6] == '1' and ARGV[i + 1] == '1' then
      redis.call('HDEL', hash, 'missed_beats')
    elseif ARGV[6] == '1' and redis.call('HINCRBY', hash, 'missed_beats', 1) >= 2 then
      reason = 'server_lost'
    end
    if reason then
      redis.call('HSET', hash, 'end_reason', reason)
      redis.call('ZADD', KEYS[3], now, ARGV[i])
      out[#out + 1] = ARGV[i]
    end
  end
end
if server[1] == 'draining' then
  if tonumber(redis.call('HGET', KEYS[1], 'active') or '0') <= 0 then
    redis.call('DEL', KEYS[1])
    redis.call('ZREM', KEYS[2], ARGV[1])
    out[1] = 'left'
  else
    out[1] = 'draining'
  end
end
return out
