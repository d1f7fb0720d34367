-- party_promote.lua: the leader hands the lead to another member (party.promote).
-- KEYS[1]  the party's hash
-- ARGV[1]  who asks
-- ARGV[2]  the new leader
-- Returns party_reply('promoted') | {'not_member'} | {'not_leader'} | {'target_not_member'}.
local p = party_load(KEYS[1])
local refusal = party_leader_refusal(p, ARGV[1], ARGV[2])
if refusal then
  return {refusal}
end
redis.call('HSET', KEYS[1], 'leader', ARGV[2])
p.leader = ARGV[2]
return party_reply('promoted', p)
