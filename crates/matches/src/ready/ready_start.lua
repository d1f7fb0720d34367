-- ready_start.lua: open a formed match's ready check (once: a redone hand-over finds it
-- and changes nothing).
-- KEYS[1]  the match's ready check (hash)
-- ARGV[1]  when it expires, ms since the epoch
-- ARGV[2]  the match record (JSON)
-- ARGV[3]  how long the hash is kept, ms (well past the expiry, for a late answer to be
--          told it is over)
-- ARGV[4..] the players
-- Returns 1 if opened now, 0 if it existed.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'open', 'expires_ms', ARGV[1], 'record', ARGV[2])
for i = 4, #ARGV do
  redis.call('HSET', KEYS[1], 'a:' .. ARGV[i], '')
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
