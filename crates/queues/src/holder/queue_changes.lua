-- queue_changes.lua: take the change log of a queue (joins and leaves since the last
-- snapshot or take), for the matchmaker holding the queue.
-- KEYS[1]  the queue's lease
-- KEYS[2]  the queue's change log (list)
-- ARGV[1]  the caller's lease owner token
-- Returns {'not_holder'} or {'ok', change, change, ...} in order; a change is
-- "j <ticket> <rating> <enqueued_ms> <player>" or "l <ticket>".
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {'not_holder'}
end
local changes = redis.call('LRANGE', KEYS[2], 0, -1)
if #changes > 0 then
  redis.call('DEL', KEYS[2])
end
table.insert(changes, 1, 'ok')
return changes
