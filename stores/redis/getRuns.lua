--[[
  A job's runs, newest first.
    ARGV[1] job id, ARGV[2] limit (-1 = all)
  Returns { run id, record (trigger), state, lease ('' = none), ... }
]]
local limit = tonumber(ARGV[2])
if limit == 0 then return {} end
local key = histKey(ARGV[1])
local members = rcall('ZREVRANGE', key, 0, limit < 0 and -1 or limit)
if limit > 0 then toSchedBoundary(key, members, limit, true) end
local items = {}
for _, member in ipairs(members) do
  local runId = runIdOf(member)
  local json = rcall('HGET', K.runs, runId)
  if json then
    local state = rcall('HGET', K.runst, runId)
    local item = histItem(member, state)
    item.json, item.state = json, state
    items[#items + 1] = item
  end
end
table.sort(items, function (a, b) return histBefore(b, a) end)
local out = {}
for i, item in ipairs(items) do
  if limit > 0 and i > limit then break end
  local lease = rcall('ZSCORE', K.running, item.id)
  out[#out + 1] = item.id
  out[#out + 1] = item.json
  out[#out + 1] = item.state
  out[#out + 1] = (lease == false or lease == 'inf') and '' or lease
end
return out
