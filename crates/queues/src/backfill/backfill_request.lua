-- backfill_request.lua: a game server asks for players for its running match. The request
-- replaces any open one of the same match, joins the queue's open backfills, and is
-- written to the queue's change log so the matchmaker holding the queue sees it at its
-- next tick.
-- KEYS[1]  the queue's open backfills (sorted set)
-- KEYS[2]  the match's backfill request (hash)
-- KEYS[3]  the queue's change log (list)
-- KEYS[4]  the queue's counters (hash)
-- ARGV[1]  match id
-- ARGV[2]  the request's id
-- ARGV[3]  the server the match runs on
-- ARGV[4]  now, ms since the epoch
-- ARGV[5]  the teams' mean ratings, comma-separated, team 0 first
-- ARGV[6]  how long the request is kept at most, in ms
-- ARGV[7..] pairs: team, players wanted
-- Returns 1.
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'id', ARGV[2], 'server', ARGV[3], 'requested_ms', ARGV[4],
  'means', ARGV[5])
for i = 7, #ARGV, 2 do
  redis.call('HSET', KEYS[2], 'want:' .. ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
local logged = redis.call('RPUSH', KEYS[3], 'b ' .. ARGV[1])
if logged > 100000 then
  redis.call('LTRIM', KEYS[3], -100000, -1)
end
redis.call('HINCRBY', KEYS[4], 'backfill_requests', 1)
return 1
