-- pool_backfill_mark.lua: a game server is asking for a backfill for its match: marks the
-- match's hash in the pool, so that the match's end closes the request (a match never
-- asked for one ends without that step). Only a match that is still there is marked: a
-- hash that expired is not brought back.
-- KEYS[1]  the match's hash in the pool
-- Returns 1 if marked, 0 if the match is gone.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'backfill_asked', '1')
return 1
