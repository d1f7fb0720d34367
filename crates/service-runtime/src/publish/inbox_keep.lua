-- inbox_keep.lua: a push to a player reached no socket. If the player is between sockets
-- (their last session closed less than the reconnect grace ago), it is kept for their
-- next socket, which gets it right after `welcome`; if a session opened meanwhile, it is
-- published again (that socket subscribed before its session opened, so it hears it).
-- KEYS[1]  the player's session (hash)
-- KEYS[2]  the player's between-sockets marker (string, expires with the grace)
-- KEYS[3]  the pushes kept for the next socket (list of encoded event envelopes)
-- KEYS[4]  the player's inbox channel (sharded; same slot)
-- ARGV[1]  the encoded event envelope
-- ARGV[2]  pushes kept at most (the oldest are dropped past it)
-- Returns 'delivered' (published again, heard), 'kept', 'unreachable' (a session whose
-- gateway is not subscribed right now: it is resubscribing), or 'offline'.
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('SPUBLISH', KEYS[4], ARGV[1]) > 0 then
    return 'delivered'
  end
  return 'unreachable'
end
local grace = redis.call('PTTL', KEYS[2])
if grace > 0 then
  redis.call('RPUSH', KEYS[3], ARGV[1])
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[2]), -1)
  redis.call('PEXPIRE', KEYS[3], grace)
  return 'kept'
end
return 'offline'
