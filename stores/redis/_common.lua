--[[
  Shared by every script (the loader puts it in front of each one).

  KEYS[1] is always "<{prefix}>:jobs": every other key is built from the same hash-tagged prefix,
  so a Redis Cluster keeps all of one scheduler's keys in one slot and routes the script there.

  Layout (P = "{prefix}"):
    P:jobs      hash   job id -> job record (JSON as written; version and next times overridden by P:jobst)
    P:jobst     hash   job id -> "version\tnext_run_time\tnext_fire_time\tpaused\tgrace ms" ('' = null)
    P:jobix     hash   job id -> JSON [task name, search key of the id, search key of the name]
    P:list:<r>  zset   jobs of list rank r (0 scheduled with a next run, 1 without, 2 paused),
                       score next_run_time (-inf when null): the listing order, with ties by id
    P:flist:<r>:<task>  the same, per task name (the `func` filter)
    P:sid, P:sname  zset  "<search key>\0<id>", score 0: prefix search by id and by name
    P:overdue   zset   scheduled jobs, score next_run_time + grace: when /health calls them overdue
    P:next      zset   unpaused, unclaimed jobs with a next_run_time: what can become due
    P:claims    zset   claimed job id -> claim expiry (and SKIPLIST, see below)
    P:owners    hash   claimed job id -> claim owner (and SKIPLIST, see below)
    P:claimers  zset   owner -> when it last asked for due jobs (the workers taking turns)
    P:runs      hash   run id -> the run's trigger ('scheduled'/'manual'; older versions: the run's JSON)
    P:runst     hash   run id -> "status\tscheduled_at\tstarted_at\tfinished_at\tduration_ms\tlag_ms\tnode(JSON)\tjob(JSON)\terror(JSON)"
    P:running   zset   running run id -> lease expiry (+inf when none; and SKIPLIST, see below)
    P:jrun      hash   job id -> its running runs' ids, each as "<length>:<id>" (max_instances
                       counts: a run is live while its lease in P:running is ahead; a hash field
                       rather than a zset per job, so that a batch of fires updates it in one call;
                       and SKIPLIST, see below)
    P:hist:<job>  zset all runs of a job, score 0, member "<scheduled>:<started>:<run id>", with
                       started_at as it was when the run was written: a run that starts later keeps
                       its entry (no move per fire), so reads and trims order equal scheduled_at
                       by the run's real started_at
    P:state     string scheduler-wide state (JSON)
    P:epoch     string a token written at first open: its absence means the data was lost
    P:changes   pub/sub channel of change notices
]]
local rcall = redis.call
local P = string.sub(KEYS[1], 1, -6)
local K = {
  jobs = KEYS[1], jobst = P .. ':jobst', jobix = P .. ':jobix', next = P .. ':next',
  sid = P .. ':sid', sname = P .. ':sname', overdue = P .. ':overdue',
  claims = P .. ':claims', owners = P .. ':owners', claimers = P .. ':claimers', runs = P .. ':runs', runst = P .. ':runst',
  running = P .. ':running', jrun = P .. ':jrun', state = P .. ':state', changes = P .. ':changes'
}
local function histKey (jobId) return P .. ':hist:' .. jobId end

-- P:claims, P:running, P:owners and P:jrun hold about a batch of members at a time, the size at which
-- Redis keeps a zset or hash as a listpack (up to zset-max-listpack-entries, default 128, and
-- hash-max-listpack-entries, default 512), where every insert, delete and lookup walks the whole
-- list. A member (or a hash value) longer than zset-max-listpack-value / hash-max-listpack-value
-- (default 64 bytes) makes the key a skiplist or hash table for good, and a key that always holds
-- it is never deleted (which would start it as a listpack again). So this member, scored +inf in
-- the zsets and its own value in the hashes, is written with every batch of claims and leases. It
-- is longer than any job id (191 characters at most), and no reader takes it for a job or a run:
-- +inf is never due or lapsed, and nextWakeTime stops at it.
local SKIPLIST = string.rep('~', 256)

