-- pool_heartbeat.lua: a game server is alive.
-- KEYS[1]  the server's hash
-- KEYS[2]  the region's liveness (sorted set)
-- ARGV[1]  server id
-- ARGV[2]  now, ms since the epoch
-- ARGV[3]  heartbeat TTL in ms
-- ARGV[4]  games the server reports running ('' if not said)
-- ARGV[5]  players it reports connected ('' if not said)
-- Returns 1 (alive), 2 (alive and draining), 3 (draining with no game left: it has left
-- now; a draining server usually leaves with its last game, this catches one that was
-- drained with its games' slots already given back), or 0 if the pool does not know the
-- server, or found it dead (it must register again: its games were cancelled).
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'lost' then
  return 0
end
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[1], 'heartbeat_ms', ARGV[2], 'reported_games', ARGV[4], 'players', ARGV[5])
if status == 'draining' then
  if tonumber(redis.call('HGET', KEYS[1], 'active') or '0') <= 0 then
    redis.call('DEL', KEYS[1])
    redis.call('ZREM', KEYS[2], ARGV[1])
    return 3
  end
  return 2
end
return 1
