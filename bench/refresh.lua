-- Each request spends one refresh token from tokens.txt (rotation makes them single-use).
local tokens = {}
local index = 0
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("offset", thread_count - 1)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_REFRESH_TOKENS")) do
    tokens[#tokens + 1] = line
  end
  index = offset
end

function request()
  index = index + 1
  local token = tokens[(index % #tokens) + 1]
  return wrk.format("POST", "/api/v1/auth/refresh", {["Content-Type"] = "application/json"},
                    '{"refresh_token": "' .. token .. '"}')
end
