-- smartlead.mock.limiter: SmartLead's per-key rate limits (windows, headers, 429, penalty, presets).
--
-- Follows docs/smartlead-api.md "Rate limits" and smartlead-docs/guides/rate-limits.mdx: one
-- budget per API key over every endpoint, several fixed windows at once (burst, minute, hour),
-- X-RateLimit-Limit/Remaining/Reset describing the tightest window, 429 with the guide's body
-- and Retry-After. A window starts at the first request it accepts and lasts its period; a
-- refused request counts in no window. Time is the mock's clock (server:time(), clock.lua).
local json = require "smartlead.json"
local answers = require "smartlead.mock.answers"
local util = require "smartlead.mock.util"

local NULL = json.null
local check = util.check

local M = { methods = {} }
local S = M.methods -- methods of the mock server

---------------------------------------------------------------------------- knobs

-- Knob rate_model: named sets of the other rate knobs' values (a knob set explicitly wins).
M.PRESETS = {
  standard = { windows = { { requests = 10, per = 1 }, { requests = 60, per = 60 }, { requests = 1000, per = 3600 } } },
  pro = { windows = { { requests = 20, per = 1 }, { requests = 120, per = 60 }, { requests = 3000, per = 3600 } } },
  legacy = { windows = { { requests = 10, per = 2 } } },
  generous = { windows = { { requests = 300, per = 60 } } },
  silent = { windows = { { requests = 10, per = 2 } }, headers = "none", retry_after = "none" },
}

local DEFAULTS = { headers = "all", reset = "epoch", retry_after = "both" }

local function check_window(w, name)
  check(type(w) == "table" and w ~= NULL, name .. " must be an object")
  check(math.type(w.requests) == "integer" and w.requests >= 1, name .. ".requests must be an integer >= 1")
  check(type(w.per) == "number" and w.per > 0, name .. ".per must be a positive number")
end

