-- lease_renew.lua: extend a lease only if the caller still holds it.
-- KEYS[1]  the lease key
-- ARGV[1]  the owner token of the caller
-- ARGV[2]  the lease length in ms
-- Returns 1 if renewed, 0 if the lease expired or another owner holds it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
