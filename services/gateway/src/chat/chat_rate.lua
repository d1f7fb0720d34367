-- chat_rate.lua: the per-player chat limit (room.send and whisper), a sliding window log
-- shared by every gateway, so it holds across gateways and reconnects.
-- KEYS[1]  the player's chat log (sorted set: entry -> send time in ms)
-- ARGV[1]  messages allowed per window
-- ARGV[2]  window length in ms
-- ARGV[3]  a unique entry name for this message
-- Returns 0 if the message may be sent (and logs it), else the ms until it may.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local wait = tonumber(oldest[2]) + window - now
  if wait < 1 then
    wait = 1
  end
  return wait
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 0
