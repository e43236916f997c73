--[[
  A page of jobs in list order (rank, next_run_time, id) matching the filters, and their count.
  Without a search the page is read straight off the rank lists (per task when filtered by task);
  with one, the matches of the two prefix ranges are filtered and ordered here.
    ARGV[1] offset, ARGV[2] limit (-1 = none), ARGV[3] lowest rank, ARGV[4] highest rank,
    ARGV[5] task ('' = any), ARGV[6] search key ('' = none)
  Returns { total, id, record JSON, job state, ... }
]]
local offset, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local lo, hi, func, q = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
local function listKey (rank)
  if func == '' then return P .. ':list:' .. rank end
  return P .. ':flist:' .. rank .. ':' .. func
end

local ids = {}
local total = 0
if q == '' then
  for rank = lo, hi do total = total + rcall('ZCARD', listKey(rank)) end
  local skip, want = offset, limit
  for rank = lo, hi do
    if want == 0 then break end
    local size = rcall('ZCARD', listKey(rank))
    if skip >= size then
      skip = skip - size
    else
      local stop = want < 0 and -1 or skip + want - 1
      local got = rcall('ZRANGE', listKey(rank), skip, stop)
      for _, id in ipairs(got) do ids[#ids + 1] = id end
      if want > 0 then want = want - #got end
      skip = 0
    end
  end
else
  local seen, found = {}, {}
  for _, key in ipairs({ K.sid, K.sname }) do
    for _, member in ipairs(rcall('ZRANGEBYLEX', key, '[' .. q, '(' .. q .. '\255')) do
      local id = string.match(member, '^[^%z]*%z(.*)$')
      if id and not seen[id] then
        seen[id] = true
        local st = jobState(id)
        local ix = jobIndex(id)
        if st and ix then
          local rank = rankOf(st)
          if rank >= lo and rank <= hi and (func == '' or ix[1] == func) then
            found[#found + 1] = { id = id, rank = rank, at = st.nrt == '' and -math.huge or tonumber(st.nrt) }
          end
        end
      end
    end
  end
  table.sort(found, function (a, b)
    if a.rank ~= b.rank then return a.rank < b.rank end
    if a.at ~= b.at then return a.at < b.at end
    return a.id < b.id
  end)
  total = #found
  for i = offset + 1, #found do
    if limit >= 0 and #ids >= limit then break end
    ids[#ids + 1] = found[i].id
  end
end

local out = { total }
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = rcall('HGET', K.jobs, id)
  out[#out + 1] = rcall('HGET', K.jobst, id)
end
return out
