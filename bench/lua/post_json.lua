-- POST one JSON text per request, rotating over the given numbers.
--   wrk -s bench/lua/post_json.lua URL -- TOKEN MODE ITEMS [key] [RUN]
-- MODE "message":  ITEMS are phone-number ids  -> {"phone_number": id, "body": ...}  (POST /api/v1/messages/)
-- MODE "baseline": ITEMS are E.164 numbers     -> {"to": "+1...", "body": ...}       (POST /bench/baseline/)
-- "key" adds a unique Idempotency-Key per request (RUN keeps keys unique across runs).

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  token, mode, keyed, run = args[1], args[2], args[4] == "key", args[5] or tostring(os.time())
  items = {}
  for v in string.gmatch(args[3], "[^,]+") do table.insert(items, v) end
  counter, shown = 0, 0
end

function request()
  counter = counter + 1
  local item = items[(counter * 7 + tid * 13) % #items + 1]
  local body
  if mode == "message" then
    body = '{"phone_number": ' .. item .. ', "body": "Your unit at Bench Storage is ready. Reply with questions."}'
  else
    body = '{"to": "' .. item .. '", "body": "Your unit at Bench Storage is ready. Reply with questions."}'
  end
  local headers = {
    ["Host"] = wrk.host .. ":" .. wrk.port,
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Token " .. token,
  }
  if keyed then headers["Idempotency-Key"] = run .. "-" .. tid .. "-" .. counter end
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status >= 300 and shown < 2 then
    shown = shown + 1
    io.write("ERR " .. status .. " " .. string.sub(body, 1, 300) .. "\n")
  end
end
