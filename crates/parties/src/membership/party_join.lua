-- party_join.lua: an invited player joins (party.accept). Seats are counted here, on the
-- party's one hash, so however many accept at once the party never grows past max_size.
-- KEYS[1]  the party's hash
-- ARGV[1]  the player
-- ARGV[2]  now, ms since the epoch
-- ARGV[3]  when the membership lapses unless refreshed, ms since the epoch
-- ARGV[4]  how long the hash lives without a change or refresh, ms
-- Returns party_reply('joined') (also when already a member: a repeat changes nothing)
--       | {'not_invited'} (no such party, no invite, or it expired) | {'full'}.
local p = party_load(KEYS[1])
if not p then
  return {'not_invited'}
end
if p.lapse[ARGV[1]] then
  return party_reply('joined', p)
end
local expires = p.invites[ARGV[1]]
if not expires or expires < tonumber(ARGV[2]) then
  return {'not_invited'}
end
if #p.members >= p.max_size then
  return {'full'}
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'm:' .. ARGV[1], ARGV[3], 'o:' .. ARGV[1], seq)
redis.call('HDEL', KEYS[1], 'i:' .. ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
p.members[#p.members + 1] = ARGV[1]
return party_reply('joined', p)
