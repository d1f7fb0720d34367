-- ready_settle.lua: the matchmaker holding the match's queue decides a ready check:
-- everyone accepted (`proceed`), someone declined (`declined`), or it expired with
-- answers missing (`ready_timeout`). Once decided it stays decided (a late accept cannot
-- flip it), so a settle redone after a crash does the same again.
-- KEYS[1]  the match's ready check (hash)
-- ARGV[1]  now, ms since the epoch
-- Returns {'open'} (still waiting) | {'missing'} (no such check) | {outcome, '1' if decided
-- now else '0', record JSON, player, answer, player, answer, ...} with answer '' for a
-- player who did not answer.
local state = redis.call('HGET', KEYS[1], 'state')
local decided_now = '0'
if not state then
  return {'missing'}
end
local fields = redis.call('HGETALL', KEYS[1])
local answers = {}
local all_accepted, any_declined = true, false
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 2) == 'a:' then
    answers[#answers + 1] = string.sub(fields[i], 3)
    answers[#answers + 1] = fields[i + 1]
    if fields[i + 1] ~= 'accepted' then
      all_accepted = false
    end
    if fields[i + 1] == 'declined' then
      any_declined = true
    end
  end
end
if state == 'open' then
  if all_accepted then
    state = 'proceed'
  elseif any_declined then
    state = 'declined'
  elseif tonumber(ARGV[1]) >= tonumber(redis.call('HGET', KEYS[1], 'expires_ms')) then
    state = 'ready_timeout'
  else
    return {'open'}
  end
  redis.call('HSET', KEYS[1], 'state', state)
  decided_now = '1'
end
local out = {state, decided_now, redis.call('HGET', KEYS[1], 'record') or ''}
for _, value in ipairs(answers) do
  out[#out + 1] = value
end
return out
