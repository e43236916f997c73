--[[
  Inserts run records (replacing runs with the same id), then trims each touched job's history.
  A finished run of a job that no longer exists is not kept: nothing would ever clean it up.
    ARGV[1] history limit (-1 = none), ARGV[2] number of runs, then per run:
      run id, trigger, state, lease ('' = none)
]]
local limit = tonumber(ARGV[1])
local jobs = {}
for r = 3, 3 + (tonumber(ARGV[2]) - 1) * 4, 4 do
  local f = split(ARGV[r + 2])
  local jobId = cjson.decode(f[R_JOB])
  if f[R_STATUS] == 'running' or rcall('HEXISTS', K.jobs, jobId) == 1 then
    putRun(ARGV[r], ARGV[r + 1], ARGV[r + 2], ARGV[r + 3])
    jobs[jobId] = true
  end
end
for jobId in pairs(jobs) do trim(jobId, limit) end
return 1
