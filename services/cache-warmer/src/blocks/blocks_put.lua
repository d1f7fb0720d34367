-- blocks_put.lua: a player's block list as PostgreSQL has it, loaded into Redis unless
-- Redis has it already (then Redis is the newer: the gateway changes it there first, and
-- a change still in the outbox is not in PostgreSQL yet).
-- KEYS[1]  the player's block list (hash: a field per blocked player, "" once loaded)
-- ARGV...  the players they blocked, as PostgreSQL has them
-- Returns the list as Redis has it now.
if redis.call('HEXISTS', KEYS[1], '') == 0 then
  redis.call('HSET', KEYS[1], '', '1')
  for _, player in ipairs(ARGV) do
    redis.call('HSET', KEYS[1], player, '1')
  end
end
local out = {}
for _, player in ipairs(redis.call('HKEYS', KEYS[1])) do
  if player ~= '' then
    out[#out + 1] = player
  end
end
return out
