-- blocks_ack.lua: takes the block changes just applied to PostgreSQL off the outbox, only
-- while the caller holds the lease and the outbox still starts with the batch it read (a
-- lost lease must not drop changes another instance has not applied).
-- KEYS[1]  the outbox (list of JSON changes, oldest first)
-- KEYS[2]  the lease
-- ARGV[1]  the caller's lease owner id
-- ARGV[2]  how many changes it applied
-- ARGV[3]  the first of them
-- Returns 1 if taken off, 0 if not.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[3] then
  return 0
end
redis.call('LTRIM', KEYS[1], tonumber(ARGV[2]), -1)
return 1
