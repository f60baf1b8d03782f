-- wrk script for the Canopy HTTP benchmark.
-- wrk -t THREADS -s wrk.lua URL -- FILE MODE THREADS
--   FILE: one request a line, tab-separated: METHOD, PATH, BODY ("" for none), then headers "Name: value".
--         Thread k of n takes lines k, k+n, k+2n, ... so no two threads send the same request.
--   MODE: "stop" ends a thread once every one of its requests was answered (each request once);
--         "cycle" starts its list again (a hot spot hit over and over).
-- done() prints one line, BENCH {json}, with the counts, latency percentiles and status codes.

local threads = {}
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local timespec = ffi.new("bench_timespec")

-- Microseconds on the monotonic clock (shared by all threads): a thread that stops early still
-- gives the true span from the first request sent to the last response.
local function now_us()
  ffi.C.clock_gettime(1, timespec)
  return tonumber(timespec.tv_sec) * 1000000 + math.floor(tonumber(timespec.tv_nsec) / 1000)
end

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file, mode = args[1], args[2]
  local nthreads = tonumber(args[3])
  requests = {}
  local n = 0
  for line in io.lines(file) do
    if n % nthreads == id then
      local fields = {}
      for field in (line .. "\t"):gmatch("([^\t]*)\t") do
        table.insert(fields, field)
      end
      local headers = {}
      for k = 4, #fields do
        local name, value = fields[k]:match("^([^:]+): (.*)$")
        if name then
          headers[name] = value
        end
      end
      local body = nil
      if fields[3] ~= "" then
        body = fields[3]
      end
      table.insert(requests, wrk.format(fields[1], fields[2], headers, body))
    end
    n = n + 1
  end
  stop_at_end = mode == "stop"
  index = 0
  answered = 0
  wrapped = 0
  statuses = {}
  first_us = 0
  last_us = 0
end

function request()
  if first_us == 0 then
    first_us = now_us()
  end
  index = index + 1
  if index > #requests then
    index = 1
    wrapped = 1
  end
  return requests[index]
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  answered = answered + 1
  last_us = now_us()
  if stop_at_end and answered >= #requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local counts = {}
  local any_wrapped = 0
  local first, last = nil, 0
  for _, thread in ipairs(threads) do
    local statuses = thread:get("statuses")
    for code, count in pairs(statuses) do
      counts[code] = (counts[code] or 0) + count
    end
    local started = thread:get("first_us")
    if started > 0 and (first == nil or started < first) then
      first = started
    end
    last = math.max(last, thread:get("last_us"))
    if thread:get("wrapped") == 1 then
      any_wrapped = 1
    end
  end
  local parts = {}
  for code, count in pairs(counts) do
    table.insert(parts, string.format('"%s": %d', code, count))
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"span_us": %d, "socket_errors": %d, "wrapped": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max, (first and last > first) and (last - first) or 0,
    errors.connect + errors.read + errors.write + errors.timeout, any_wrapped, table.concat(parts, ", ")))
end
