-- player_requeued.lua: a player's match was cancelled and their ticket put back: they
-- are no longer in the match, and their marker names the ticket again.
-- KEYS[1]  the player's ticket marker
-- KEYS[2]  the player's live match (string)
-- ARGV[1]  the cancelled match id
-- ARGV[2]  the marker ("<queue> <region> <ticket> <enqueued_ms>")
-- Returns 1, or 0 if the player is in another match by now (then nothing changes).
-- Runs before the ticket goes back in the queue, so the marker never names a ticket that
-- a newer match has claimed.
local live = redis.call('GET', KEYS[2])
if live and live ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
