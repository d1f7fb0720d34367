-- pool_allocate.lua: give a pending match to the least-loaded live, ready server with a
-- free slot, among the candidates the caller read. One script on the region's slot, so no
-- server ever runs more games than its capacity, however many allocators race.
-- KEYS[1]  the region's allocator lease
-- KEYS[2]  the region's ready servers by load (sorted set)
-- KEYS[3]  the region's pending matches (sorted set)
-- KEYS[4]  the match's hash in the pool (record, state, server)
-- KEYS[5]  the region's counters (hash)
-- KEYS[6]  the region's liveness (sorted set)
-- KEYS[7]  the region's matches still to be announced to players (sorted set)
-- KEYS[8]  the region's matches not yet acknowledged by their server (sorted set)
-- KEYS[9..] per candidate: its hash, its assignments (sorted set), its games (set)
-- ARGV[1]  the caller's lease owner token
-- ARGV[2]  match id
-- ARGV[3]  now, ms since the epoch
-- ARGV[4..] candidate server ids, in the order of KEYS[9..]
-- Returns {'assigned', server, address, record} | {'no_capacity'} | {'not_pending'} |
-- {'not_holder'}: the match's record comes back so the caller can announce it at once.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {'not_holder'}
end
if not redis.call('ZSCORE', KEYS[3], ARGV[2]) then
  return {'not_pending'}
end
local state = redis.call('HGET', KEYS[4], 'state')
if state and state ~= 'pending' then
  -- Already allocated, cancelled or ended: a stray pending entry, never allocated twice.
  redis.call('ZREM', KEYS[3], ARGV[2])
  return {'not_pending'}
end
local now = tonumber(ARGV[3])
-- Liveness is kept by Redis's clock.
local time = redis.call('TIME')
local redis_now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local best, best_load, best_hash, best_assignments, best_games = nil, nil, nil, nil, nil
for i = 4, #ARGV do
  local hash = KEYS[9 + (i - 4) * 3]
  local server = redis.call('HMGET', hash, 'status', 'active', 'capacity')
  local alive = tonumber(redis.call('ZSCORE', KEYS[6], ARGV[i]) or '0') > redis_now
  if server[1] == 'ready' and alive then
    local active, capacity = tonumber(server[2]), tonumber(server[3])
    if active < capacity then
      local load = active / capacity
      if best_load == nil or load < best_load then
        best, best_load, best_hash = ARGV[i], load, hash
        best_assignments, best_games = KEYS[10 + (i - 4) * 3], KEYS[11 + (i - 4) * 3]
      end
    end
  end
end
if best == nil then
  return {'no_capacity'}
end
local active = redis.call('HINCRBY', best_hash, 'active', 1)
local capacity = tonumber(redis.call('HGET', best_hash, 'capacity'))
redis.call('ZADD', KEYS[2], active / capacity, best)
local server = redis.call('HMGET', best_hash, 'address', 'incarnation', 'token_hash')
local address = server[1]
-- The slot, and the right to ack and post the result, belong to this incarnation.
redis.call('HSET', KEYS[4], 'state', 'assigned', 'server', best, 'address', address,
  'assigned_ms', ARGV[3], 'incarnation', server[2] or '0', 'server_token_hash', server[3] or '')
redis.call('ZADD', best_assignments, now, ARGV[2])
redis.call('SADD', best_games, ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[7], now, ARGV[2])
redis.call('ZADD', KEYS[8], now, ARGV[2])
redis.call('HINCRBY', KEYS[5], 'allocations', 1)
return {'assigned', best, address, redis.call('HGET', KEYS[4], 'record') or ''}
