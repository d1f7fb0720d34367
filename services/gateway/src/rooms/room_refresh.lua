-- room_refresh.lua: add or refresh memberships of a room, prune lapsed ones, count.
-- Used by room.join (one member, taking ownership) and by the gateway's heartbeat (all its
-- local members of the room, keeping whatever ownership a newer connection took).
-- KEYS[1]  the room's members (sorted set: player -> lapse time in ms)
-- KEYS[2]  the room's owners (hash: player -> connection id holding the membership)
-- ARGV[1]  now, ms since the epoch
-- ARGV[2]  membership TTL in ms
-- ARGV[3]  'take' (join: this connection owns the membership now) or 'keep' (heartbeat:
--          refresh only memberships this connection still owns, or that lapsed)
-- ARGV[4..] player, connection pairs
-- Returns {live members, players who joined (new memberships)..., '', players whose
-- lapsed memberships were pruned...}: a room that keeps presence tells its members.
local now = tonumber(ARGV[1])
local lapse = now + tonumber(ARGV[2])
local take = ARGV[3] == 'take'
-- Members of a gateway that died stopped being refreshed: prune them (bounded per call).
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 500)
for _, player in ipairs(lapsed) do
  redis.call('ZREM', KEYS[1], player)
  redis.call('HDEL', KEYS[2], player)
end
local joined = {}
for i = 4, #ARGV, 2 do
  local player, conn = ARGV[i], ARGV[i + 1]
  local owner = redis.call('HGET', KEYS[2], player)
  if take or not owner or owner == conn then
    if redis.call('ZADD', KEYS[1], lapse, player) == 1 then
      joined[#joined + 1] = player
    end
    redis.call('HSET', KEYS[2], player, conn)
  end
end
local out = {redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')}
for _, player in ipairs(joined) do
  out[#out + 1] = player
end
out[#out + 1] = ''
for _, player in ipairs(lapsed) do
  -- A lapsed member refreshed again in this call came back: not gone.
  if redis.call('ZSCORE', KEYS[1], player) == false then
    out[#out + 1] = player
  end
end
return out
