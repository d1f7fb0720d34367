-- party_lib.lua: the Lua every script on a party's hash shares. A library, not a script:
-- it is put in front of each of them when it loads, so a party is read, changed and
-- answered the same way everywhere.
--
-- A party is one hash: `leader`, `max_size`, `seq` (joins so far), and per member
-- `m:<player>` (when the membership lapses, ms since the epoch) and `o:<player>` (their
-- join number: the longest-standing member leads next), per open invite `i:<player>`
-- (when it expires, ms since the epoch).

-- The party in `key` as a table (nil if there is none): leader, max_size, the members
-- in join order, each one's lapse and join number, the open invites.
local function party_load(key)
  local fields = redis.call('HGETALL', key)
  if #fields == 0 then
    return nil
  end
  local p = {leader = '', max_size = 0, members = {}, lapse = {}, order = {}, invites = {}}
  for i = 1, #fields, 2 do
    local field, value = fields[i], fields[i + 1]
    local kind, who = string.sub(field, 1, 2), string.sub(field, 3)
    if kind == 'm:' then
      p.members[#p.members + 1] = who
      p.lapse[who] = tonumber(value)
    elseif kind == 'o:' then
      p.order[who] = tonumber(value)
    elseif kind == 'i:' then
      p.invites[who] = tonumber(value)
    elseif field == 'leader' then
      p.leader = value
    elseif field == 'max_size' then
      p.max_size = tonumber(value)
    end
  end
  table.sort(p.members, function(a, b)
    return (p.order[a] or 0) < (p.order[b] or 0)
  end)
  return p
end

-- Why `actor` may not act on member `target` as the party's leader (kick, promote):
-- 'not_member' (the actor is not in the party), 'not_leader', 'target_not_member'; nil
-- when they may.
local function party_leader_refusal(p, actor, target)
  if not p or not p.lapse[actor] then
    return 'not_member'
  end
  if p.leader ~= actor then
    return 'not_leader'
  end
  if not p.lapse[target] then
    return 'target_not_member'
  end
  return nil
end

-- Takes `who` out of the party; the longest-standing member left leads when `who` led.
-- The party is deleted when nobody is left (returns false).
local function party_drop(key, p, who)
  redis.call('HDEL', key, 'm:' .. who, 'o:' .. who)
  p.lapse[who] = nil
  local left = {}
  for _, member in ipairs(p.members) do
    if member ~= who then
      left[#left + 1] = member
    end
  end
  p.members = left
  if #left == 0 then
    redis.call('DEL', key)
    return false
  end
  if p.leader == who then
    p.leader = left[1]
    redis.call('HSET', key, 'leader', p.leader)
  end
  return true
end

-- Drops every member whose membership lapsed before `now`; returns them.
local function party_prune(key, p, now)
  local gone = {}
  for _, member in ipairs(p.members) do
    if p.lapse[member] < now then
      gone[#gone + 1] = member
    end
  end
  for _, member in ipairs(gone) do
    party_drop(key, p, member)
  end
  return gone
end

-- Forgets invites that expired before `now`.
local function party_forget_expired_invites(key, p, now)
  for who, expires in pairs(p.invites) do
    if expires < now then
      redis.call('HDEL', key, 'i:' .. who)
      p.invites[who] = nil
    end
  end
end

-- {tag, leader, max_size, member count, member, ..., extra, ...}: the party as it is now
-- (members in join order), then whatever the script adds (e.g. who lapsed).
local function party_reply(tag, p, extra)
  local out = {tag, p.leader, tostring(p.max_size), tostring(#p.members)}
  for _, member in ipairs(p.members) do
    out[#out + 1] = member
  end
  for _, value in ipairs(extra or {}) do
    out[#out + 1] = value
  end
  return out
end
