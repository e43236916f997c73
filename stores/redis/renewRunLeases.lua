--[[
  Extends the leases of one owner's running runs.
    ARGV[1] owner (JSON string), ARGV[2] new lease expiry, ARGV[3..] run ids
  Returns the ids still held.
]]
local owner, expires = ARGV[1], ARGV[2]
local held = {}
for i = 3, #ARGV do
  local runId = ARGV[i]
  local f = runState(runId)
  if f and f[R_STATUS] == 'running' and f[R_NODE] == owner then
    rcall('ZADD', K.running, expires, runId)
    held[#held + 1] = runId
  end
end
return held
