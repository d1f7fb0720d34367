-- chat_rate.lua: the per-player chat limit (room.send and whisper), shared by every
-- gateway so it holds across gateways and reconnects. A budget of ARGV[1] messages that
-- refills evenly over the window (GCRA: one number per player, the time at which the
-- budget is full again), so checking a message costs a GET and a SET whatever the limit.
-- KEYS[1]  the player's chat budget (string: ms since the epoch when it is full again)
-- ARGV[1]  messages allowed per window (also the largest burst)
-- ARGV[2]  window length in ms
-- Returns 0 if the message may be sent (and spends it), else the ms until it may.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local full_at = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if full_at < now then
  full_at = now
end
local spent = full_at + window / limit
local allowed_from = spent - window
if allowed_from > now then
  return math.max(1, math.ceil(allowed_from - now))
end
redis.call('SET', KEYS[1], string.format('%.3f', spent), 'PX', math.max(1, math.ceil(spent - now)))
return 0
