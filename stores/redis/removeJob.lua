--[[
  Deletes a job and its finished history.
    ARGV[1] id, ARGV[2] change notice
  Returns 1 when the job existed.
]]
if not deleteJob(ARGV[1]) then return 0 end
publish(ARGV[2])
return 1
