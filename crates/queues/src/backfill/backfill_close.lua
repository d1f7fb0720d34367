-- backfill_close.lua: a match's open backfill ends: its server cancelled it, or the match
-- ended (a result, its server lost) or could not take the players. Written to the change
-- log, so the matchmaker holding the queue stops filling it.
-- KEYS[1]  the queue's open backfills (sorted set)
-- KEYS[2]  the match's backfill request (hash)
-- KEYS[3]  the queue's change log (list)
-- KEYS[4]  the queue's counters (hash)
-- ARGV[1]  match id
-- ARGV[2]  the counter to count it in ('' for none)
-- Returns 1 if a request was open, else 0.
local open = redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
if open == 0 then
  return 0
end
local logged = redis.call('RPUSH', KEYS[3], 'bx ' .. ARGV[1])
if logged > 100000 then
  redis.call('LTRIM', KEYS[3], -100000, -1)
end
if ARGV[2] ~= '' then
  redis.call('HINCRBY', KEYS[4], ARGV[2], 1)
end
return 1
