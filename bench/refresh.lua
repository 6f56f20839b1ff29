-- Each request spends one refresh token from tokens.txt (rotation makes them single-use).
-- authsvc's route and body field by default; BENCH_REFRESH_PATH and BENCH_REFRESH_FIELD
-- name another service's (simplejwt: /api/token/refresh/ and "refresh").
local tokens = {}
local index = 0
local thread_count = 0
local path = os.getenv("BENCH_REFRESH_PATH") or "/api/v1/auth/refresh"
local field = os.getenv("BENCH_REFRESH_FIELD") or "refresh_token"

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
  return wrk.format("POST", path, {["Content-Type"] = "application/json"},
                    '{"' .. field .. '": "' .. token .. '"}')
end
