-- results_replay.lua: put every dead letter of a region back at the end of its results
-- outbox, for the lease holder to store again (an operator fixed what PostgreSQL refused).
-- KEYS[1]  the outbox (list)
-- KEYS[2]  the dead-letter list
-- Returns how many entries went back.
local dead = redis.call('LRANGE', KEYS[2], 0, -1)
for i = 1, #dead do
  redis.call('RPUSH', KEYS[1], dead[i])
end
redis.call('DEL', KEYS[2])
return #dead
