--[[
  Ends claims of one owner, release by release. Each is fenced on its own: it applies only while
  the owner still holds the job's claim. When the job's version is unchanged it also writes the
  runs, the next times (bumping the version) or deletes the job; otherwise it only drops the claim.
    ARGV[1] owner, ARGV[2] number of releases, then per release:
      id, version, next_run_time, next_fire_time, remove ('1'/'0'), history limit (-1 = none),
      number of runs, then per run: run id, trigger, state, lease ('' = none)
  Returns one 1/0 per release: 1 when its runs were written.

  The whole batch is read first (owners, states, indexes: one HMGET each) and written with one
  call per key touched (claims, owners, job states, listing indexes, runs, leases), so a batch of
  hundreds of fires costs a few dozen calls plus a handful per job (its history and lease sets).
  The usual release, a recurring job moving to its next fire, keeps its listing rank and search
  entries: only the scores change. Anything else (a job that leaves the schedule) takes the
  one-job path of updateJob.
]]
local owner = ARGV[1]
local count = tonumber(ARGV[2])
local rel, ids = {}, {}
local a = 3
for i = 1, count do
  local r = { id = ARGV[a], version = tonumber(ARGV[a + 1]), nrt = ARGV[a + 2], nft = ARGV[a + 3], remove = ARGV[a + 4], limit = tonumber(ARGV[a + 5]), nruns = tonumber(ARGV[a + 6]) }
  a = a + 7
  r.runsAt = a
  a = a + r.nruns * 4
  rel[i] = r
  ids[i] = r.id
end

local owners = hmget(K.owners, ids)
local states = hmget(K.jobst, ids)
local indexes = hmget(K.jobix, ids)

-- Writes gathered over the batch, one call per key at the end.
local claimIds = {}
local jobHash, jobsGone = {}, {}
local zadd, zrem = {}, {}   -- key -> args
local runHash, runstHash, runsGone = {}, {}, {}
local trimmed = {}          -- history limit -> set of job ids
local seen = {}
local out = {}

-- A run of this batch: its record, state, history entry and (running) leases.
local function addRun (q)
  local runId, json, state, lease = ARGV[q], ARGV[q + 1], ARGV[q + 2], ARGV[q + 3]
  local f = split(state)
  local jobId = cjson.decode(f[R_JOB])
  runHash[#runHash + 1] = runId
  runHash[#runHash + 1] = json
  runstHash[#runstHash + 1] = runId
  runstHash[#runstHash + 1] = state
  push(zadd, histKey(jobId), 0, sortKey(runId, f))
  if f[R_STATUS] == 'running' then
    local score = lease == '' and '+inf' or lease
    push(zadd, K.running, score, runId)
    push(zadd, jrunKey(jobId), score, runId)
  end
  return jobId, f[R_STATUS]
end

for i, r in ipairs(rel) do
  local written = 0
  local id = r.id
  if owners[i] == owner and not seen[id] then
    seen[id] = true
    claimIds[#claimIds + 1] = id
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
        for q = r.runsAt, r.runsAt + (r.nruns - 1) * 4, 4 do
          if string.sub(ARGV[q + 2], 1, 8) == 'running\t' then addRun(q) end
        end
      else
        local new = { version = st.version + 1, nrt = r.nrt, nft = r.nft, paused = st.paused, grace = st.grace }
        local jobs = {}
        for q = r.runsAt, r.runsAt + (r.nruns - 1) * 4, 4 do jobs[addRun(q)] = true end
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
        local set = trimmed[r.limit]
        if set == nil then set = {}; trimmed[r.limit] = set end
        for jobId in pairs(jobs) do set[jobId] = true end
      end
      written = 1
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
flushEach('ZADD', zadd)
for limit, jobs in pairs(trimmed) do trimJobs(jobs, limit) end
return out
