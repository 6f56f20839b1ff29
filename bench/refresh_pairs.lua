-- Refresh in pairs: each token of tokens.txt is sent twice in a row, so two of the
-- connections hold the same token at once (two tabs, or a retry racing its original).
-- Within the reuse window both get 200 and the same successor.
local tokens = {}
local index = -1

function init(args)
  for line in io.lines(os.getenv("BENCH_REFRESH_TOKENS")) do
    tokens[#tokens + 1] = line
  end
end

function request()
  index = index + 1
  local token = tokens[(math.floor(index / 2) % #tokens) + 1]
  return wrk.format("POST", "/api/v1/auth/refresh", {["Content-Type"] = "application/json"},
                    '{"refresh_token": "' .. token .. '"}')
end
