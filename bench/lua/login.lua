-- POST /api/auth/login for candidates S00000001..S<count> (sample-data's ids), round-robin, each
-- thread from its own offset. Arguments: requests per thread, candidate count, password.
dofile(os.getenv("BENCH_LUA_DIR") .. "/bounded.lua")

function init(args)
   budget = tonumber(args[1])
   start_clock()
   count = tonumber(args[2])
   password = args[3]
   next_candidate = (number - 1) * 7919 % count
end

function request()
   next_candidate = next_candidate % count + 1
   local body = string.format('{"candidate_id": "S%08d", "password": "%s"}', next_candidate, password)
   return wrk.format("POST", "/api/auth/login", {["Content-Type"] = "application/json"}, body)
end
