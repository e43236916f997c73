--[[
  A job's runs, newest first.
    ARGV[1] job id, ARGV[2] limit (-1 = all)
  Returns { run id, record (trigger), state, lease ('' = none), ... }
]]
local limit = tonumber(ARGV[2])
if limit == 0 then return {} end
local out = {}
for _, member in ipairs(rcall('ZREVRANGE', histKey(ARGV[1]), 0, limit < 0 and -1 or limit - 1)) do
  local runId = runIdOf(member)
  local json = rcall('HGET', K.runs, runId)
  if json then
    local lease = rcall('ZSCORE', K.running, runId)
    out[#out + 1] = runId
    out[#out + 1] = json
    out[#out + 1] = rcall('HGET', K.runst, runId)
    out[#out + 1] = (lease == false or lease == 'inf') and '' or lease
  end
end
return out
