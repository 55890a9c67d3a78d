-- smartlead.mock.knobs: the settings POST /__mock/config changes (and new() and --knobs set first).
local json = require "smartlead.json"
local util = require "smartlead.mock.util"
local limiter = require "smartlead.mock.limiter"
local faults = require "smartlead.mock.faults"
local log = require "smartlead.mock.log"

local check = util.check

local NULL = json.null

local M = { methods = {} }
local S = M.methods -- methods of the mock server

local function one_of(allowed)
  return function(v, name)
    for _, a in ipairs(allowed) do
      if v == a then return v end
    end
    error(string.format("%s must be one of [%s]", name, table.concat(allowed, ", ")), 0)
  end
end

-- Each knob's checker: returns the normalized value or raises a plain message.
local KNOBS = {
  -- delay every API answer
  latency_ms = function(v)
    check(type(v) == "number" and v >= 0, "latency_ms must be a non-negative number")
    return v
  end,
  -- one window {requests=, per=, retry_after=} or a list [{requests=, per=}, ...]
  rate_limit = limiter.normalize,
  -- a named set of the rate knobs (standard, pro, legacy, generous, silent); knobs set win
  rate_model = one_of({ "standard", "pro", "legacy", "generous", "silent" }),
  -- X-RateLimit-* on every answer, only on GETs, or never
  rate_headers = one_of({ "all", "get", "none" }),
  -- X-RateLimit-Reset as a Unix time in seconds, seconds from now, or a Unix time in ms
  rate_reset = one_of({ "epoch", "seconds", "epoch_ms" }),
  -- on a 429: Retry-After and the body's retry_after, only the body's, or neither
  rate_retry_after = function(v, name)
    if v == true then return "both" elseif v == false then return "body" end
    return one_of({ "both", "body", "none" })(v, name)
  end,
  -- N 429s in a row shut the key out for S seconds: {after=N, seconds=S}
  rate_penalty = limiter.normalize_penalty,
  faults = faults.normalize,
  -- how limit > 100 is answered: the documented 422, or the empty page a live client saw
  limit_over_100 = one_of({ "422", "empty" }),
  -- which documented save answer to send
  save_answer_shape = one_of({ "legacy", "data" }),
  -- a failed connection check: ACCOUNT_VERIFICATION_FAILED with the new id, or the newest docs'
  -- {"ok":false,"message":"SMTP connection failed","error":...} without code or id
  verification_answer_shape = one_of({ "legacy", "newest" }),
  -- one campaign, a campaign's accounts, the campaign list: bare, or in the newest docs' envelopes
  answer_envelope = one_of({ "bare", "data" }),
  attach_requires_connected = function(v)
    check(type(v) == "boolean", "attach_requires_connected must be a boolean")
    return v
  end,
  -- a hostile server: answers given here win over the API's own, for every request whose method
  -- and path (below /api/v1, a Lua pattern) match: [{method=, path=, status=200, body="...",
  -- content_type=, headers={}, times=N}] (times: how many answers, then the rule is spent)
  scripted = function(v)
    check(type(v) == "table", "scripted must be a list of rules")
    local out = {}
    for i, rule in ipairs(v) do
      check(type(rule) == "table" and type(rule.path) == "string" and type(rule.body) == "string",
        ("scripted[%d] needs path and body strings"):format(i))
      check(rule.times == nil or (math.type(rule.times) == "integer" and rule.times >= 1),
        ("scripted[%d].times must be an integer >= 1"):format(i))
      out[i] = { method = rule.method and tostring(rule.method):upper(), path = rule.path, status = rule.status or 200,
        body = rule.body, content_type = rule.content_type or "application/json", headers = rule.headers or {},
        times = rule.times }
    end
    return out
  end,
  -- a server that ignores offset: the account list answers its first page whatever is asked
  ignore_offset = function(v)
    check(type(v) == "boolean", "ignore_offset must be a boolean")
    return v
  end,
  -- keep only the last N request-log entries, so long runs stay bounded
  log_limit = function(v)
    check(math.type(v) == "integer" and v >= 1, "log_limit must be an integer >= 1")
    return v
  end,
}

-- What a new server starts with (knobs not listed start unset).
function M.defaults()
  return { limit_over_100 = "422", save_answer_shape = "legacy", attach_requires_connected = true,
    log_limit = log.DEFAULT_LIMIT }
end

-- Options of new() that are not knobs.
local NEW_ONLY = { api_key = true, other_keys = true, user_id = true, extra_accounts = true, now = true }

-- Applies knob changes (null resets a knob); raises a plain message on bad input.
function S:merge_config(changes)
  local rate_changed, windows_changed = false, false
  for k, v in pairs(changes) do
    if not NEW_ONLY[k] then
      if not KNOBS[k] then error("unknown knob " .. tostring(k), 0) end
      if v == NULL then self.config[k] = nil else self.config[k] = KNOBS[k](v, k) end
      if k == "faults" then self:reseed_faults() end
      if k:match("^rate_") then rate_changed = true end
      if k == "rate_limit" or k == "rate_model" then windows_changed = true end
    end
  end
  if rate_changed then self:resolve_rate(windows_changed) end
end

function S:config_view()
  local out = {}
  for k in pairs(KNOBS) do out[k] = util.or_null(self.config[k]) end
  return out
end

return M
