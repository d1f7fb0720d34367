-- pool_result.lua: a game ended. Frees its slot on the server (free_slot, from
-- slot_free.lua), keeps the result in the region's outbox until it is durably stored,
-- and answers a repeated post without counting it twice. Only the server the match was
-- given to may post it (the same incarnation: its token's hash is kept on the match). A
-- game the pool ended while it ran (`server_lost`, `game_timeout`) was still played: its
-- first result is recorded too (its slot was freed when it was ended).
-- KEYS[1]  the match's hash in the pool
-- KEYS[2]  the server's hash
-- KEYS[3]  the region's ready servers by load (sorted set)
-- KEYS[4]  the server's assignments (sorted set)
-- KEYS[5]  the region's results outbox (list)
-- KEYS[6]  the region's counters (hash)
-- KEYS[7]  the region's liveness (sorted set)
-- KEYS[8]  the server's games (set)
-- KEYS[9]  the region's matches not yet acknowledged (sorted set)
-- ARGV[1]  match id
-- ARGV[2]  server id
-- ARGV[3]  the result (JSON)
-- ARGV[4]  now, ms since the epoch
-- ARGV[5]  the result's digest (the same result posted again has the same one)
-- ARGV[6]  the SHA-256 (hex) of the token the caller sent
-- Returns {'recorded'}, {'recorded_server_left'} (a draining server ran its last game),
-- {'recorded_after_loss'}, {'duplicate'} (this result was recorded before),
-- {'different'} (another result was recorded before), {'not_yours'} (the match is on
-- another server), {'unauthorized'} (the token is not that server incarnation's), or
-- {'unknown'} / {the state the match is in instead}.
local match = redis.call('HMGET', KEYS[1], 'server', 'server_token_hash', 'state')
local state = match[3]
if state and match[1] ~= ARGV[2] then
  return {'not_yours'}
end
if state and match[2] ~= ARGV[6] then
  return {'unauthorized'}
end
if state == 'ended' then
  local recorded = redis.call('HGET', KEYS[1], 'result_digest')
  if recorded then
    if recorded == ARGV[5] then
      return {'duplicate'}
    end
    return {'different'}
  end
  if not redis.call('HGET', KEYS[1], 'outcome') then
    -- Ended with a result before results were told apart: counted once, as ever.
    return {'duplicate'}
  end
  redis.call('HSET', KEYS[1], 'result_digest', ARGV[5], 'result_ms', ARGV[4])
  redis.call('RPUSH', KEYS[5], ARGV[3])
  redis.call('HINCRBY', KEYS[6], 'results', 1)
  redis.call('HINCRBY', KEYS[6], 'results_after_loss', 1)
  return {'recorded_after_loss'}
end
if state ~= 'assigned' and state ~= 'started' then
  return {state or 'unknown'}
end
redis.call('HSET', KEYS[1], 'state', 'ended', 'ended_ms', ARGV[4], 'result_digest', ARGV[5])
-- Kept a day, so a result posted again is still recognised.
redis.call('PEXPIRE', KEYS[1], 86400000)
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[9], ARGV[1])
redis.call('RPUSH', KEYS[5], ARGV[3])
redis.call('HINCRBY', KEYS[6], 'results', 1)
if free_slot(KEYS[1], KEYS[2], KEYS[3], KEYS[7], KEYS[8], ARGV[2], ARGV[1]) then
  return {'recorded_server_left'}
end
return {'recorded'}
