-- session_open.lua: make a connection the player's one live session, replacing any other.
-- KEYS[1]  the player's session hash (gateway, conn, connected_ms)
-- KEYS[2]  the player's rooms (set), kept across reconnects for a grace period
-- KEYS[3]  the player's live match (string), if any
-- KEYS[4]  the player's cached profile (hash), only checked for existence
-- KEYS[5]  the player's chat budget (string: ms since the epoch when it is full again)
-- KEYS[6]  the player's party (string: party id), kept alive like the rooms
-- KEYS[7]  when the player was last seen (not used here; session_close.lua sets it)
-- KEYS[8]  until when the player is muted (string: ms since the epoch), if they are
-- KEYS[9]  the pushes kept while the player was between sockets (list)
-- KEYS[10] the player's between-sockets marker (string)
-- KEYS[11] the player's inbox channel (sharded; same slot)
-- KEYS[12] the player's block list (hash: a field per blocked player, "" once loaded)
-- ARGV[1]  this gateway's instance id
-- ARGV[2]  the new connection id
-- ARGV[3]  now, ms since the epoch
-- ARGV[4]  session TTL in ms (refreshed by the gateway's heartbeat)
-- ARGV[5]  rooms TTL in ms
-- ARGV[6]  the hand-over (an encoded session_replaced event naming this connection),
--          published on the inbox when this replaces another session: pushes before it
--          on the channel are the old socket's, pushes after it this one's
-- Returns {old gateway or '', old connection or '', live match or '', '1' if the profile is
-- cached else '0', chat budget or '0', party or '', muted until or '0', N, N kept pushes,
-- '1' if the block list is loaded else '0', M, M blocked players, room, room, ...}: the session it replaced, the match to tell the player about again,
-- whether to ask for the profile, the chat budget the connection starts from, the party
-- to rejoin, until when the player is muted, the pushes sent while the player was
-- between sockets (oldest first), who the player blocked, the rooms to rejoin.
local old = redis.call('HMGET', KEYS[1], 'gateway', 'conn')
if old[2] and old[2] ~= ARGV[2] and ARGV[6] ~= '' then
  redis.call('SPUBLISH', KEYS[11], ARGV[6])
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'gateway', ARGV[1], 'conn', ARGV[2], 'connected_ms', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local party = redis.call('GET', KEYS[6])
if party then
  redis.call('PEXPIRE', KEYS[6], ARGV[5])
end
local out = {old[1] or '', old[2] or '', redis.call('GET', KEYS[3]) or '', tostring(redis.call('EXISTS', KEYS[4])),
  redis.call('GET', KEYS[5]) or '0', party or '', redis.call('GET', KEYS[8]) or '0'}
local kept = redis.call('LRANGE', KEYS[9], 0, -1)
redis.call('DEL', KEYS[9], KEYS[10])
out[#out + 1] = #kept
for _, push in ipairs(kept) do
  out[#out + 1] = push
end
local blocks = redis.call('HKEYS', KEYS[12])
out[#out + 1] = tostring(redis.call('HEXISTS', KEYS[12], ''))
local listed = {}
for _, player in ipairs(blocks) do
  if player ~= '' then
    listed[#listed + 1] = player
  end
end
out[#out + 1] = #listed
for _, player in ipairs(listed) do
  out[#out + 1] = player
end
local rooms = redis.call('SMEMBERS', KEYS[2])
if #rooms > 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
for _, room in ipairs(rooms) do
  out[#out + 1] = room
end
return out
