-- lease_release.lua: give a lease up (compare-and-delete), only if the caller holds it.
-- KEYS[1]  the lease key
-- ARGV[1]  the owner token of the caller
-- Returns 1 if released, 0 if the caller did not hold it (nothing changed).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
