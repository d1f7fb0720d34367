-- pool_pend.lua: hand a formed match to its region's server pool, once. A hand-over that
-- is redone (its instance died after this step) finds the match there and changes nothing,
-- so a match is never pending twice, whatever became of it since.
-- KEYS[1]  the match's hash in the pool
-- KEYS[2]  the region's pending matches (sorted set)
-- ARGV[1]  match id
-- ARGV[2]  the match record (JSON)
-- ARGV[3]  formed at, ms since the epoch
-- Returns 1 if handed over now, 0 if it already was.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'record', ARGV[2], 'state', 'pending')
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), ARGV[1])
return 1
