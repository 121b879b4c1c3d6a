-- Mixed read/write: READ_PCT % Get Blob of random pre-uploaded blobs <prefix>-0..N-1,
-- the rest Put Blob of SIZE bytes to unique names <put prefix>-<thread>-<counter>.
-- args: <container path> <get query or -> <N> <get prefix> <put query or -> <size> <put prefix> <read pct>
package.path = debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua;" .. package.path
local common = require("common")
setup = common.setup
done = common.done

local gets = {}
local n, path, put_query, body, put_prefix, read_pct
local counter = 0

function init(args)
   path = args[1]
   local get_query, get_prefix = args[2], args[4]
   n = tonumber(args[3])
   put_query = args[5]
   body = string.rep("m", tonumber(args[6]))
   put_prefix = args[7] .. "-" .. tostring(tid)
   read_pct = tonumber(args[8])
   math.randomseed(os.time() * 1000 + tid)
   for i = 0, n - 1 do
      gets[i + 1] = wrk.format("GET", common.join(path .. "/" .. get_prefix .. "-" .. i, get_query),
         { ["x-ms-version"] = "2021-08-06" }, nil)
   end
end

function request()
   if math.random(100) <= read_pct then
      return gets[math.random(n)]
   end
   counter = counter + 1
   local headers = { ["x-ms-blob-type"] = "BlockBlob", ["x-ms-version"] = "2021-08-06" }
   return wrk.format("PUT", common.join(path .. "/" .. put_prefix .. "-" .. counter, put_query), headers, body)
end
