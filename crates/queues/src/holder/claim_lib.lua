-- claim_lib.lua: claiming queued tickets, all or none: the steps queue_claim.lua (a new
-- match) and backfill_claim.lua (players for a running match) share, so a ticket is
-- claimed one way whichever asks, and never twice. A library, not a script: it is put in
-- front of both, which pass it their keys.
--
-- queue: {lease, by_rating, by_time, players, claimed, claim, counters}: the queue's
-- lease, its tickets by rating and by enqueue time, its player index, its claims not yet
-- handed over (sorted set), the claim's hash, and the queue's counters.
-- ids, hashes: the claimed tickets' ids and their hashes, in the same order.

-- Whether `owner` holds the queue's lease (a paused ex-holder cannot claim).
local function holds_lease(queue, owner)
  return redis.call('GET', queue.lease) == owner
end

-- {'gone', id, ...} for the tickets no longer queued (left, expired, or claimed by
-- another match), or nil when all are.
local function gone_tickets(ids, hashes)
  local gone = {'gone'}
  for i = 1, #ids do
    if redis.call('HGET', hashes[i], 'state') ~= 'queued' then
      gone[#gone + 1] = ids[i]
    end
  end
  if #gone > 1 then
    return gone
  end
  return nil
end

-- Takes the tickets out of the queue, claimed for `match`, and records the claim
-- `claim_id` (its `record`, JSON) until its hand-over is done.
local function claim_tickets(queue, ids, hashes, match, claim_id, record, now)
  for i = 1, #ids do
    redis.call('ZREM', queue.by_rating, ids[i])
    redis.call('ZREM', queue.by_time, ids[i])
    redis.call('HDEL', queue.players, ids[i])
    redis.call('HSET', hashes[i], 'state', 'claimed', 'match', match)
    -- Kept a while for queue.status and queue.leave to answer "matched".
    redis.call('PEXPIRE', hashes[i], 3600000)
  end
  redis.call('HSET', queue.claim, 'record', record, 'claimed_ms', now)
  redis.call('PEXPIRE', queue.claim, 3600000)
  redis.call('ZADD', queue.claimed, now, claim_id)
  redis.call('HINCRBY', queue.counters, 'tickets_matched', #ids)
end


-- The queue's keys (a script's keys[1..7]) and the tickets, ids from argv[first_id..] and
-- hashes from keys[first_key..], as the functions above take them. A script passes its
-- KEYS and ARGV.
local function claim_args(keys, argv, first_id, first_key)
  local queue = {lease = keys[1], by_rating = keys[2], by_time = keys[3], players = keys[4],
    claimed = keys[5], claim = keys[6], counters = keys[7]}
  local ids, hashes = {}, {}
  for i = first_id, #argv do
    ids[#ids + 1] = argv[i]
    hashes[#hashes + 1] = keys[first_key + i - first_id]
  end
  return queue, ids, hashes
end
