-- room_history.lua: reads a room's kept messages, in one step with where the history
-- starts, so a reader can tell whether it reaches back far enough.
-- KEYS[1]  the room's kept messages (sorted set: encoded envelope by offset)
-- KEYS[2]  the room's latest offset (string)
-- ARGV[1]  'after': the messages after offset ARGV[2], oldest first, at most ARGV[3];
--          'before': the newest messages before offset ARGV[2] ('+inf': the newest),
--          at most ARGV[3], newest first
-- Returns {latest offset or '', oldest kept offset or '', message...}.
local latest = redis.call('GET', KEYS[2]) or ''
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local out = {latest, oldest[2] or ''}
local found
if ARGV[1] == 'after' then
  found = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '+inf', 'LIMIT', 0, ARGV[3])
else
  local upper = ARGV[2]
  if upper ~= '+inf' then
    upper = '(' .. upper
  end
  found = redis.call('ZREVRANGEBYSCORE', KEYS[1], upper, '-inf', 'LIMIT', 0, ARGV[3])
end
for _, message in ipairs(found) do
  out[#out + 1] = message
end
return out
