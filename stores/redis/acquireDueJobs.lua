--[[
  Claims up to `limit` due jobs that are unpaused and not under a live claim, in next_run_time
  order (then id). Claims whose holder let them lapse are taken over when their job is due, and
  dropped (the job rescheduled as stored) when it is not.
    ARGV[1] owner, ARGV[2] caller's now, ARGV[3] lease ms, ARGV[4] limit (-1 = none),
    ARGV[5] '1' when the server clock rules
  Returns { now, id, record JSON, job state, live running runs, takeover (1/0), ... }
]]
local owner = ARGV[1]
local now = judgeNow(ARGV[2], ARGV[5])
local leaseMs = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local cands = {}

for _, id in ipairs(rcall('ZRANGEBYSCORE', K.claims, '-inf', now)) do
  local st = jobState(id)
  if st == nil then
    dropClaim(id)
  elseif st.paused == '0' and st.nrt ~= '' and tonumber(st.nrt) <= now then
    cands[#cands + 1] = { id = id, nrt = tonumber(st.nrt), takeover = 1 }
  else
    dropClaim(id)
    schedule(id, st)
  end
end

local fresh
if limit < 0 then
  fresh = rcall('ZRANGEBYSCORE', K.next, '-inf', now, 'WITHSCORES')
else
  fresh = rcall('ZRANGEBYSCORE', K.next, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
end
for i = 1, #fresh, 2 do
  cands[#cands + 1] = { id = fresh[i], nrt = tonumber(fresh[i + 1]), takeover = 0 }
end
if #cands > #fresh / 2 then
  table.sort(cands, function (a, b)
    if a.nrt ~= b.nrt then return a.nrt < b.nrt end
    return a.id < b.id
  end)
end

local take = {}
for i, c in ipairs(cands) do
  if limit >= 0 and i > limit then break end
  take[i] = c
end
-- Claimed in one call per key, whatever the batch size.
local ids, claims, owners = {}, {}, {}
local expires = num(now + leaseMs)
for i, c in ipairs(take) do
  ids[i] = c.id
  claims[#claims + 1] = expires
  claims[#claims + 1] = c.id
  owners[#owners + 1] = c.id
  owners[#owners + 1] = owner
end
bulk('ZREM', K.next, ids)
bulk('ZADD', K.claims, claims)
bulk('HSET', K.owners, owners)
local records = hmget(K.jobs, ids)
local states = hmget(K.jobst, ids)
local live = '(' .. num(now)
local out = { num(now) }
for i, c in ipairs(take) do
  out[#out + 1] = c.id
  out[#out + 1] = records[i]
  out[#out + 1] = states[i]
  out[#out + 1] = rcall('ZCOUNT', jrunKey(c.id), live, '+inf')
  out[#out + 1] = c.takeover
end
return out
