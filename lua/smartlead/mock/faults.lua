-- smartlead.mock.faults: injected faults (knob faults), drawn reproducibly from a seed.
local json = require "smartlead.json"
local answers = require "smartlead.mock.answers"
local limiter = require "smartlead.mock.limiter"
local prng = require "smartlead.mock.prng"
local check = require("smartlead.mock.util").check

local M = { methods = {} }
local S = M.methods -- methods of the mock server

-- Drawn in this order from one uniform number, so the faults are mutually exclusive.
local FAULT_ORDER = { "p5xx", "html", "p429", "drop", "stall", "drop_after", "truncate", "empty", "text" }
-- These answer before the API runs: no auth, no rate-limit count, no state change.
M.EARLY = { p5xx = true, html = true, p429 = true, drop = true }

local KNOBS = { seed = true, stall_ms = true, p5xx = true, drop = true, drop_after = true,
  truncate = true, html = true, p429 = true, stall = true, empty = true, text = true }

-- Knob faults = {seed=, stall_ms=, <fault>=rate...}; nil or null turns faults off.
function M.normalize(f)
  if not f or f == json.null then return nil end
  check(type(f) == "table", "faults must be an object")
  local out = { seed = 1, stall_ms = 30000 }
  for k, v in pairs(f) do
    check(KNOBS[k], "unknown fault knob " .. tostring(k))
    check(type(v) == "number" and v >= 0, "faults." .. k .. " must be a non-negative number")
    out[k] = v
  end
  for name in pairs(KNOBS) do
    if out[name] == nil then out[name] = 0 end
  end
  return out
end

local HTML_502 = [[<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>cloudflare</center>
</body>
</html>
]]

-- A fresh sequence from the faults' seed (on reset and whenever the knob changes).
function S:reseed_faults()
  self.fault_rng = prng.new(self.config.faults and self.config.faults.seed or 1)
end

-- Two draws per API request, always, so the sequence depends only on the request count.
function S:draw_fault()
  local f = self.config.faults
  if not f then return nil end
  local u, v = self.fault_rng.float(), self.fault_rng.float()
  local acc = 0
  for _, name in ipairs(FAULT_ORDER) do
    acc = acc + (f[name] or 0)
    if u < acc then return name, v end
  end
  return nil, v
end

function M.early_answer(name, v)
  if name == "p5xx" then return answers.reply(v < 0.5 and 500 or 503, { error = "Internal Server Error" }) end
  if name == "html" then return answers.raw_reply(502, "text/html", HTML_502) end
  -- a stray 429, with Retry-After only sometimes
  if name == "p429" then return limiter.too_many(1, v < 0.5 and "both" or "body") end
  local r = answers.raw_reply(503, "text/plain", "")
  r.fault = "drop"
  return r
end

-- Faults that spoil an answer the API has already computed (and acted on).
function S:late_fault(name, r)
  if name == "stall" then
    r.delay_ms = r.delay_ms + self.config.faults.stall_ms
  elseif name == "drop_after" then
    r.fault = "drop"
  elseif name == "truncate" then
    r.fault = "truncate"
  elseif name == "empty" then
    r.status, r.body = 200, ""
  elseif name == "text" then
    r.status, r.body, r.headers["Content-Type"] = 200, "success", "text/plain"
  end
  return r
end

return M
