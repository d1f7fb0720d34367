-- pool_backfill.lua: add a fill's players to their running match, once. The caller merged
-- them into the record it read; the record is replaced only if nothing changed it since
-- (else the caller reads it again), and only while the match is on the server that asked.
-- The match goes back into its server's assignments, so the server's next heartbeat or
-- long poll shows the new teams (acknowledging it again takes the update).
-- KEYS[1]  the match's hash in the pool
-- KEYS[2]  its server's assignments (sorted set)
-- ARGV[1]  match id
-- ARGV[2]  fill id
-- ARGV[3]  the record the fill was merged into (JSON)
-- ARGV[4]  the merged record (JSON)
-- ARGV[5]  the fill's players, comma-separated
-- ARGV[6]  now, ms since the epoch
-- ARGV[7]  the server the match was given to
-- Returns 'added' (also when it was added before), 'changed' (the record changed since
-- it was read), 'unknown', or the state the match is in instead ('ended', ...).
if redis.call('HEXISTS', KEYS[1], 'fill:' .. ARGV[2]) == 1 then
  return 'added'
end
local match = redis.call('HMGET', KEYS[1], 'state', 'server', 'record')
if not match[1] then
  return 'unknown'
end
if (match[1] ~= 'assigned' and match[1] ~= 'started') or match[2] ~= ARGV[7] then
  return match[1]
end
if match[3] ~= ARGV[3] then
  return 'changed'
end
redis.call('HSET', KEYS[1], 'record', ARGV[4], 'fill:' .. ARGV[2], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
return 'added'
