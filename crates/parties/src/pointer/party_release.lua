-- party_release.lua: a player is out of a party (left, kicked, lapsed, or their claim was
-- refused): their pointer goes, unless it already names another party.
-- KEYS[1]  the player's party (string: party id)
-- KEYS[2]  the player's ticket marker (unused here)
-- KEYS[3]  the invites pending for the player (sorted set)
-- ARGV[1]  the party
-- Returns 1 if the pointer named that party and was removed, else 0.
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
