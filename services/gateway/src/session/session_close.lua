-- session_close.lua: end a session when its socket closes, unless a newer connection of
-- the player has taken it over (compare-and-delete on the connection id).
-- KEYS[1]  the player's session hash
-- KEYS[2]  the player's rooms (set)
-- KEYS[5]  the player's chat budget (string: ms since the epoch when it is full again)
-- KEYS[6]  the player's party (string: party id), kept for the grace like the rooms
-- KEYS[7]  when the player was last seen (string: ms since the epoch), for presence
-- KEYS[10] the player's between-sockets marker (string): set for the reconnect grace, so
--          pushes meanwhile are kept for the next socket (inbox_keep.lua)
-- ARGV[1]  the closing connection id
-- ARGV[2]  how long the player's rooms are remembered for a reconnect, in ms
-- ARGV[3]  the chat budget the connection held (ms since the epoch, 0 if full)
-- ARGV[4]  now, ms since the epoch
-- ARGV[5]  how long the last-seen time is kept, in ms
-- Returns {1, party or ''} if the session was removed (the party, whose membership the
-- gateway then marks as away), {0, ''} if it belongs to another connection. Either way
-- the chat budget is saved (the later of the stored and the held one): a replaced
-- connection's spending still counts for the connection that replaced it, which finds
-- it in the session hash (`chat_saved`) at its next heartbeat's one read of the session.
local stored = tonumber(redis.call('GET', KEYS[5]) or '0') or 0
local held = tonumber(ARGV[3]) or 0
local holder = redis.call('HGET', KEYS[1], 'conn')
if held > stored and held > tonumber(ARGV[4]) then
  redis.call('SET', KEYS[5], ARGV[3], 'PX', held - tonumber(ARGV[4]))
  if holder and holder ~= ARGV[1] then
    redis.call('HSET', KEYS[1], 'chat_saved', ARGV[3])
  end
end
if holder == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[7], ARGV[4], 'PX', ARGV[5])
  redis.call('SET', KEYS[10], '1', 'PX', ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  local party = redis.call('GET', KEYS[6])
  if party then
    redis.call('PEXPIRE', KEYS[6], ARGV[2])
  end
  return {1, party or ''}
end
return {0, ''}
