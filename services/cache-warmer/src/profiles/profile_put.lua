-- profile_put.lua: write a player's profile into the cache, unless the cache already holds
-- the same or a newer version (a slow warm-up never overwrites a fresher rating), and
-- settle the pending rating of the match this write comes from.
-- KEYS[1]  the player's profile (hash: version, rating, name, games)
-- KEYS[2]  the player's pending rating (string: match id)
-- ARGV[1]  version (grows with every change in PostgreSQL)
-- ARGV[2]  rating
-- ARGV[3]  display name
-- ARGV[4]  games played
-- ARGV[5]  time to live, ms
-- ARGV[6]  the match whose result this is ('' for a plain warm-up)
-- Returns 1 if written, 0 if the cache held the same or a newer version.
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0') or 0
local written = 0
if tonumber(ARGV[1]) > current then
  redis.call('HSET', KEYS[1], 'version', ARGV[1], 'rating', ARGV[2], 'name', ARGV[3], 'games', ARGV[4])
  written = 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if ARGV[6] ~= '' and redis.call('GET', KEYS[2]) == ARGV[6] then
  redis.call('DEL', KEYS[2])
end
return written
