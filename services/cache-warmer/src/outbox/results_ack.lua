-- results_ack.lua: take committed entries off the head of a region's results outbox.
-- Fenced twice: the caller must still hold the outbox's lease, and the head must still be
-- exactly the entries it committed (nobody else took them meanwhile). Entries that could
-- not be read go to the dead-letter list instead of being dropped.
-- KEYS[1]  the outbox (list)
-- KEYS[2]  the outbox's lease
-- KEYS[3]  the dead-letter list
-- ARGV[1]  the lease owner
-- ARGV[2]  one letter per entry: 's' stored, 'd' unreadable
-- ARGV[3..] the entries, as read
-- Returns the outbox's length after, -1 if the lease is gone, -2 if the head changed.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return -1
end
local n = string.len(ARGV[2])
local head = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #head < n then
  return -2
end
for i = 1, n do
  if head[i] ~= ARGV[i + 2] then
    return -2
  end
end
for i = 1, n do
  if string.sub(ARGV[2], i, i) == 'd' then
    redis.call('RPUSH', KEYS[3], head[i])
  end
end
redis.call('LTRIM', KEYS[1], n, -1)
return redis.call('LLEN', KEYS[1])
