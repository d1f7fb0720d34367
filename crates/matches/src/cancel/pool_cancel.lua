-- pool_cancel.lua: a match cannot go on. A match still pending (no server in time) or
-- assigned but not started (not acknowledged in time, or its server died) is cancelled
-- and its players are to be requeued; a started game whose server died is ended as lost.
-- A match on a server gives its slot back (free_slot, from slot_free.lua).
-- KEYS[1]  the match's hash in the pool
-- KEYS[2]  the region's pending matches (sorted set)
-- KEYS[3]  the region's cancelled matches still to requeue and tell (sorted set)
-- KEYS[4]  the region's counters (hash)
-- KEYS[5]  the server's assignments (sorted set) ('-' server: an unused key)
-- KEYS[6]  the server's games (set)
-- KEYS[7]  the server's hash
-- KEYS[8]  the region's ready servers by load (sorted set)
-- KEYS[9]  the region's matches still to be announced (sorted set)
-- KEYS[10] the region's matches not yet acknowledged (sorted set)
-- KEYS[11] the region's liveness (sorted set)
-- ARGV[1]  match id
-- ARGV[2]  the reason ('no_server', 'not_started', 'server_lost' or 'game_timeout')
-- ARGV[3]  now, ms since the epoch
-- ARGV[4]  only if the match is in this state ('pending' for the no-capacity deadline,
--          'assigned' for the acknowledgement deadline), or '' (its server died)
-- ARGV[5]  the server id ('-' if none)
-- Either way the match goes into the region's `cancelling` set, from which the players
-- are requeued (or freed) and told, until that is done.
-- Returns {'requeue'} (cancelled: requeue the players), {'lost'} (a running game ended)
-- or {'none'} (already ended, cancelled, or no longer in the state asked about); a
-- second element 'server_left' when a draining server ran its last game and left.
local state = redis.call('HGET', KEYS[1], 'state') or 'pending'
if ARGV[4] ~= '' and state ~= ARGV[4] then
  return {'none'}
end
if ARGV[4] == 'pending' and not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return {'none'}
end
if state == 'ended' or state == 'cancelled' then
  return {'none'}
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[9], ARGV[1])
redis.call('ZREM', KEYS[10], ARGV[1])
local left = nil
if state == 'assigned' or state == 'started' then
  -- Its slot is free again (the server may be gone already).
  if free_slot(KEYS[1], KEYS[7], KEYS[8], KEYS[11], KEYS[6], ARGV[5], ARGV[1]) then
    left = 'server_left'
  end
else
  redis.call('SREM', KEYS[6], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], 86400000)
if state == 'started' then
  redis.call('HSET', KEYS[1], 'state', 'ended', 'outcome', ARGV[2], 'ended_ms', ARGV[3])
  redis.call('ZADD', KEYS[3], tonumber(ARGV[3]), ARGV[1])
  redis.call('HINCRBY', KEYS[4], 'lost_games', 1)
  return {'lost', left}
end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'reason', ARGV[2], 'cancelled_ms', ARGV[3])
redis.call('ZADD', KEYS[3], tonumber(ARGV[3]), ARGV[1])
redis.call('HINCRBY', KEYS[4], 'cancellations', 1)
return {'requeue', left}
