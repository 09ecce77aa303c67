-- wrk script of bench/proxy/run.sh, for every target: every request carries the
-- convergences_app cookie of the next user of COOKIES_FILE (one value per line), so that the
-- users' sessions are spread over the connections (one line: the same user every time). The requests are formatted once, at start; each thread starts at its own
-- offset.
local requests = {}
local n = 0
local i = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("offset", threads * 7919)
end

function init(args)
  local host = args[1]
  local file = assert(io.open(args[2], "r"))
  for value in file:lines() do
    if value ~= "" then
      n = n + 1
      requests[n] = wrk.format("GET", "/", { ["Host"] = host, ["Cookie"] = "convergences_app=" .. value })
    end
  end
  file:close()
  assert(n > 0, "no cookie in " .. args[2])
  i = (offset or 0) % n
end

function request()
  i = i % n + 1
  return requests[i]
end
