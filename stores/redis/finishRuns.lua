--[[
  Records run results, each fenced on its own: only while the run is running and held by the
  owner. The run of a job that no longer exists is deleted instead (and counts as written).
    ARGV[1] owner (JSON string), ARGV[2] number of finishes, then per finish: run id, status,
    started_at, finished_at, duration_ms, lag_ms, error (JSON, '' = none)
  Returns one 1/0 per finish.

  A group commit: the batch's run states and jobs are read with one HMGET each, and written with
  one call per key (run states, lease index) plus the per-job history and lease sets.
]]
local owner = ARGV[1]
local n = tonumber(ARGV[2])
local runIds = {}
for i = 1, n do runIds[i] = ARGV[3 + (i - 1) * 7] end
local states = hmget(K.runst, runIds)

local held, jobIds = {}, {}
local seen = {}
for i = 1, n do
  local runId = runIds[i]
  local s = states[i]
  if s and not seen[runId] then
    seen[runId] = true
    local f = split(s)
    if f[R_STATUS] == 'running' and f[R_NODE] == owner then
      f.jobId = cjson.decode(f[R_JOB])
      held[i] = f
      jobIds[#jobIds + 1] = f.jobId
    end
  end
end
local exists = hmget(K.jobst, jobIds)

local runst, running, gone = {}, {}, {}
local zadd, zrem = {}, {}
local out = {}
local j = 0
for i = 1, n do
  local f = held[i]
  if f == nil then
    out[i] = 0
  else
    j = j + 1
    local runId = runIds[i]
    local hist = histKey(f.jobId)
    local old = sortKey(runId, f)
    running[#running + 1] = runId
    push(zrem, jrunKey(f.jobId), runId)
    if not exists[j] then
      gone[#gone + 1] = runId
      push(zrem, hist, old)
    else
      local a = 3 + (i - 1) * 7
      f[R_STATUS], f[R_STARTED], f[R_FINISHED], f[R_DURATION], f[R_LAG], f[R_ERROR] = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
      runst[#runst + 1] = runId
      runst[#runst + 1] = joinState(f)
      local new = sortKey(runId, f)
      if new ~= old then
        push(zrem, hist, old)
        push(zadd, hist, 0, new)
      end
    end
    out[i] = 1
  end
end
bulk('ZREM', K.running, running)
bulk('HDEL', K.runs, gone)
bulk('HDEL', K.runst, gone)
flushEach('ZREM', zrem)
bulk('HSET', K.runst, runst)
flushEach('ZADD', zadd)
return out
