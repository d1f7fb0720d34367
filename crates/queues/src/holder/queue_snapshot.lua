-- queue_snapshot.lua: everything the matchmaker holding a queue needs to hold it in
-- memory, and a fresh start of the change log (which this snapshot already contains).
-- KEYS[1]  the queue's lease
-- KEYS[2]  the queue's tickets by rating (sorted set)
-- KEYS[3]  the queue's tickets by enqueue time (sorted set)
-- KEYS[4]  the queue's player index (hash)
-- KEYS[5]  the queue's change log (list)
-- ARGV[1]  the caller's lease owner token
-- Returns {'not_holder'} or {'ok', id, player, rating, enqueued_ms, id, ...} oldest first.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {'not_holder'}
end
local out = {'ok'}
local waiting = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
for i = 1, #waiting, 2 do
  local id = waiting[i]
  local rating = redis.call('ZSCORE', KEYS[2], id)
  local player = redis.call('HGET', KEYS[4], id)
  if rating and player then
    out[#out + 1] = id
    out[#out + 1] = player
    out[#out + 1] = rating
    out[#out + 1] = waiting[i + 1]
  end
end
redis.call('DEL', KEYS[5])
return out
