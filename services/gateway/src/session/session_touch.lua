-- session_touch.lua: the gateway's heartbeat for one local session.
-- KEYS[1]  the player's session hash
-- KEYS[2]  the player's rooms (set)
-- KEYS[5]  the player's chat budget (string: ms since the epoch when it is full again)
-- KEYS[6]  the player's party (string: party id), kept alive like the rooms
-- KEYS[8]  until when the player is muted (string: ms since the epoch), if they are
-- ARGV[1]  this gateway's instance id
-- ARGV[2]  the connection id
-- ARGV[3]  now, ms since the epoch
-- ARGV[4]  session TTL in ms
-- ARGV[5]  rooms TTL in ms
-- ARGV[6]  the chat budget the connection holds (ms since the epoch, 0 if full)
-- Returns {status, chat budget, party or '', muted until or 0}: status 1 refreshed; 2 restored (it had
-- lapsed, e.g. Redis was away longer than the TTL); 0 the session now belongs to another
-- connection (this one was replaced; the party is then not refreshed either). The chat budget saved is the later of the stored and the held one
-- (a connection this one replaced may have saved spending of its own), and is returned;
-- so is the mute, which the connection holds (a lost mute event is made good here).
local stored = tonumber(redis.call('GET', KEYS[5]) or '0') or 0
local held = tonumber(ARGV[6]) or 0
if held > stored and held > tonumber(ARGV[3]) then
  redis.call('SET', KEYS[5], ARGV[6], 'PX', held - tonumber(ARGV[3]))
  stored = held
end
local conn = redis.call('HGET', KEYS[1], 'conn')
if conn and conn ~= ARGV[2] then
  return {0, stored, '', 0}
end
local result = 1
if not conn then
  redis.call('HSET', KEYS[1], 'gateway', ARGV[1], 'conn', ARGV[2], 'connected_ms', ARGV[3])
  result = 2
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local party = redis.call('GET', KEYS[6])
if party then
  redis.call('PEXPIRE', KEYS[6], ARGV[5])
end
return {result, stored, party or '', tonumber(redis.call('GET', KEYS[8]) or '0') or 0}
