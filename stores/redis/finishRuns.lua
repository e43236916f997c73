--[[
  Records run results, each fenced on its own: only while the run is running and held by the
  owner. The run of a job that no longer exists is deleted instead (and counts as written).
    ARGV[1] owner (JSON string), ARGV[2] number of finishes, then per finish: run id, status,
    started_at, finished_at, duration_ms, lag_ms, error (JSON, '' = none)
  Returns one 1/0 per finish.
]]
local owner = ARGV[1]
local out = {}
for a = 3, 3 + (tonumber(ARGV[2]) - 1) * 7, 7 do
  local runId = ARGV[a]
  local f = runState(runId)
  if f == nil or f[R_STATUS] ~= 'running' or f[R_NODE] ~= owner then
    out[#out + 1] = 0
  elseif rcall('HEXISTS', K.jobs, f.jobId) == 0 then
    dropRun(runId, f)
    out[#out + 1] = 1
  else
    rcall('ZREM', K.running, runId)
    rcall('ZREM', jrunKey(f.jobId), runId)
    rcall('ZREM', histKey(f.jobId), sortKey(runId, f))
    f[R_STATUS], f[R_STARTED], f[R_FINISHED], f[R_DURATION], f[R_LAG], f[R_ERROR] = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
    rcall('HSET', K.runst, runId, joinState(f))
    rcall('ZADD', histKey(f.jobId), 0, sortKey(runId, f))
    out[#out + 1] = 1
  end
end
return out
