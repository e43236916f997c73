--[[
  Records a run's result, fenced: only while the run is running and held by the owner. The run of
  a job that no longer exists is deleted instead.
    ARGV[1] run id, ARGV[2] owner (JSON string), ARGV[3] status, ARGV[4] started_at,
    ARGV[5] finished_at, ARGV[6] duration_ms, ARGV[7] lag_ms, ARGV[8] error (JSON)
  Returns 1 when recorded, 0 when fenced out.
]]
local runId = ARGV[1]
local f = runState(runId)
if f == nil or f[R_STATUS] ~= 'running' or f[R_NODE] ~= ARGV[2] then return 0 end
if rcall('HEXISTS', K.jobs, f.jobId) == 0 then
  dropRun(runId, f)
  return 1
end
rcall('ZREM', K.running, runId)
rcall('ZREM', jrunKey(f.jobId), runId)
rcall('ZREM', histKey(f.jobId), sortKey(runId, f))
f[R_STATUS], f[R_STARTED], f[R_FINISHED], f[R_DURATION], f[R_LAG], f[R_ERROR] = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
rcall('HSET', K.runst, runId, joinState(f))
rcall('ZADD', histKey(f.jobId), 0, sortKey(runId, f))
return 1
