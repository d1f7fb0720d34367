-- ticket_reserve.lua: reserve a player's one ticket (first step of queue.join).
-- KEYS[1]  the player's ticket marker (string "<queue> <region> <ticket> <enqueued_ms>")
-- KEYS[2]  the player's live match (string: match id)
-- KEYS[3]  the player's cached profile (hash with a `rating` field)
-- KEYS[4]  the player's pending rating (string: the match whose result is not in yet)
-- KEYS[5]  the player's cool-down after declining a ready check (string: until, ms)
-- KEYS[6]  the player's party (string: party id)
-- ARGV[1]  the marker to set
-- ARGV[2]  the rating to use when the profile is not cached, or '' to refuse instead
-- ARGV[3]  '1' to wait for a pending rating, '0' to ignore it (no cache-warmer runs)
-- ARGV[4]  '1' when the player asks to queue alone: a player in a party is answered
--          {'party', id} instead (its leader queues the party); '0' for a party's members
-- Returns {'reserved', rating} | {'queued', existing marker} | {'matched', match id}
--       | {'rating_pending', match id} | {'no_profile', ''} | {'cooldown', until ms}
--       | {'party', party id}
-- Nothing is written unless the reply is 'reserved'.
local existing = redis.call('GET', KEYS[1])
if existing then
  return {'queued', existing}
end
if ARGV[4] == '1' then
  local party = redis.call('GET', KEYS[6])
  if party then
    return {'party', party}
  end
end
local cooldown = redis.call('GET', KEYS[5])
if cooldown then
  return {'cooldown', cooldown}
end
local live_match = redis.call('GET', KEYS[2])
if live_match then
  return {'matched', live_match}
end
local pending = ARGV[3] == '1' and redis.call('GET', KEYS[4])
if pending then
  return {'rating_pending', pending}
end
local rating = redis.call('HGET', KEYS[3], 'rating')
if not rating then
  if ARGV[2] == '' then
    return {'no_profile', ''}
  end
  rating = ARGV[2]
end
redis.call('SET', KEYS[1], ARGV[1])
return {'reserved', rating}
