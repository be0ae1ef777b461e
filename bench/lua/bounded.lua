-- Shared by the wrk scripts, loaded at the top of each (path from $BENCH_LUA_DIR). The script's
-- init() sets `budget`: each thread stops after that many answers. wrk itself always runs for its
-- -d duration, so the time is measured here (monotonic clock, through LuaJIT's FFI): from the
-- first thread's start to the last answer. The summary is one JSON line (times in microseconds)
-- for bench/load.py. Each thread gets `number` (1, 2, ...) to start its round-robin elsewhere.

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("bench_timespec")

local function now_us()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
   return tonumber(timespec.tv_sec) * 1000000 + math.floor(tonumber(timespec.tv_nsec) / 1000)
end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("number", #threads)
end

answered = 0
started_us = nil
last_us = nil

function start_clock()
   started_us = now_us()
end

function response(status, headers, body)
   answered = answered + 1
   last_us = now_us()
   if answered >= budget then
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local first, last, total = nil, 0, 0
   for _, thread in ipairs(threads) do
      local started, ended = thread:get("started_us"), thread:get("last_us")
      if started ~= nil and (first == nil or started < first) then first = started end
      if ended ~= nil and ended > last then last = ended end
      total = total + thread:get("answered")
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "answered": %d, "measured_us": %d, "wrk_duration_us": %d, "bytes": %d, ' ..
      '"non_2xx": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, ' ..
      '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
      summary.requests, total, last - (first or last), summary.duration, summary.bytes, e.status, e.connect,
      e.read, e.write, e.timeout, latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max))
end
