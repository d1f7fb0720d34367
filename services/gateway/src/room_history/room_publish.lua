-- room_publish.lua: publishes a message to a room that keeps history, and keeps it, in
-- one step: the message gets the room's next offset, is added to the history (trimmed to
-- its length, kept for its time to live) and published with that offset, so history and
-- live delivery agree on every message and its place.
-- KEYS[1]  the room's kept messages (sorted set: encoded envelope by offset)
-- KEYS[2]  the room's latest offset (string)
-- KEYS[3]  the room's channel (sharded; same slot)
-- ARGV[1]  the encoded event envelope (MessagePack map of fewer than 15 entries)
-- ARGV[2]  messages kept at most
-- ARGV[3]  how long the history lives after the latest message, ms
-- Returns {offset, gateways that got it}.
local envelope = ARGV[1]
local header = string.byte(envelope, 1)
if header == nil or header < 0x80 or header >= 0x8f then
  return redis.error_reply('room_publish: the envelope is not a small map')
end
-- A room's offsets only grow: a history that lapsed starts again from the clock in
-- microseconds, beyond any offset it can have handed out (a room sends far fewer than a
-- message per microsecond).
local offset
if redis.call('EXISTS', KEYS[2]) == 1 then
  offset = redis.call('INCR', KEYS[2])
else
  local now = redis.call('TIME')
  offset = tonumber(now[1]) * 1000000 + tonumber(now[2])
  redis.call('SET', KEYS[2], offset)
end
local kept = string.char(header + 1) .. string.sub(envelope, 2)
  .. cmsgpack.pack('offset') .. cmsgpack.pack(offset)
redis.call('ZADD', KEYS[1], offset, kept)
local len = tonumber(ARGV[2])
if redis.call('ZCARD', KEYS[1]) > len then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(len + 1))
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local gateways = redis.call('SPUBLISH', KEYS[3], kept)
return {offset, gateways}
