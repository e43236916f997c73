--[[
  Inserts a job unless its id exists.
    ARGV[1] id, ARGV[2] record JSON, ARGV[3] version, ARGV[4] next_run_time ('' = null),
    ARGV[5] next_fire_time, ARGV[6] paused ('1'/'0'), ARGV[7] grace ms, ARGV[8] index JSON
    [task, id search key, name search key], ARGV[9] change notice to publish
  Returns 1 when added, 0 when the id exists.
]]
local id = ARGV[1]
if rcall('HSETNX', K.jobs, id, ARGV[2]) == 0 then return 0 end
local st = { version = tonumber(ARGV[3]), nrt = ARGV[4], nft = ARGV[5], paused = ARGV[6], grace = ARGV[7] }
rcall('HSET', K.jobix, id, ARGV[8])
writeJobState(id, st, nil, cjson.decode(ARGV[8]))
schedule(id, st)
publish(ARGV[9])
return 1
