-- slot_free.lua: giving a game server's slot back when a game on it ends or is cancelled.
-- A library, not a script: it is put in front of every script that frees a slot
-- (pool_result.lua, pool_cancel.lua), so the accounting is written once.
--
-- free_slot(match_hash, server_hash, by_load, liveness, games, server, match)
--   match_hash   the match's hash in the pool (its server's incarnation)
--   server_hash  the server's hash (address, capacity, active, status, incarnation)
--   by_load      the region's ready servers by load (sorted set)
--   liveness     the region's liveness (sorted set)
--   games        the server's games (set)
--   server       the server id
--   match        the match whose slot is freed
-- Takes the match off the server's games and its slot back (never below 0); a ready
-- server's load is updated; a draining server whose last game this was leaves the pool.
-- A slot belongs to the incarnation it was taken on: a game of an incarnation that is gone
-- (the id was registered again) gives nothing back to the one there now.
-- Returns true if the server left the pool now (the caller forgets it).
local function free_slot(match_hash, server_hash, by_load, liveness, games, server, match)
  redis.call('SREM', games, match)
  if redis.call('EXISTS', server_hash) == 0 then
    return false
  end
  local taken_on = redis.call('HGET', match_hash, 'incarnation')
  if taken_on and taken_on ~= redis.call('HGET', server_hash, 'incarnation') then
    return false
  end
  local active = redis.call('HINCRBY', server_hash, 'active', -1)
  if active < 0 then
    active = 0
    redis.call('HSET', server_hash, 'active', 0)
  end
  local status = redis.call('HMGET', server_hash, 'status', 'capacity')
  if status[1] == 'ready' then
    redis.call('ZADD', by_load, active / tonumber(status[2]), server)
  elseif status[1] == 'draining' and active == 0 then
    redis.call('DEL', server_hash)
    redis.call('DEL', games)
    redis.call('ZREM', liveness, server)
    return true
  end
  return false
end
