-- block_set.lua: blocks or unblocks one player in a player's list.
-- KEYS[1]  the player's block list (hash: a field per blocked player, "" once loaded)
-- ARGV[1]  the other player
-- ARGV[2]  '1' to block, '0' to unblock
-- ARGV[3]  players one may block at most
-- Returns 'ok', or 'full' (blocking one more would pass the limit; nothing changed).
if ARGV[2] == '0' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 'ok'
end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return 'ok'
end
local held = redis.call('HLEN', KEYS[1]) - redis.call('HEXISTS', KEYS[1], '')
if held >= tonumber(ARGV[3]) then
  return 'full'
end
redis.call('HSET', KEYS[1], ARGV[1], '1')
return 'ok'
