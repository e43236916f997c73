--[[
  Jobs by id.
    ARGV[1..] ids
  Returns { id, record JSON, job state, ... } (missing ids are left out)
]]
local out = {}
for _, id in ipairs(ARGV) do
  local json = rcall('HGET', K.jobs, id)
  if json then
    out[#out + 1] = id
    out[#out + 1] = json
    out[#out + 1] = rcall('HGET', K.jobst, id)
  end
end
return out
