-- Populate a container with COUNT empty blobs per wrk thread: the fast way to fill a
-- container with millions of blobs for the listing and Find Blobs by Tags workloads.
-- Names are <prefix>-<thread id>-<counter, 9 digits>. With tags, every blob gets
-- tenant=t<counter mod 1000>&shard=s<counter mod 16>&id=<thread id>-<counter>, as the
-- partition layer's find_by_tags example does.
-- args: <container path> <query (SAS)> <count per thread> <name prefix> <tags|-> <marker path>
-- Once a thread has sent its count it sends Get Container Properties (harmless); when its last
-- Put is answered it writes "<answered> <failed>" to <marker path>.<thread id>, and the caller
-- (bench.py's wrk_fill) ends wrk with SIGINT once every thread has. wrk's -d bounds the run.
package.path = debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua;" .. package.path
local common = require("common")
setup = common.setup
done = common.done

local sent, answered, failed = 0, 0, 0
local reported, checked = false, false
local path, query, count, prefix, tagged, marker

function init(args)
   path = args[1]
   query = args[2]
   count = tonumber(args[3])
   prefix = args[4] .. "-" .. tostring(tid)
   tagged = args[5] == "tags"
   marker = args[6] .. "." .. tostring(tid)
end

-- Get Container Properties: a request that creates nothing.
local function harmless()
   return wrk.format("GET", common.join(path, "restype=container&" .. query), { ["x-ms-version"] = "2021-08-06" })
end

function request()
   -- wrk calls thread 0's request() once before connecting, to check the script, and drops
   -- what it returns: give it (and so no blob) a harmless request.
   if tid == 0 and not checked then
      checked = true
      return harmless()
   end
   if sent >= count then
      return harmless()
   end
   sent = sent + 1
   local headers = {
      ["x-ms-blob-type"] = "BlockBlob",
      ["x-ms-version"] = "2021-08-06",
   }
   if tagged then
      headers["x-ms-tags"] = string.format("tenant=t%d&shard=s%d&id=%d-%d", sent % 1000, sent % 16, tid, sent)
   end
   -- An empty body, not none: wrk.format then sends Content-Length: 0.
   return wrk.format("PUT", common.join(path .. "/" .. string.format("%s-%09d", prefix, sent), query), headers, "")
end

function response(status, headers, body)
   if status == 201 then
      answered = answered + 1
   elseif status ~= 200 then
      failed = failed + 1
   end
   if answered + failed == count and not reported then
      reported = true
      local f = io.open(marker, "w")
      f:write(string.format("%d %d\n", answered, failed))
      f:close()
   end
end
