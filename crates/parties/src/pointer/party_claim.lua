-- party_claim.lua: a player takes their one party (party.create, party.accept): the first
-- step, on the player's side, so no player is ever in two parties however many invites
-- they accept at once. The party's own step follows; if it refuses, the claim is released.
-- KEYS[1]  the player's party (string: party id)
-- KEYS[2]  the player's ticket marker (a queued player joins no party)
-- KEYS[3]  the invites pending for the player (sorted set)
-- ARGV[1]  the party
-- ARGV[2]  how long the claim lives unless the session keeps it alive, ms
-- Returns {'claimed'} (also when it already was this party) | {'in_party', other party}
--       | {'in_queue'}.
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then
  return {'in_party', current}
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'in_queue'}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return {'claimed'}
