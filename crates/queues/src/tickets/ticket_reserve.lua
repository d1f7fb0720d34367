-- ticket_reserve.lua: reserve a player's one ticket (first step of queue.join).
-- KEYS[1]  the player's ticket marker (string "<queue> <region> <ticket> <enqueued_ms>")
-- KEYS[2]  the player's live match (string: match id)
-- KEYS[3]  the player's cached profile (hash with a `rating` field)
-- ARGV[1]  the marker to set
-- ARGV[2]  the rating to use when the profile has none
-- Returns {'reserved', rating} | {'queued', existing marker} | {'matched', match id}
local existing = redis.call('GET', KEYS[1])
if existing then
  return {'queued', existing}
end
local live_match = redis.call('GET', KEYS[2])
if live_match then
  return {'matched', live_match}
end
redis.call('SET', KEYS[1], ARGV[1])
local rating = redis.call('HGET', KEYS[3], 'rating')
if not rating then
  rating = ARGV[2]
end
return {'reserved', rating}
