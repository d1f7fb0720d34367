-- lease_acquire.lua: take a lease if it is free, or extend it if we already hold it.
-- KEYS[1]  the lease key
-- ARGV[1]  the owner token of the caller
-- ARGV[2]  the lease length in ms
-- Returns 1 if the caller holds the lease now, 0 if someone else does.
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
