--[[
  The earliest instant at which something may need doing: the earliest next_run_time of an
  unclaimed schedulable job, the expiry of a claim on a schedulable job (or its next_run_time, if
  later), or the earliest lease expiry of a running run.
    ARGV[1] caller's now, ARGV[2] '1' when the server clock rules
  Returns { now, wake time or '' }
]]
local now = judgeNow(ARGV[1], ARGV[2])
local best = nil
local first = rcall('ZRANGE', K.next, 0, 0, 'WITHSCORES')
if #first > 0 then best = tonumber(first[2]) end
local offset = 0
while true do
  local claims = rcall('ZRANGE', K.claims, offset, offset + 99, 'WITHSCORES')
  if #claims == 0 then break end
  local done = false
  for i = 1, #claims, 2 do
    if claims[i] == SKIPLIST then done = true break end
    local expires = tonumber(claims[i + 1])
    if best ~= nil and expires >= best then done = true break end
    local st = jobState(claims[i])
    if st and st.paused == '0' and st.nrt ~= '' then
      local at = math.max(tonumber(st.nrt), expires)
      if best == nil or at < best then best = at end
    end
  end
  if done then break end
  offset = offset + 100
end
local run = rcall('ZRANGE', K.running, 0, 0, 'WITHSCORES')
if #run > 0 and run[2] ~= 'inf' then
  local expires = tonumber(run[2])
  if best == nil or expires < best then best = expires end
end
return { num(now), best == nil and '' or num(best) }
