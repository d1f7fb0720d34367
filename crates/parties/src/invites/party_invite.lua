-- party_invite.lua: a member invites a player (party.invite). An invite holds no seat:
-- seats are counted when it is accepted.
-- KEYS[1]  the party's hash
-- ARGV[1]  who invites
-- ARGV[2]  who is invited
-- ARGV[3]  when the invite expires, ms since the epoch
-- ARGV[4]  now, ms since the epoch
-- ARGV[5]  how long the hash lives without a change or refresh, ms
-- Returns party_reply('invited') | {'not_member'} (the inviter is not in the party)
--       | {'already_member'} | {'full'}.
local p = party_load(KEYS[1])
if not p or not p.lapse[ARGV[1]] then
  return {'not_member'}
end
if p.lapse[ARGV[2]] then
  return {'already_member'}
end
if #p.members >= p.max_size then
  return {'full'}
end
party_forget_expired_invites(KEYS[1], p, tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], 'i:' .. ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return party_reply('invited', p)
