-- session_mute.lua: mute a player until a time, or lift the mute (the server API). The
-- mute is kept in its own key (expiring then), which a new session reads as it opens; a
-- live session gets it in its hash too, where the heartbeat's one read of the session
-- finds it (a lost mute event is made good there) without a command of its own.
-- KEYS[1]  the player's session hash
-- KEYS[8]  until when the player is muted (string: ms since the epoch), if they are
-- ARGV[1]  until when, ms since the epoch; '0' lifts the mute
-- ARGV[2]  now, ms since the epoch
-- Returns 1.
local until_ms = tonumber(ARGV[1]) or 0
local now = tonumber(ARGV[2]) or 0
if until_ms > now then
  redis.call('SET', KEYS[8], ARGV[1], 'PX', until_ms - now)
else
  redis.call('DEL', KEYS[8])
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'muted_until', tostring(math.max(until_ms, 0)))
end
return 1
