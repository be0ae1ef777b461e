-- GET /api/results/me with the access tokens in a file (one a line), round-robin, each thread from
-- its own offset. Arguments: requests per thread, the tokens file.
dofile(os.getenv("BENCH_LUA_DIR") .. "/bounded.lua")

function init(args)
   budget = tonumber(args[1])
   start_clock()
   tokens = {}
   for line in io.lines(args[2]) do
      table.insert(tokens, line)
   end
   next_token = (number - 1) * 7919 % #tokens
end

function request()
   next_token = next_token % #tokens + 1
   return wrk.format("GET", "/api/results/me", {["Authorization"] = "Bearer " .. tokens[next_token]})
end
