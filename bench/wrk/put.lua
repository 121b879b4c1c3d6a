-- Put Blob of SIZE bytes to unique names: <prefix>-<thread id>-<counter>.
-- args: <container path, e.g. /devstoreaccount1/bench> <query (SAS) or -> <size> <name prefix>
package.path = debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua;" .. package.path
local common = require("common")
setup = common.setup
done = common.done

local counter = 0
local path, query, body, prefix

function init(args)
   path = args[1]
   query = args[2]
   body = string.rep("p", tonumber(args[3]))
   prefix = args[4] .. "-" .. tostring(tid)
end

function request()
   counter = counter + 1
   -- wrk.format sets Content-Length from the body; a fresh header table each time.
   local headers = {
      ["x-ms-blob-type"] = "BlockBlob",
      ["x-ms-version"] = "2021-08-06",
   }
   return wrk.format("PUT", common.join(path .. "/" .. prefix .. "-" .. counter, query), headers, body)
end
