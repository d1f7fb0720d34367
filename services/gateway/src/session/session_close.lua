-- session_close.lua: end a session when its socket closes, unless a newer connection of
-- the player has taken it over (compare-and-delete on the connection id).
-- KEYS[1]  the player's session hash
-- KEYS[2]  the player's rooms (set)
-- ARGV[1]  the closing connection id
-- ARGV[2]  how long the player's rooms are remembered for a reconnect, in ms
-- Returns 1 if the session was removed, 0 if it belongs to another connection.
if redis.call('HGET', KEYS[1], 'conn') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0
