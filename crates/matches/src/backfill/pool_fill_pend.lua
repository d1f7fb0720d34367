-- pool_fill_pend.lua: hand a backfill's fill (players claimed from a queue for a running
-- match) to the match's region, once: the region's allocator adds the players to the
-- match and announces them. A hand-over that is redone changes nothing.
-- KEYS[1]  the region's fills (sorted set)
-- KEYS[2]  the region's fill records (hash)
-- ARGV[1]  fill id
-- ARGV[2]  the fill's record (JSON)
-- ARGV[3]  claimed at, ms since the epoch
-- Returns 1 if handed over now, 0 if it already was.
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
