-- ticket_release.lua: drop a player's ticket marker if it still names the given ticket
-- (compare-and-delete on the ticket id, so a late release never removes a newer ticket's
-- marker).
-- KEYS[1]  the player's ticket marker ("<queue> <region> <ticket> <enqueued_ms>")
-- ARGV[1]  the ticket id expected (or the whole marker, for one that cannot be parsed)
-- Returns 1 if removed, 0 if the marker was absent or names another ticket.
local marker = redis.call('GET', KEYS[1])
if marker and (marker == ARGV[1] or string.match(marker, '^%S+ %S+ (%S+)') == ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
