-- The account helpers scripts, policies and --where share, in one home: reputation in any of
-- the shapes the API sends, null-safe path lookup, and the request names of answer fields.
local json = require "smartlead.json"

local M = {}

-- account.is_null(v) -> true for JSON null
function M.is_null(v) return v == json.null end

-- account.reputation(account_or_value) -> number | nil
-- Warmup reputation whether the API sent "97%", "97" or 97; nil when there is none.
function M.reputation(v)
  if type(v) == "table" then
    local w = v.warmup_details
    v = type(w) == "table" and w.warmup_reputation or nil
  end
  if type(v) == "number" then return v end
  if type(v) ~= "string" then return nil end
  local n = tonumber((v:match("^%s*(-?[%d%.]+)%s*%%?%s*$")))
  return n and math.tointeger(n) or n
end

-- account.get_path(record, "a.b.1") -> the value, or nil when a step is missing or not a table
-- (a null on the way ends it; a null at the end is returned as json.null)
function M.get_path(record, path)
  local v = record
  for seg in tostring(path):gmatch("[^%.]+") do
    if type(v) ~= "table" or v == json.null then return nil end
    local x = v[seg]
    if x == nil and seg:match("^%d+$") then x = v[tonumber(seg)] end
    v = x
  end
  return v
end

-- Request (update) names and derived values, read from an account answer.
M.ALIASES = {
  max_email_per_day = function(a) return a.message_per_day end,
  custom_tracking_url = function(a) return a.custom_tracking_domain end,
  bcc = function(a) return a.bcc_email end,
  time_to_wait_in_mins = function(a) return a.minTimeToWaitInMins end,
  warmup_status = function(a)
    local w = a.warmup_details
    if type(w) == "table" and w ~= json.null then return w.status end
    return json.null
  end,
  reputation = M.reputation,
}

-- account.value(a, name) -> the field (dotted paths too), else its request-named alias
function M.value(a, name)
  local v = M.get_path(a, name)
  if v == nil and M.ALIASES[name] then v = M.ALIASES[name](a) end
  return v
end

-- account.get(a, "warmup_details.status") -> the value, or nil where a step is null or missing
function M.get(a, name)
  local v = M.value(a, name)
  if v == json.null then return nil end
  return v
end

return M
