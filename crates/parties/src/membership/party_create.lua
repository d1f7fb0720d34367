-- party_create.lua: a new party with one member, its leader.
-- KEYS[1]  the party's hash
-- ARGV[1]  the leader
-- ARGV[2]  how many members it may have
-- ARGV[3]  when the leader's membership lapses unless refreshed, ms since the epoch
-- ARGV[4]  how long the hash lives without a change or refresh, ms
-- Returns party_reply('created') | {'exists'} (the id is taken: the caller picks another).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists'}
end
redis.call('HSET', KEYS[1], 'leader', ARGV[1], 'max_size', ARGV[2], 'seq', 1,
  'm:' .. ARGV[1], ARGV[3], 'o:' .. ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return party_reply('created', party_load(KEYS[1]))
