--[[
  Ends claims of one owner, release by release. Each is fenced on its own: it applies only while
  the owner still holds the job's claim. When the job's version is unchanged it also writes the
  runs, the next times (bumping the version) or deletes the job; otherwise it only drops the claim.
    ARGV[1] owner, ARGV[2] number of releases, then per release:
      id, version, next_run_time, next_fire_time, remove ('1'/'0'), history limit (-1 = none),
      number of runs, then per run: run id, trigger, state, lease ('' = none), job id, history
      entry ('' = built here); the job id and entry come from the client, so that the fire path
      neither parses the state line nor formats times
  Returns one 1/0 per release: 1 when its runs were written.

  The whole batch is read first (owners, states, indexes: one HMGET each) and written with one
  call per key touched (claims, owners, job states, listing indexes, runs, leases), so a batch of
  hundreds of fires costs a few dozen calls plus two per job (its history set and its size).
  The usual release, a recurring job moving to its next fire, keeps its listing rank and search
  entries: only the scores change. Anything else (a job that leaves the schedule) takes the
  one-job path of updateJob.
]]
local owner = ARGV[1]
local count = tonumber(ARGV[2])
local at, ids = {}, {}
local a = 3
for i = 1, count do
  at[i] = a
  ids[i] = ARGV[a]
  a = a + 7 + tonumber(ARGV[a + 6]) * 6
end
local smatch = string.match

local owners = hmget(K.owners, ids)
local states = hmget(K.jobst, ids)
local indexes = hmget(K.jobix, ids)

-- Writes gathered over the batch, one call per key at the end.
local claimIds = {}
local jobHash, jobsGone = {}, {}
local zadd, zrem = {}, {}   -- key -> args
-- The keys every fire writes, appended to directly.
local list0, overdue, nextZ, running = {}, {}, {}, {}
zadd[P .. ':list:0'], zadd[K.overdue], zadd[K.next], zadd[K.running] = list0, overdue, nextZ, running
local jrunAdds = {}        -- job id -> its new running runs
local flistKeys = {}        -- task -> its P:flist:0 key
local runHash, runstHash, runsGone = {}, {}, {}
local trimmed = {}          -- history limit -> set of job ids
local seen = {}
local out = {}

-- A run of this batch: its record, state, history entry and (running) leases.
local function addRun (q)
  local runId, json, state, lease, jobId, entry = ARGV[q], ARGV[q + 1], ARGV[q + 2], ARGV[q + 3], ARGV[q + 4], ARGV[q + 5]
  local n = #runHash
  runHash[n + 1] = runId
  runHash[n + 2] = json
  runstHash[n + 1] = runId
  runstHash[n + 2] = state
  if entry == '' then
    local _, sched, started = runFields(state)
    entry = histEntry(runId, sched, started)
  end
  push(zadd, histKey(jobId), 0, entry)
  if string.sub(state, 1, 8) == 'running\t' then
    local score = lease == '' and '+inf' or lease
    local m = #running
    running[m + 1] = score
    running[m + 2] = runId
    push(jrunAdds, jobId, runId)
  end
  return jobId
end

-- The history limits' sets of job ids to trim.
local function trimSet (limit)
  local set = trimmed[limit]
  if set == nil then set = {}; trimmed[limit] = set end
  return set
end

