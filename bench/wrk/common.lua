-- Shared by the wrk scripts of the Lazuli benchmark (bench/README.md).
-- Each script is run as:
--   wrk -t T -c C -d D --timeout 10s -s <script>.lua http://127.0.0.1:<port> -- <args...>
-- and prints one machine-readable line from done():
--   BENCHJSON {"requests":..,"rps":..,"p50_ms":..,"p99_ms":..,"p999_ms":..,"err_status":..,...}
-- Percentiles come from wrk's own latency histogram (microseconds).

local M = {}

-- Thread ids handed out in setup() (runs in the main Lua state, once per thread).
local next_tid = 0
function M.setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
end

function M.done(summary, latency, requests)
   local dur = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      'BENCHJSON {"requests":%d,"duration_s":%.6f,"bytes":%d,"rps":%.3f,' ..
      '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
      '"p50_ms":%.4f,"p90_ms":%.4f,"p99_ms":%.4f,"p999_ms":%.4f,"mean_ms":%.4f,"max_ms":%.4f}\n',
      summary.requests, dur, summary.bytes, summary.requests / dur,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
      latency.mean / 1000, latency.max / 1000))
end

-- "a=b&c" style suffix: the SAS token for Lazuli/Azurite, "size=N" for the ceiling.
function M.join(path, query)
   if query == nil or query == "" or query == "-" then return path end
   return path .. "?" .. query
end

return M
