-- party_invited.lua: note an invite on the invited player's side, where the invites
-- pending for one player are bounded (so nobody can be flooded with them).
-- KEYS[1]  the player's party (unused here; the player's side shares one key set)
-- KEYS[2]  the player's ticket marker (unused here)
-- KEYS[3]  the invites pending for the player (sorted set: party -> expires, ms)
-- ARGV[1]  the party
-- ARGV[2]  when the invite expires, ms since the epoch
-- ARGV[3]  now, ms since the epoch
-- ARGV[4]  how many invites may be pending for one player
-- Returns 1 (noted; a repeat from the same party only moves its expiry) | 0 (too many).
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[3])
if not redis.call('ZSCORE', KEYS[3], ARGV[1])
    and redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[3], last[2])
return 1