-- Knob rate_limit: one window {requests=, per=, retry_after=} (the older form, kept as it
-- was: retry_after = false omits the Retry-After header), or a list of windows
-- [{requests=, per=}, ...]. Kept in the form given, for GET /__mock/config.
function M.normalize(rl)
  if not rl or rl == NULL then return nil end
  check(type(rl) == "table", "rate_limit must be an object or a list of windows")
  if rl[1] == nil and not json.is_array(rl) then
    check_window(rl, "rate_limit")
    check(rl.retry_after == nil or type(rl.retry_after) == "boolean", "rate_limit.retry_after must be a boolean")
    return { requests = rl.requests, per = rl.per, retry_after = rl.retry_after ~= false }
  end
  check(#rl >= 1, "rate_limit needs at least one window")
  local out = json.array({})
  for i, w in ipairs(rl) do
    check_window(w, ("rate_limit[%d]"):format(i))
    out[i] = { requests = w.requests, per = w.per }
  end
  return out
end

-- Knob rate_penalty = {after=N, seconds=S}: N 429s in a row shut the key out for S seconds.
function M.normalize_penalty(p)
  if not p or p == NULL then return nil end
  check(type(p) == "table" and p ~= NULL, "rate_penalty must be an object")
  check(math.type(p.after) == "integer" and p.after >= 1, "rate_penalty.after must be an integer >= 1")
  check(type(p.seconds) == "number" and p.seconds > 0, "rate_penalty.seconds must be a positive number")
  return { after = p.after, seconds = p.seconds }
end

local function windows_of(rl)
  if rl.requests then return { { requests = rl.requests, per = rl.per } } end
  return rl
end

-- The settings in force, from the knobs, the preset and the defaults (in that order). New
-- windows (restart = true) start every key afresh; other changes keep the counts.
function S:resolve_rate(restart)
  local c = self.config
  local preset = M.PRESETS[c.rate_model] or {}
  local rl = c.rate_limit
  local windows = rl and windows_of(rl) or preset.windows
  local retry_after = c.rate_retry_after or preset.retry_after or DEFAULTS.retry_after
  if rl and rl.retry_after == false and retry_after == "both" then retry_after = "body" end
  self.rate = windows and {
    windows = windows,
    headers = c.rate_headers or preset.headers or DEFAULTS.headers,
    reset = c.rate_reset or preset.reset or DEFAULTS.reset,
    retry_after = retry_after,
    penalty = c.rate_penalty,
  } or nil
  if restart or not windows then self.rate_keys = {} end
end

---------------------------------------------------------------------------- counting

-- A key's state: { windows = { {start=, count=} per window of the knob }, streak =, penalty_until = }.
function S:key_state(key)
  local ks = self.rate_keys[key]
  if not ks then
    ks = { windows = {}, streak = 0 }
    self.rate_keys[key] = ks
  end
  return ks
end

-- A window's count and end now; one that is over (or never started) is empty and would end
-- a period from now. Only an accepted request starts a window.
local function window_at(w, def, now)
  if w and now < w.start + def.per then return w.count, w.start + def.per end
  return 0, now + def.per
end

-- The window that binds: fewest requests left, then the latest reset.
function S:tightest(ks, now)
  local limit, left, ends
  for i, def in ipairs(self.rate.windows) do
    local count, e = window_at(ks.windows[i], def, now)
    local l = math.max(0, def.requests - count)
    if not limit or l < left or (l == left and e > ends) then limit, left, ends = def.requests, l, e end
  end
  return limit, left, ends
end

function S:count_request(ks, now)
  for i, def in ipairs(self.rate.windows) do
    local w = ks.windows[i]
    if w and now < w.start + def.per then w.count = w.count + 1
    else ks.windows[i] = { start = now, count = 1 } end
  end
end

local function reset_value(how, ends, now)
  if how == "seconds" then return tostring(math.max(1, math.ceil(ends - now))) end
  if how == "epoch_ms" then return ("%d"):format(math.ceil(ends * 1000)) end
  return ("%d"):format(math.ceil(ends))
end

-- X-RateLimit-* for this answer, or none (knob rate_headers: all, get, none).
function S:rate_headers(method, limit, left, ends, now)
  local which = self.rate.headers
  if which == "none" or (which == "get" and method ~= "GET") then return {} end
  return { ["X-RateLimit-Limit"] = tostring(limit), ["X-RateLimit-Remaining"] = tostring(left),
    ["X-RateLimit-Reset"] = reset_value(self.rate.reset, ends, now) }
end

-- A refusal by the windows: N in a row start the penalty. Returns the seconds to wait.
function S:refuse(ks, wait, now)
  ks.streak = ks.streak + 1
  local p = self.rate.penalty
  if p and ks.streak >= p.after then
    ks.penalty_until, ks.streak = now + p.seconds, 0
    return math.max(wait, p.seconds)
  end
  return wait
end

-- server:rate_check(key, method) -> allowed, headers, whole seconds to wait when refused.
-- Refused: the headers' Reset is when this key may send again (every window and the penalty).
function S:rate_check(key, method)
  if not self.rate then return true, {} end
  local now = self:time()
  local ks = self:key_state(key)
  local wait = 0
  for i, def in ipairs(self.rate.windows) do
    local count, ends = window_at(ks.windows[i], def, now)
    if count >= def.requests then wait = math.max(wait, ends - now) end
  end
  if ks.penalty_until and now >= ks.penalty_until then ks.penalty_until = nil end
  if ks.penalty_until then -- shut out: not counted, not in the streak
    wait = math.max(wait, ks.penalty_until - now)
  elseif wait > 0 then
    wait = self:refuse(ks, wait, now)
  end
  if wait > 0 then
    local limit = self:tightest(ks, now)
    return false, self:rate_headers(method, limit, 0, now + wait, now), math.max(1, math.ceil(wait))
  end
  ks.streak = 0
  self:count_request(ks, now)
  local limit, left, ends = self:tightest(ks, now)
  return true, self:rate_headers(method, limit, left, ends, now)
end

---------------------------------------------------------------------------- the 429

local function plural(n) return n == 1 and "" or "s" end

-- The 429 of SmartLead's rate-limit guide. retry_after: "both" (header and body), "body" (no
-- Retry-After header), "none" (neither: the client has only the status to go on).
function M.too_many(wait, retry_after, headers)
  local h = headers or {}
  local err = { code = "RATE_LIMIT_EXCEEDED", message = "Too many requests. Please retry later." }
  if retry_after ~= "none" then
    err.message = ("Too many requests. Please retry after %d second%s."):format(wait, plural(wait))
    err.retry_after = wait
  end
  if retry_after == "both" then h["Retry-After"] = tostring(wait) end
  return answers.reply(429, { error = err }, h)
end

return M
