-- ready_answer.lua: a player accepts or declines their match's ready check. The first
-- answer counts (a repeat changes nothing); an answer after the check closed is told so.
-- KEYS[1]  the match's ready check (hash)
-- ARGV[1]  the player
-- ARGV[2]  'accepted' or 'declined'
-- ARGV[3]  now, ms since the epoch
-- Returns {'counted', accepted, total, player, player, ...} | {'unknown'} (no such check,
-- or the player is not in it) | {'over', state} (settled, or expired).
if redis.call('HEXISTS', KEYS[1], 'a:' .. ARGV[1]) == 0 then
  return {'unknown'}
end
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'open' then
  return {'over', state}
end
if tonumber(ARGV[3]) >= tonumber(redis.call('HGET', KEYS[1], 'expires_ms')) then
  return {'over', 'ready_timeout'}
end
if redis.call('HGET', KEYS[1], 'a:' .. ARGV[1]) == '' then
  redis.call('HSET', KEYS[1], 'a:' .. ARGV[1], ARGV[2])
end
local fields = redis.call('HGETALL', KEYS[1])
local out = {'counted', 0, 0}
local accepted, total = 0, 0
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 2) == 'a:' then
    total = total + 1
    if fields[i + 1] == 'accepted' then
      accepted = accepted + 1
    end
    out[#out + 1] = string.sub(fields[i], 3)
  end
end
out[2] = tostring(accepted)
out[3] = tostring(total)
return out
