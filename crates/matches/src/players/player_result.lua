-- player_result.lua: a result for the player's match was posted. They leave the match
-- (they may queue again) and their rating becomes pending until the cache-warmer has the
-- result in PostgreSQL and their profile refreshed; a join meanwhile waits for it.
-- Runs before the result enters the outbox, so the cache-warmer's refresh always comes
-- after this mark and clears it.
-- KEYS[1]  the player's live match (string)
-- KEYS[2]  the player's pending rating (string: match id)
-- ARGV[1]  the match id
-- ARGV[2]  how long the pending mark may stand, ms
-- Returns 1 if the player was in this match (0: already left it, nothing changes).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