-- Adds the SKIPLIST member to the arguments of a ZADD (lead '+inf', its score) or an HSET (lead
-- SKIPLIST, its field) that writes anything, so every write keeps the key out of the listpack.
local function keepSkiplist (args, lead)
  if #args > 0 then args[#args + 1] = lead; args[#args + 1] = SKIPLIST end
end

-- Epoch milliseconds as the server sees them.
local function serverTime ()
  local t = rcall('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The instant a script judges by. With the server clock ruling ('1'), a caller whose clock runs
-- ahead cannot make a fire due early or a lease lapse early: the earlier of the two wins.
local function judgeNow (callerNow, serverClock)
  local now = tonumber(callerNow)
  if serverClock == '1' then
    local server = serverTime()
    if server < now then now = server end
  end
  return now
end

-- Numbers written back as text without exponent notation.
local function num (n)
  if n == math.floor(n) then return string.format('%.0f', n) end
  return tostring(n)
end

local function split (s)
  local out = {}
  for field in string.gmatch(s .. '\t', '([^\t]*)\t') do out[#out + 1] = field end
  return out
end

-- Arguments per command in the batched calls below: even (pairs never split) and well under
-- the number of values Lua's unpack can put on its stack.
local CHUNK = 4000

-- One command over many arguments (`cmd key a1 a2 ...`), in chunks: one call per batch of jobs
-- instead of one per job. Nothing is called when `args` is empty.
local function bulk (cmd, key, args)
  local n = #args
  for i = 1, n, CHUNK do
    rcall(cmd, key, unpack(args, i, math.min(i + CHUNK - 1, n)))
  end
end

-- HMGET in chunks: values by position, false where a field is missing.
local function hmget (key, fields)
  local out = {}
  local n = #fields
  for i = 1, n, CHUNK do
    local got = rcall('HMGET', key, unpack(fields, i, math.min(i + CHUNK - 1, n)))
    for j = 1, #got do out[#out + 1] = got[j] end
  end
  return out
end

-- Appends to the list kept under `key` in `t` (per-key batches: one call per key at the end).
-- One value, or a (score, member) pair: no varargs, as this runs several times per fire.
local function push (t, key, a, b)
  local list = t[key]
  if list == nil then list = {}; t[key] = list end
  local n = #list
  list[n + 1] = a
  if b ~= nil then list[n + 2] = b end
end

local function flushEach (cmd, t)
  for key, args in pairs(t) do bulk(cmd, key, args) end
end

-- P:jrun values: run ids, each as "<length>:<id>" (any id can be packed).
local function jrunPack (runId) return #runId .. ':' .. runId end
local function jrunIds (v)
  local out, i, n = {}, 1, #v
  while i <= n do
    local c = string.find(v, ':', i, true)
    local len = tonumber(string.sub(v, i, c - 1))
    out[#out + 1] = string.sub(v, c + 1, c + len)
    i = c + len + 1
  end
  return out
end

-- Adds and drops running runs of jobs (job id -> list of run ids) in P:jrun: one read and at most
-- one write and one delete for the whole batch.
local function jrunApply (adds, drops)
  local jobs = {}
  for jobId in pairs(adds) do jobs[#jobs + 1] = jobId end
  for jobId in pairs(drops) do if adds[jobId] == nil then jobs[#jobs + 1] = jobId end end
  if #jobs == 0 then return end
  local cur = hmget(K.jrun, jobs)
  local set, del = {}, {}
  for i, jobId in ipairs(jobs) do
    local v = cur[i] or ''
    local add, drop = adds[jobId], drops[jobId]
    -- The usual cases, without tables: a job's one run starts, or its one run ends.
    if add and not drop and #add == 1 and v == '' then
      v = jrunPack(add[1]); add = nil
    elseif drop and not add and #drop == 1 and v == jrunPack(drop[1]) then
      v = ''; drop = nil
    end
    if v ~= '' and (drop or add) then
      -- Rebuilt as a set: dropped ids out, added ids not twice.
      local skip = {}
      if drop then for _, runId in ipairs(drop) do skip[runId] = true end end
      if add then for _, runId in ipairs(add) do skip[runId] = true end end
      local keep = {}
      for _, runId in ipairs(jrunIds(v)) do
        if not skip[runId] then keep[#keep + 1] = jrunPack(runId) end
      end
      v = table.concat(keep)
    end
    if add then
      local seen = {}
      for _, runId in ipairs(add) do
        if not seen[runId] then seen[runId] = true; v = v .. jrunPack(runId) end
      end
    end
    if v == '' then del[#del + 1] = jobId else set[#set + 1] = jobId; set[#set + 1] = v end
  end
  keepSkiplist(set, SKIPLIST)
  bulk('HSET', K.jrun, set)
  bulk('HDEL', K.jrun, del)
end

local function jrunAdd (jobId, runId) jrunApply({ [jobId] = { runId } }, {}) end
local function jrunDrop (jobId, runId) jrunApply({}, { [jobId] = { runId } }) end

-- Running runs of a job live after `now` (lease ahead, or none), from its P:jrun value.
local function liveRuns (v, now)
  if not v then return 0 end
  local n = 0
  for _, runId in ipairs(jrunIds(v)) do
    local lease = rcall('ZSCORE', K.running, runId)
    if lease and (lease == 'inf' or tonumber(lease) > now) then n = n + 1 end
  end
  return n
end

-- Job state: version, next_run_time, next_fire_time, paused, grace (ms, for /health).
local function parseState (s)
  if not s then return nil end
  local version, nrt, nft, paused, grace = string.match(s, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)')
  return { version = tonumber(version), nrt = nrt, nft = nft, paused = paused, grace = grace }
end

local function jobState (id)
  return parseState(rcall('HGET', K.jobst, id))
end

local function stateLine (st)
  return num(st.version) .. '\t' .. st.nrt .. '\t' .. st.nft .. '\t' .. st.paused .. '\t' .. st.grace
end

local function rankOf (st)
  if st.paused == '1' then return 2 end
  if st.nrt == '' then return 1 end
  return 0
end

-- The list, task and search indexes of a job (ix: { task, id key, name key }).
local function indexJob (id, st, ix, add)
  local rank = rankOf(st)
  local lists = { P .. ':list:' .. rank, P .. ':flist:' .. rank .. ':' .. ix[1] }
  if add then
    local score = st.nrt == '' and '-inf' or st.nrt
    for _, key in ipairs(lists) do rcall('ZADD', key, score, id) end
    if rank == 0 then rcall('ZADD', K.overdue, tonumber(st.nrt) + tonumber(st.grace), id) end
    rcall('ZADD', K.sid, 0, ix[2] .. '\0' .. id)
    rcall('ZADD', K.sname, 0, ix[3] .. '\0' .. id)
  else
    for _, key in ipairs(lists) do rcall('ZREM', key, id) end
    rcall('ZREM', K.overdue, id)
    rcall('ZREM', K.sid, ix[2] .. '\0' .. id)
    rcall('ZREM', K.sname, ix[3] .. '\0' .. id)
  end
end

local function jobIndex (id)
  local ix = rcall('HGET', K.jobix, id)
  if not ix then return nil end
  return cjson.decode(ix)
end

-- Writes a job's state and moves it in the indexes (old: its state before, or nil when new).
local function writeJobState (id, st, old, ix)
  if old ~= nil then indexJob(id, old, ix, false) end
  rcall('HSET', K.jobst, id, stateLine(st))
  indexJob(id, st, ix, true)
end

-- Puts an unclaimed job where its state says: in P:next when it can become due.
local function schedule (id, st)
  if st.paused == '0' and st.nrt ~= '' then
    rcall('ZADD', K.next, st.nrt, id)
  else
    rcall('ZREM', K.next, id)
  end
end

local function dropClaim (id)
  rcall('ZREM', K.claims, id)
  rcall('HDEL', K.owners, id)
end

-- Run state fields, by position.
local R_STATUS, R_SCHED, R_STARTED, R_FINISHED, R_DURATION, R_LAG, R_NODE, R_JOB, R_ERROR = 1, 2, 3, 4, 5, 6, 7, 8, 9

-- Status, scheduled_at, started_at, node and job id of a run state line: one match instead of a
-- split and a JSON decode (the fire path reads these per run).
local RUN_FIELDS = '^([^\t]*)\t([^\t]*)\t([^\t]*)\t[^\t]*\t[^\t]*\t[^\t]*\t([^\t]*)\t([^\t]*)'
local function jsonString (json)
  if string.find(json, '\\', 1, true) then return cjson.decode(json) end
  return string.sub(json, 2, -2)
end
local function runFields (s)
  local status, sched, started, node, job = string.match(s, RUN_FIELDS)
  return status, sched, started, node, jsonString(job)
end

local function runState (runId)
  local s = rcall('HGET', K.runst, runId)
  if not s then return nil end
  local f = split(s)
  f.jobId = cjson.decode(f[R_JOB])
  return f
end

local function joinState (f)
  return table.concat({ f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9] }, '\t')
end

-- History order: scheduled_at, then started_at (null first), then run id. Entries are fixed width
-- so that the byte order of members is that order, for started_at as written with the run.
-- (The client builds the same entries for the runs it releases: historyEntry in stores/redis.ts.)
-- A whole number of milliseconds below 1e15, as the client writes it, is padded without a
-- string.format (two per finished run of a removed job, and a C printf of a float is dear).
local function pad (v)
  if type(v) == 'string' and #v <= 15 and string.find(v, '^[1-9]%d*$') then return '01' .. string.rep('0', 15 - #v) .. v end
  return string.format('%017.0f', tonumber(v) + 1e15)
end
local function histEntry (runId, sched, started)
  return pad(sched) .. ':' .. (started == '' and '0' or ('1' .. pad(started))) .. ':' .. runId
end
local function sortKey (runId, f)
  return histEntry(runId, f[R_SCHED], f[R_STARTED])
end
local function runIdOf (member)
  return string.match(member, '^[^:]*:[^:]*:(.*)$')
end
-- The padded scheduled_at a member starts with, and the end of that range for ZRANGEBYLEX (';'
-- follows ':').
local function schedOf (member) return string.sub(member, 1, 17) end

-- True history order of runs { member, sched, started (number or false), id } that share the
-- entries' order except among equal scheduled_at, where the real started_at decides.
local function histBefore (a, b)
  if a.sched ~= b.sched then return a.sched < b.sched end
  if a.started ~= b.started then
    if a.started == false then return true end
    if b.started == false then return false end
    return a.started < b.started
  end
  return a.id < b.id
end
local function histItem (member, state)
  local _, _, started = runFields(state)
  return { member = member, sched = schedOf(member), started = started ~= '' and tonumber(started), id = runIdOf(member) }
end

-- A run's history member: from its state while running (started_at is still as written), else
-- found among the entries of its scheduled_at.
local function histMember (runId, f)
  if f[R_STATUS] == 'running' then return sortKey(runId, f) end
  local at = pad(f[R_SCHED])
  for _, member in ipairs(rcall('ZRANGEBYLEX', histKey(f.jobId), '[' .. at .. ':', '(' .. at .. ';')) do
    if runIdOf(member) == runId then return member end
  end
  return sortKey(runId, f)
end

local function dropRun (runId, f, member)
  rcall('HDEL', K.runs, runId)
  rcall('HDEL', K.runst, runId)
  rcall('ZREM', histKey(f.jobId), member or histMember(runId, f))
  rcall('ZREM', K.running, runId)
  jrunDrop(f.jobId, runId)
end

-- Stores a run (replacing one with the same id). lease: '' = none.
local function putRun (runId, json, state, lease)
  local old = runState(runId)
  if old then dropRun(runId, old) end
  local f = split(state)
  f.jobId = cjson.decode(f[R_JOB])
  rcall('HSET', K.runs, runId, json)
  rcall('HSET', K.runst, runId, state)
  rcall('ZADD', histKey(f.jobId), 0, sortKey(runId, f))
  if f[R_STATUS] == 'running' then
    local score = lease == '' and '+inf' or lease
    rcall('ZADD', K.running, score, runId, '+inf', SKIPLIST)
    jrunAdd(f.jobId, runId)
  end
end

-- `members`: the first need + 1 entries of a job's history (oldest first, or with `newest` newest
-- first). Cut where a scheduled_at ends, since entries order equal scheduled_at by started_at as
-- written: the extra entry goes, or, when it shares the last one's scheduled_at, the rest of that
-- scheduled_at is read too.
local function toSchedBoundary (key, members, need, newest)
  if #members <= need then return members end
  local at = schedOf(members[need])
  if schedOf(members[need + 1]) ~= at then
    members[need + 1] = nil
  elseif newest then
    for _, m in ipairs(rcall('ZREVRANGEBYLEX', key, '(' .. members[need + 1], '[' .. at .. ':')) do members[#members + 1] = m end
  else
    for _, m in ipairs(rcall('ZRANGEBYLEX', key, '(' .. members[need + 1], '(' .. at .. ';')) do members[#members + 1] = m end
  end
  return members
end

-- Drops the oldest finished runs of each job in `jobs` (a set of ids) until at most `limit` runs
-- remain; running runs count but are never dropped. The runs' records go in one call per hash.
local function trimJobs (jobs, limit)
  if limit < 0 then return end
  local dropIds = {}
  for jobId in pairs(jobs) do
    local key = histKey(jobId)
    local excess = rcall('ZCARD', key) - limit
    if excess > 0 then
      -- Read from the oldest until `excess` finished runs are in hand, then drop the oldest
      -- finished ones in true history order.
      local items, finished, offset = {}, 0, 0
      while finished < excess do
        local need = excess - finished
        local members = toSchedBoundary(key, rcall('ZRANGE', key, offset, offset + need), need, false)
        if #members == 0 then break end
        offset = offset + #members
        local ids = {}
        for i = 1, #members do ids[i] = runIdOf(members[i]) end
        local states = hmget(K.runst, ids)
        for i = 1, #members do
          local s = states[i]
          -- A history entry whose record is gone counts as finished.
          local item = s and histItem(members[i], s) or { member = members[i], sched = schedOf(members[i]), started = false, id = ids[i] }
          item.running = s and string.sub(s, 1, 8) == 'running\t'
          if not item.running then finished = finished + 1 end
          items[#items + 1] = item
        end
      end
      if #items > 1 then table.sort(items, histBefore) end
      local gone = {}
      for _, item in ipairs(items) do
        if excess == 0 then break end
        if not item.running then
          -- Finished: in no lease index; its record goes.
          gone[#gone + 1] = item.member
          dropIds[#dropIds + 1] = item.id
          excess = excess - 1
        end
      end
      bulk('ZREM', key, gone)
    end
  end
  bulk('HDEL', K.runs, dropIds)
  bulk('HDEL', K.runst, dropIds)
end

local function trim (jobId, limit)
  trimJobs({ [jobId] = true }, limit)
end

-- Deletes a job with its finished history (running runs stay until they finish).
local function deleteJob (id)
  local st = jobState(id)
  if st == nil then return false end
  indexJob(id, st, jobIndex(id), false)
  rcall('HDEL', K.jobs, id)
  rcall('HDEL', K.jobst, id)
  rcall('HDEL', K.jobix, id)
  rcall('ZREM', K.next, id)
  dropClaim(id)
  local key = histKey(id)
  for _, member in ipairs(rcall('ZRANGE', key, 0, -1)) do
    local runId = runIdOf(member)
    local f = runState(runId)
    if f == nil then
      rcall('ZREM', key, member)
    elseif f[R_STATUS] ~= 'running' then
      dropRun(runId, f, member)
    end
  end
  return true
end

local function publish (message)
  if message ~= '' then rcall('PUBLISH', K.changes, message) end
end
