-- player_matched.lua: a player's ticket became a match. Releases the ticket marker (if it
-- still names that ticket) and records the live match, which keeps the player out of
-- the queues until the match ends. Idempotent, so a hand-over can be redone.
-- KEYS[1]  the player's ticket marker ("<queue> <region> <ticket> <enqueued_ms>")
-- KEYS[2]  the player's live match (string)
-- ARGV[1]  the ticket id that was claimed
-- ARGV[2]  the match id
-- ARGV[3]  how long the live-match marker lives unless the result clears it, in ms
-- Returns 1, or 0 if the player is in another match (a hand-over redone late, after this
-- match was cancelled and the player matched again): nothing changes then.
local live = redis.call('GET', KEYS[2])
if live and live ~= ARGV[2] then
  return 0
end
local marker = redis.call('GET', KEYS[1])
if marker and string.match(marker, '^%S+ %S+ (%S+)') == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
