-- data_warm.lua: replace one kind of game data in the cache with a snapshot of
-- PostgreSQL, documents and version together, so a reader that sees version N sees N's
-- documents. Fenced by the kind's warm lease; an older snapshot never replaces a newer one.
-- KEYS[1]  the documents (hash: id -> JSON)
-- KEYS[2]  the version (string)
-- KEYS[3]  the kind's warm lease
-- ARGV[1]  the lease owner
-- ARGV[2]  the snapshot's version
-- ARGV[3]  '1' to write even at the same version (an operator's invalidation)
-- ARGV[4..] id, document, id, document, ...
-- Returns 1 if written, 0 if the cache was as new or newer, -1 if the lease is gone.
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return -1
end
local current = tonumber(redis.call('GET', KEYS[2]) or '-1') or -1
local version = tonumber(ARGV[2])
if version < current or (version == current and ARGV[3] ~= '1') then
  return 0
end
redis.call('DEL', KEYS[1])
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('SET', KEYS[2], ARGV[2])
return 1
