--[[
  Replaces a job's record whole and bumps its version. A claim on the job survives: its holder
  notices the new version when it releases.
    ARGV[1] id, ARGV[2] record JSON, ARGV[3] next_run_time, ARGV[4] next_fire_time, ARGV[5] paused,
    ARGV[6] grace ms, ARGV[7] index JSON, ARGV[8] expected version ('' = any), ARGV[9] change notice
  Returns the new version, or false when the job is missing or the version differs.
]]
local id = ARGV[1]
local st = jobState(id)
if st == nil then return false end
if ARGV[8] ~= '' and tonumber(ARGV[8]) ~= st.version then return false end
local new = { version = st.version + 1, nrt = ARGV[3], nft = ARGV[4], paused = ARGV[5], grace = ARGV[6] }
indexJob(id, st, jobIndex(id), false)
rcall('HSET', K.jobs, id, ARGV[2])
rcall('HSET', K.jobix, id, ARGV[7])
writeJobState(id, new, nil, cjson.decode(ARGV[7]))
if rcall('HEXISTS', K.owners, id) == 0 then schedule(id, new) end
publish(ARGV[9])
return new.version
