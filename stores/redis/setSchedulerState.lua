--[[
  Writes the scheduler-wide state and tells every process.
    ARGV[1] state JSON, ARGV[2] change notice
]]
rcall('SET', K.state, ARGV[1])
publish(ARGV[2])
return 1
