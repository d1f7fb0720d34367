-- room_leave.lua: remove a membership if the given connection still owns it.
-- KEYS[1]  the room's members (sorted set)
-- KEYS[2]  the room's owners (hash)
-- ARGV[1]  player
-- ARGV[2]  connection id
-- Returns 1 if removed, 0 if another connection owns it (or it was gone).
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
