-- player_free.lua: a player's match ended (or was cancelled): they may queue again.
-- KEYS[1]  the player's live match (string)
-- KEYS[2]  the player's pending rating (string: match id), dropped if it names this match
--          (a result that turned out not to count)
-- ARGV[1]  the match id (only that match is cleared)
-- Returns 1 if the live match was cleared.
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
