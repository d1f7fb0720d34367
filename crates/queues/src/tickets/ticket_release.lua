-- ticket_release.lua: drop a player's ticket marker if it still names the given ticket
-- (compare-and-delete, so a late release never removes a newer ticket's marker).
-- KEYS[1]  the player's ticket marker
-- ARGV[1]  the marker value expected
-- Returns 1 if removed, 0 if the marker was absent or different.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
