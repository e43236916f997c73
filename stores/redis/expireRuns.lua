--[[
  Marks every running run whose lease lapsed (expiry <= now) abandoned, finished now. Runs of jobs
  that no longer exist are deleted, but still returned.
    ARGV[1] caller's now, ARGV[2] '1' when the server clock rules
  Returns { now, run id, record (trigger), state, ... }
]]
local now = judgeNow(ARGV[1], ARGV[2])
local out = { num(now) }
for _, runId in ipairs(rcall('ZRANGEBYSCORE', K.running, '-inf', now)) do
  local f = runState(runId)
  if f == nil then
    rcall('ZREM', K.running, runId)
  else
    local json = rcall('HGET', K.runs, runId)
    local member = sortKey(runId, f)
    rcall('ZREM', K.running, runId)
    jrunDrop(f.jobId, runId)
    f[R_STATUS], f[R_FINISHED] = 'abandoned', num(now)
    local state = joinState(f)
    if rcall('HEXISTS', K.jobs, f.jobId) == 0 then
      dropRun(runId, f, member)
    else
      rcall('HSET', K.runst, runId, state)
    end
    out[#out + 1] = runId
    out[#out + 1] = json
    out[#out + 1] = state
  end
end
return out
