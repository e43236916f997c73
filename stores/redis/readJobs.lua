--[[
  Jobs by id, or a page of the listing order.
    ARGV[1] 'ids' then the ids, or 'page' then start and stop (inclusive, -1 = to the end)
  Returns { id, record JSON, job state, ... } (missing ids are left out)
]]
local ids
if ARGV[1] == 'page' then
  ids = rcall('ZRANGE', K.order, ARGV[2], ARGV[3])
else
  ids = {}
  for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local out = {}
for _, id in ipairs(ids) do
  local json = rcall('HGET', K.jobs, id)
  if json then
    out[#out + 1] = id
    out[#out + 1] = json
    out[#out + 1] = rcall('HGET', K.jobst, id)
  end
end
return out
