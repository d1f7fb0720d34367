-- guard_admit.lua: may this player open a connection now? Counted across every gateway.
-- KEYS[1]  the player's guard hash (fields: window_ms start of the connect window,
--          connects in it, strikes_ms start of the strike window, strikes in it,
--          refused_until ms since the epoch)
-- ARGV[1]  now, ms since the epoch
-- ARGV[2]  connects allowed per window
-- ARGV[3]  the window, ms (a minute)
-- ARGV[4]  how long the guard lives after a write, ms (its longest window)
-- Returns {verdict, ms}: {0, strikes in the current window} admitted (the connect is
-- counted); {1, ms left} refused: the player is in an abuse cool-down; {2, ms left}
-- refused: too many connects in this window (a refused connect is not counted).
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[3])
local g = redis.call('HMGET', KEYS[1], 'refused_until', 'window_ms', 'connects', 'strikes_ms', 'strikes')
local refused_until = tonumber(g[1]) or 0
if refused_until > now then
  return {1, refused_until - now}
end
local started = tonumber(g[2]) or 0
local connects = tonumber(g[3]) or 0
if now - started >= window or started > now then
  started = now
  connects = 0
end
if connects >= tonumber(ARGV[2]) then
  return {2, started + window - now}
end
redis.call('HSET', KEYS[1], 'window_ms', started, 'connects', connects + 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local strikes = tonumber(g[5]) or 0
local strikes_started = tonumber(g[4]) or 0
if now - strikes_started >= window then
  strikes = 0
end
return {0, strikes}
