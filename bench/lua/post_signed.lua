-- POST precomputed, signed Twilio webhooks (form-encoded), rotating over the lines of a file.
--   wrk -s bench/lua/post_signed.lua URL -- FILE
-- Each line of FILE: PATH <TAB> FORM_BODY <TAB> X-Twilio-Signature

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  lines = {}
  for line in io.lines(args[1]) do
    local path, body, signature = string.match(line, "^([^\t]+)\t([^\t]*)\t([^\t]+)$")
    if path then table.insert(lines, {path, body, signature}) end
  end
  counter, shown = tid * 101, 0
end

function request()
  counter = counter + 1
  local row = lines[counter % #lines + 1]
  local headers = {
    ["Host"] = wrk.host .. ":" .. wrk.port,
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = row[3],
  }
  return wrk.format("POST", row[1], headers, row[2])
end

function response(status, headers, body)
  if status >= 300 and shown < 2 then
    shown = shown + 1
    io.write("ERR " .. status .. " " .. string.sub(body, 1, 300) .. "\n")
  end
end
