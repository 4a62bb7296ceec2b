-- wrk script of bench/http_reserve.py: POST reserve, a unique Idempotency-Key per request,
-- item ids round-robin (each wrk thread takes every THREADS-th id, so threads do not collide).
--   wrk -s wrk_reserve.lua URL -- IDS_FILE API_KEY RUN_TOKEN THREADS
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
  key_prefix = args[3] .. "-" .. thread_no .. "-"
  threads = tonumber(args[4])
  sent = 0
  body = '{"quantity":1,"eventId":"bench-event"}'
end

function request()
  local slot = (sent * threads + thread_no) % #ids
  sent = sent + 1
  return wrk.format("POST", "/InventoryItem/" .. ids[slot + 1] .. "/commands/reserve", {
    ["Content-Type"] = "application/json",
    ["X-API-Key"] = api_key,
    ["Idempotency-Key"] = key_prefix .. sent,
  }, body)
end

dofile(os.getenv("WRK_REPORT_LUA"))
