--[[
  Ids of scheduled jobs overdue by more than their grace, longest overdue first.
    ARGV[1] now, ARGV[2] limit
]]
return rcall('ZRANGEBYSCORE', K.overdue, '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
