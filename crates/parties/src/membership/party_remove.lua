-- party_remove.lua: a member leaves (party.leave: actor and target are the same) or is
-- kicked by the leader (party.kick). The longest-standing member left leads when the
-- leader goes; the party ends with its last member.
-- KEYS[1]  the party's hash
-- ARGV[1]  who asks
-- ARGV[2]  who goes
-- ARGV[3]  how long the hash lives without a change or refresh, ms
-- Returns party_reply('removed') (no members when the party ended) | {'not_member'} (the
-- one asking is not in the party) | {'not_leader'} | {'target_not_member'}.
local p = party_load(KEYS[1])
if not p or not p.lapse[ARGV[1]] then
  return {'not_member'}
end
local refusal = ARGV[1] ~= ARGV[2] and party_leader_refusal(p, ARGV[1], ARGV[2])
if refusal then
  return {refusal}
end
if party_drop(KEYS[1], p, ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return party_reply('removed', p)
