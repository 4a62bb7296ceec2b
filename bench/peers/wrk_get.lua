-- wrk script of bench/http_reserve.py: GET one item, ids round-robin as in wrk_reserve.lua.
--   wrk -s wrk_get.lua URL -- IDS_FILE API_KEY RUN_TOKEN THREADS
local thread_count = 0

function setup(thread)
  thread:set("thread_no", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  ids = {}
  for line in io.lines(args[1]) do
    ids[#ids + 1] = line
  end
  api_key = args[2]
  threads = tonumber(args[4])
  sent = 0
end

function request()
  local slot = (sent * threads + thread_no) % #ids
  sent = sent + 1
  return wrk.format("GET", "/InventoryItem/" .. ids[slot + 1], { ["X-API-Key"] = api_key })
end

dofile(os.getenv("WRK_REPORT_LUA"))
