-- guard_strike.lua: one abuse strike against a player (a refused request that was the
-- client's own fault), counted across connections and gateways.
-- KEYS[1]  the player's guard hash (see guard_admit.lua)
-- ARGV[1]  now, ms since the epoch
-- ARGV[2]  strikes allowed per window; the one that reaches it starts a cool-down
-- ARGV[3]  the window, ms (a minute)
-- ARGV[4]  the cool-down, ms
-- ARGV[5]  how long the guard lives after a write, ms (its longest window)
-- Returns {strikes in the window, 1 if this strike started a cool-down else 0}.
local now = tonumber(ARGV[1])
local g = redis.call('HMGET', KEYS[1], 'strikes_ms', 'strikes')
local started = tonumber(g[1]) or 0
local strikes = tonumber(g[2]) or 0
if now - started >= tonumber(ARGV[3]) or started > now then
  started = now
  strikes = 0
end
strikes = strikes + 1
local cooling = 0
if strikes >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'refused_until', now + tonumber(ARGV[4]), 'strikes_ms', now, 'strikes', 0)
  cooling = 1
else
  redis.call('HSET', KEYS[1], 'strikes_ms', started, 'strikes', strikes)
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {strikes, cooling}
