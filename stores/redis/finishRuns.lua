--[[
  Records run results, each fenced on its own: only while the run is running and held by the
  owner. The run of a job that no longer exists is deleted instead (and counts as written).
    ARGV[1] owner (JSON string), ARGV[2] number of finishes, then per finish: run id, status,
    started_at, finished_at, duration_ms, lag_ms, error (JSON, '' = none)
  Returns one 1/0 per finish.

  A group commit: the batch's run states and jobs are read with one HMGET each, and written with
  one call per key (run states, lease index, running runs per job). A run's history entry stays
  where it was written (see P:hist in _common.lua): nothing per job is written.
]]
local owner = ARGV[1]
local n = tonumber(ARGV[2])
local runIds = {}
for i = 1, n do runIds[i] = ARGV[3 + (i - 1) * 7] end
local states = hmget(K.runst, runIds)

-- Per held run: its job id and old state fields; the new state line keeps the old one's
-- scheduled_at, node and job fields, so it is built from those and the result, without a split.
local held, jobIds = {}, {}
local seen = {}
for i = 1, n do
  local runId = runIds[i]
  local s = states[i]
  if s and not seen[runId] then
    seen[runId] = true
    local status, sched, started, node, job = string.match(s, RUN_FIELDS)
    if status == 'running' and node == owner then
      local jobId = jsonString(job)
      held[i] = { jobId, sched, started, node .. '\t' .. job }
      jobIds[#jobIds + 1] = jobId
    end
  end
end
local exists = hmget(K.jobst, jobIds)

local runst, running, gone = {}, {}, {}
local zrem = {}
local jrunDrops = {}
local out = {}
local j = 0
for i = 1, n do
  local h = held[i]
  if h == nil then
    out[i] = 0
  else
    j = j + 1
    local runId = runIds[i]
    local jobId, sched, started = h[1], h[2], h[3]
    running[#running + 1] = runId
    push(jrunDrops, jobId, runId)
    if not exists[j] then
      gone[#gone + 1] = runId
      push(zrem, histKey(jobId), histEntry(runId, sched, started))
    else
      local a = 3 + (i - 1) * 7
      local m = #runst
      runst[m + 1] = runId
      runst[m + 2] = ARGV[a + 1] .. '\t' .. sched .. '\t' .. ARGV[a + 2] .. '\t' .. ARGV[a + 3] .. '\t' .. ARGV[a + 4] .. '\t' .. ARGV[a + 5] .. '\t' .. h[4] .. '\t' .. ARGV[a + 6]
    end
    out[i] = 1
  end
end
bulk('ZREM', K.running, running)
jrunApply({}, jrunDrops)
bulk('HDEL', K.runs, gone)
bulk('HDEL', K.runst, gone)
flushEach('ZREM', zrem)
bulk('HSET', K.runst, runst)
return out
