-- party_refresh.lua: a member's gateway says where the member stands: connected (every
-- heartbeat, and on a reconnect: the membership lasts another session TTL plus the
-- reconnect grace) or gone (the socket closed: it lasts the grace). Members whose
-- membership lapsed (away past the grace, or their gateway died) are dropped here, by
-- whichever member's gateway refreshes next, and named in the reply to be told.
-- KEYS[1]  the party's hash
-- ARGV[1]  the member
-- ARGV[2]  when their membership lapses now, ms since the epoch
-- ARGV[3]  now, ms since the epoch
-- ARGV[4]  how long the hash lives without a change or refresh, ms
-- Returns party_reply('refreshed', dropped members...) | {'not_member'} (the player is
-- not in this party any more: their pointer to it is stale).
local p = party_load(KEYS[1])
if not p or not p.lapse[ARGV[1]] then
  return {'not_member'}
end
redis.call('HSET', KEYS[1], 'm:' .. ARGV[1], ARGV[2])
p.lapse[ARGV[1]] = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local dropped = party_prune(KEYS[1], p, now)
party_forget_expired_invites(KEYS[1], p, now)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return party_reply('refreshed', p, dropped)
