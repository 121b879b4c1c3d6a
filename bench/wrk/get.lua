-- Get Blob of random names among <prefix>-0 .. <prefix>-(N-1), uploaded beforehand.
-- args: <container path> <query (SAS) or -> <N> <name prefix>
package.path = debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua;" .. package.path
local common = require("common")
setup = common.setup
done = common.done

local reqs = {}
local n

function init(args)
   local path, query, prefix = args[1], args[2], args[4]
   n = tonumber(args[3])
   math.randomseed(os.time() * 1000 + tid)
   for i = 0, n - 1 do
      reqs[i + 1] = wrk.format("GET", common.join(path .. "/" .. prefix .. "-" .. i, query),
         { ["x-ms-version"] = "2021-08-06" }, nil)
   end
end

function request()
   return reqs[math.random(n)]
end
