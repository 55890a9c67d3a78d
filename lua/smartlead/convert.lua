-- Text (a flag's value, a CSV cell) to the value a registry field takes: one converter per type.
--
-- convert.field(f) -> fn(text) -> value | nil, "what it must be"   (f: a registry field row)
-- convert.TYPES[type_name]                                        (enum needs convert.field)
-- convert.whole_number(lo[, hi]) -> fn                            (for numbers that are not fields)
--
-- The C validator still checks every value before it is sent; this only gives the value its
-- Lua type (number, boolean, null) and says in words what a wrong one must be.
local json = require "smartlead.json"

local M = {}

function M.whole_number(lo, hi, must)
  must = must or (hi and ("a whole number from %d to %d"):format(lo, hi) or ("a whole number >= %d"):format(lo))
  return function(s)
    local n = math.tointeger(tonumber(s))
    if n and n >= lo and (not hi or n <= hi) then return n end
    return nil, must
  end
end

M.BOOLEANS = { ["true"] = true, yes = true, on = true, ["1"] = true, ["false"] = false, no = false, off = false,
  ["0"] = false }

local function as_is(s) return s end

local function not_empty(s)
  if s ~= "" then return s end
  return nil, "not empty"
end

local id_or_whole = M.whole_number(1)

M.TYPES = {
  text = as_is, secret = as_is, token = as_is, host = not_empty, name = not_empty,
  email = function(s)
    if s:match("^[^@%s]+@[^@%s]+%.[^@%s]+$") then return s end
    return nil, "an email address"
  end,
  uint = M.whole_number(0),
  limit = M.whole_number(1, 100),
  limit20 = M.whole_number(1, 20),
  date = function(s)
    if s:match("^%d%d%d%d%-%d%d%-%d%d$") then return s end
    return nil, "a date YYYY-MM-DD"
  end,
  color = function(s)
    if s:match("^#%x%x%x%x%x%x$") then return s end
    return nil, "a color #RRGGBB"
  end,
  -- a key documented both as a string and as a number: digits are the number
  key = function(s)
    if s == "" then return nil, "not empty" end
    return math.tointeger(tonumber(s:match("^%d+$") or "")) or s
  end,
  port = M.whole_number(1, 65535),
  percent = M.whole_number(0, 100),
  id = M.whole_number(1, nil, "a positive whole number"),
  id_or_null = function(s)
    local l = s:lower()
    if l == "null" or l == "none" then return json.null end
    return id_or_whole(s)
  end,
  bool = function(s)
    local b = M.BOOLEANS[s:lower()]
    if b == nil then return nil, "true or false" end
    return b
  end,
}

-- The values of an enum, in any case.
function M.enum(values)
  local set = {}
  for _, v in ipairs(values) do set[v] = true end
  return function(s)
    if set[s:upper()] then return s:upper() end
    return nil, "one of " .. table.concat(values, ", ")
  end
end

function M.field(f)
  if f.type == "enum" then return M.enum(f.enum or {}) end
  return M.TYPES[f.type] or error(("convert: no converter for field type '%s'"):format(tostring(f.type)), 2)
end

return M
