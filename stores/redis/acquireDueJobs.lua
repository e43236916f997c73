--[[
  Claims up to `limit` jobs due by `now + ahead` that are unpaused and not under a live claim, in
  next_run_time order (then id). Ahead of its time (later than now), a job with a live running run
  is left for its time, so that max_instances counts the runs live when it is due. Claims whose
  holder let them lapse are taken over when their job is due, and dropped (the job rescheduled as
  stored) when it is not.
    ARGV[1] owner, ARGV[2] caller's now, ARGV[3] lease ms, ARGV[4] limit (-1 = none),
    ARGV[5] '1' when the server clock rules, ARGV[6] ahead ms (0: due now only),
    ARGV[7] most jobs taken ahead of their time while other workers claim too (their turn)
  Returns { now, id, record JSON, job state, live running runs, takeover (1/0), ... }
]]
local owner = ARGV[1]
local now = judgeNow(ARGV[2], ARGV[5])
local leaseMs = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local ahead = tonumber(ARGV[6])
local dueBy = now + ahead
-- Workers that asked within 5 s take turns ahead of time: small batches, served in turn by the
-- server, so a wave of due jobs spreads over them. Alone, a worker takes whole batches.
rcall('ZADD', K.claimers, now, owner)
rcall('ZREMRANGEBYSCORE', K.claimers, '-inf', now - 5000)
if ahead > 0 and rcall('ZCARD', K.claimers) > 1 then
  local turn = tonumber(ARGV[7])
  if limit < 0 or limit > turn then limit = turn end
end
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

-- Ahead of its time, a job with a live run is left for its time; at most `limit` of them are
-- passed over (the scan is bounded, so jobs left over are not walked again and again).
local fresh = 0
-- Rows of P:next due by dueBy, from `offset` (count < 0: all); ahead of their time, a job's
-- running runs are read for the batch in one call.
local function scan (offset, count)
  local rows
  if count < 0 then
    rows = rcall('ZRANGEBYSCORE', K.next, '-inf', dueBy, 'WITHSCORES')
  else
    rows = rcall('ZRANGEBYSCORE', K.next, '-inf', dueBy, 'WITHSCORES', 'LIMIT', offset, count)
  end
  local aheadIds = {}
  for i = 1, #rows, 2 do
    if tonumber(rows[i + 1]) > now then aheadIds[#aheadIds + 1] = rows[i] end
  end
  local aheadRuns = {}
  if #aheadIds > 0 then
    local got = hmget(K.jrun, aheadIds)
    for i = 1, #aheadIds do aheadRuns[aheadIds[i]] = got[i] end
  end
  for i = 1, #rows, 2 do
    local nrt = tonumber(rows[i + 1])
    if nrt <= now or liveRuns(aheadRuns[rows[i]], now) == 0 then
      cands[#cands + 1] = { id = rows[i], nrt = nrt, takeover = 0 }
      fresh = fresh + 1
      if fresh == limit then break end
    end
  end
  return #rows / 2
end
if limit < 0 then
  scan(0, -1)
-- The first `limit` rows, and only when some were passed over, up to `limit` more: a wave of due
-- jobs is not read twice over.
elseif scan(0, limit) == limit and fresh < limit then
  scan(limit, limit)
end
if #cands > fresh then
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
keepSkiplist(claims, '+inf')
keepSkiplist(owners, SKIPLIST)
bulk('ZADD', K.claims, claims)
bulk('HSET', K.owners, owners)
local records = hmget(K.jobs, ids)
local states = hmget(K.jobst, ids)
local runs = hmget(K.jrun, ids)
local out = { num(now) }
for i, c in ipairs(take) do
  out[#out + 1] = c.id
  out[#out + 1] = records[i]
  out[#out + 1] = states[i]
  out[#out + 1] = liveRuns(runs[i], now)
  out[#out + 1] = c.takeover
end
return out
