--[[
  Ends claims of one owner, release by release. Each is fenced on its own: it applies only while
  the owner still holds the job's claim. When the job's version is unchanged it also writes the
  runs, the next times (bumping the version) or deletes the job; otherwise it only drops the claim.
    ARGV[1] owner, ARGV[2] number of releases, then per release:
      id, version, next_run_time, next_fire_time, remove ('1'/'0'), history limit (-1 = none),
      number of runs, then per run: run id, record JSON, state, lease ('' = none)
  Returns one 1/0 per release: 1 when its runs were written.
]]
local owner = ARGV[1]
local count = tonumber(ARGV[2])
local a = 3
local out = {}
for _ = 1, count do
  local id, version, nrt, nft, remove, limit, nruns = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
  a = a + 7
  local runsAt = a
  a = a + nruns * 4
  local written = 0
  if rcall('HGET', K.owners, id) == owner then
    dropClaim(id)
    local st = jobState(id)
    if st ~= nil and st.version ~= version then
      schedule(id, st)
    elseif st ~= nil then
      local jobs = {}
      for r = runsAt, runsAt + (nruns - 1) * 4, 4 do
        putRun(ARGV[r], ARGV[r + 1], ARGV[r + 2], ARGV[r + 3])
        jobs[cjson.decode(split(ARGV[r + 2])[R_JOB])] = true
      end
      if remove == '1' then
        deleteJob(id)
      else
        local new = { version = st.version + 1, nrt = nrt, nft = nft, paused = st.paused, grace = st.grace }
        writeJobState(id, new, st, jobIndex(id))
        schedule(id, new)
      end
      for jobId in pairs(jobs) do trim(jobId, limit) end
      written = 1
    end
  end
  out[#out + 1] = written
end
return out
