-- pool_result_begin.lua: the first step of a posted result, one round trip: the match as the
-- pool has it, and, when the caller is the server incarnation the match was given to and
-- the game is on that server, the match in the region's rating-pending index, before any
-- player's rating is marked pending (so the reconciler knows of every mark; an entry
-- whose players were never marked is dropped by it, or at once by the caller).
-- KEYS[1]  the match's hash in the pool
-- KEYS[2]  the region's matches whose players' ratings are pending (sorted set)
-- ARGV[1]  the calling server's id
-- ARGV[2]  the SHA-256 (hex) of the token the caller sent
-- ARGV[3]  match id
-- ARGV[4]  now, ms since the epoch
-- Returns {indexed, {server, state, started_ms, record, server_token_hash, backfill_asked}}:
-- 1 if the match was indexed now, else 0, and the hash's fields (nil where absent).
local m = redis.call('HMGET', KEYS[1], 'server', 'state', 'started_ms', 'record',
  'server_token_hash', 'backfill_asked')
local on_server = m[2] == 'assigned' or m[2] == 'started'
if m[1] == ARGV[1] and m[5] == ARGV[2] and on_server and m[4] then
  redis.call('ZADD', KEYS[2], tonumber(ARGV[4]), ARGV[3])
  return {1, m}
end
return {0, m}
