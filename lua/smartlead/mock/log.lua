-- smartlead.mock.log: the request log behind GET /__mock/log, masked, bounded by knob log_limit.
local json = require "smartlead.json"

-- When each request arrived (log entries' `at`), on the clock clients use for their own timing.
local has_core, core = pcall(require, "smartlead.core")
local monotime = has_core and core.monotime or os.clock

local M = { methods = {} }
local S = M.methods -- methods of the mock server

M.DEFAULT_LIMIT = 20000 -- entries kept unless knob log_limit says otherwise

function S:append_log(req, user_id, status, fault)
  local query = {}
  for k, v in pairs(req.query) do -- names too: a key pasted as a parameter name stays out of the log
    query[self:scrub_string(tostring(k))] = k == "api_key" and "***" or self:scrub_string(tostring(v))
  end
  self.seq = self.seq + 1
  local log = self.log
  log[#log + 1] = { seq = self.seq, method = req.method, path = self:scrub_string(req.path), query = query,
    body = self:log_body(req.body), status = status, fault = fault, user_id = user_id, at = monotime() }
  -- Trimmed in batches (amortised O(1) per request); readers see exactly the last log_limit.
  local limit = self.config.log_limit or M.DEFAULT_LIMIT
  if #log > limit + math.max(64, limit // 4) then self:trim_log() end
end

-- Keeps only the last log_limit entries (seq keeps counting, so a reader can tell what went).
function S:trim_log()
  local log, limit = self.log, self.config.log_limit or M.DEFAULT_LIMIT
  local n = #log
  if n <= limit then return log end
  local kept = json.array({})
  table.move(log, n - limit + 1, n, 1, kept)
  self.log = kept
  return kept
end

-- seq keeps counting across a clear (a reset starts it again).
function S:clear_log()
  self.log = json.array({})
end

return M