for i = 1, count do
  local written = 0
  local b = at[i]
  local id = ids[i]
  if owners[i] == owner and not seen[id] then
    seen[id] = true
    claimIds[#claimIds + 1] = id
    local nrt, nruns = ARGV[b + 2], tonumber(ARGV[b + 6])
    -- The usual release: an unpaused scheduled job (state "version\tnrt\tnft\t0\tgrace") at the
    -- version claimed, moving to its next fire. Only scores change; nothing is parsed but the line.
    local version, oldNrt, tail
    if states[i] then version, oldNrt, tail = smatch(states[i], '^([^\t]*)\t([^\t]*)\t[^\t]*\t(0\t[^\t]*)$') end
    if version and oldNrt ~= '' and nrt ~= '' and ARGV[b + 4] ~= '1' and tonumber(version) == tonumber(ARGV[b + 1]) then
      local ix = indexes[i]
      local task = smatch(ix, '^%["([^"\\]*)",')
      if task == nil then task = cjson.decode(ix)[1] end
      local fkey = flistKeys[task]
      if fkey == nil then fkey = P .. ':flist:0:' .. task; flistKeys[task] = fkey end
      local n = #jobHash
      jobHash[n + 1] = id
      jobHash[n + 2] = num(tonumber(version) + 1) .. '\t' .. nrt .. '\t' .. ARGV[b + 3] .. '\t' .. tail
      n = #list0
      list0[n + 1] = nrt
      list0[n + 2] = id
      nextZ[n + 1] = nrt
      nextZ[n + 2] = id
      -- A number argument: Redis writes it with %.17g, exact for whole milliseconds (no format here).
      overdue[n + 1] = tonumber(nrt) + tonumber(string.sub(tail, 3))
      overdue[n + 2] = id
      push(zadd, fkey, nrt, id)
      local set = trimSet(tonumber(ARGV[b + 5]))
      for q = b + 7, b + 7 + (nruns - 1) * 6, 6 do set[addRun(q)] = true end
      written = 1
    else
      local r = { id = id, version = tonumber(ARGV[b + 1]), nrt = nrt, nft = ARGV[b + 3], remove = ARGV[b + 4], limit = tonumber(ARGV[b + 5]), nruns = nruns, runsAt = b + 7 }
      local st = parseState(states[i])
      if st ~= nil and st.version ~= r.version then
        schedule(id, st)
      elseif st ~= nil then
        local ix = cjson.decode(indexes[i])
        local oldRank = rankOf(st)
        if r.remove == '1' then
          -- Deleted with its finished history; of this release's runs only running ones are kept
          -- (as deleting after writing them would leave them).
          jobsGone[#jobsGone + 1] = id
          push(zrem, P .. ':list:' .. oldRank, id)
          push(zrem, P .. ':flist:' .. oldRank .. ':' .. ix[1], id)
          push(zrem, K.overdue, id)
          push(zrem, K.sid, ix[2] .. '\0' .. id)
          push(zrem, K.sname, ix[3] .. '\0' .. id)
          push(zrem, K.next, id)
          local key = histKey(id)
          local members = rcall('ZRANGE', key, 0, -1)
          if #members > 0 then
            local runIds = {}
            for m = 1, #members do runIds[m] = runIdOf(members[m]) end
            local runStates = hmget(K.runst, runIds)
            for m = 1, #members do
              local s = runStates[m]
              if not (s and string.sub(s, 1, 8) == 'running\t') then
                push(zrem, key, members[m])
                -- Finished: in no lease index; its record goes.
                runsGone[#runsGone + 1] = runIds[m]
              end
            end
          end
          for q = r.runsAt, r.runsAt + (r.nruns - 1) * 6, 6 do
            if string.sub(ARGV[q + 2], 1, 8) == 'running\t' then addRun(q) end
          end
        else
          local new = { version = st.version + 1, nrt = r.nrt, nft = r.nft, paused = st.paused, grace = st.grace }
          local jobs = {}
          for q = r.runsAt, r.runsAt + (r.nruns - 1) * 6, 6 do jobs[addRun(q)] = true end
          if rankOf(new) == oldRank and oldRank == 0 then
            jobHash[#jobHash + 1] = id
            jobHash[#jobHash + 1] = stateLine(new)
            push(zadd, P .. ':list:0', r.nrt, id)
            push(zadd, P .. ':flist:0:' .. ix[1], r.nrt, id)
            push(zadd, K.overdue, num(tonumber(r.nrt) + tonumber(st.grace)), id)
            push(zadd, K.next, r.nrt, id)
          else
            writeJobState(id, new, st, ix)
            schedule(id, new)
          end
          local set = trimSet(r.limit)
          for jobId in pairs(jobs) do set[jobId] = true end
        end
        written = 1
      end
    end
  end
  out[#out + 1] = written
end

bulk('ZREM', K.claims, claimIds)
bulk('HDEL', K.owners, claimIds)
bulk('HSET', K.jobst, jobHash)
bulk('HDEL', K.jobs, jobsGone)
bulk('HDEL', K.jobst, jobsGone)
bulk('HDEL', K.jobix, jobsGone)
bulk('HDEL', K.runs, runsGone)
bulk('HDEL', K.runst, runsGone)
flushEach('ZREM', zrem)
bulk('HSET', K.runs, runHash)
bulk('HSET', K.runst, runstHash)
keepSkiplist(running, '+inf')
flushEach('ZADD', zadd)
jrunApply(jrunAdds, {})
for limit, jobs in pairs(trimmed) do trimJobs(jobs, limit) end
return out
