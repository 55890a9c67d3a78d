-- smartlead.mock.limiter: the per-key rate limit (knob rate_limit) and its 429 answer.
local json = require "smartlead.json"
local answers = require "smartlead.mock.answers"

local M = { methods = {} }
local S = M.methods -- methods of the mock server

-- Knob rate_limit = {requests=, per=, retry_after=}; nil or null turns the limit off.
function M.normalize(rl)
  if not rl or rl == json.null then return nil end
  assert(type(rl) == "table", "rate_limit must be an object")
  assert(math.type(rl.requests) == "integer" and rl.requests >= 1, "rate_limit.requests must be an integer >= 1")
  assert(type(rl.per) == "number" and rl.per > 0, "rate_limit.per must be a positive number")
  assert(rl.retry_after == nil or type(rl.retry_after) == "boolean", "rate_limit.retry_after must be a boolean")
  return { requests = rl.requests, per = rl.per, retry_after = rl.retry_after ~= false }
end

-- Fixed window per key; returns allowed?, headers, seconds until the window resets.
function S:rate_check(key)
  local rl = self.config.rate_limit
  if not rl then return true, {} end
  local now = self:time()
  local w = self.windows[key]
  if not w or now >= w.start + rl.per then
    w = { start = now, count = 0 }
    self.windows[key] = w
  end
  w.count = w.count + 1
  local reset = math.max(1, math.ceil(w.start + rl.per - now))
  local headers = { ["x-ratelimit-limit"] = tostring(rl.requests),
    ["x-ratelimit-remaining"] = tostring(math.max(0, rl.requests - w.count)),
    ["x-ratelimit-reset"] = tostring(reset) }
  return w.count <= rl.requests, headers, reset
end

-- The 429 body of SmartLead's rate-limit guide.
function M.too_many(retry_after, with_header, headers)
  local h = headers or {}
  if with_header then h["Retry-After"] = tostring(retry_after) end
  return answers.reply(429, { error = { code = "RATE_LIMIT_EXCEEDED", message = "Rate limit exceeded",
    retry_after = retry_after } }, h)
end

return M
