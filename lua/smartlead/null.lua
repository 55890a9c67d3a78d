-- smartlead.null (JSON null, a light userdata) prints as `null` and says what it is when misused.
--
--   print(smartlead.null)          --> null
--   smartlead.null == nil          --> false: null is a value (smartlead.is_null(v) tests for it)
--   account.warmup_details.status  --> error: attempt to index JSON null (smartlead.null) with 'status'; ...
--   null < 90                      --> error: attempt to compare JSON null (smartlead.null) with number; ...
--
-- Light userdata share one metatable; every other light userdata keeps Lua's own behaviour.
local json = require "smartlead.json"

local null = json.null

local HINT = "smartlead.is_null(v) tests for it; smartlead.get(a, \"x.y\") walks through it"

local function is_null(v) return rawequal(v, null) end

local function describe(v)
  if is_null(v) then return "JSON null (smartlead.null)" end
  return type(v)
end

local mt = {
  __name = "smartlead.null",
  __tostring = function(v)
    if is_null(v) then return "null" end
    return ("userdata: %p"):format(v)
  end,
  __index = function(v, k)
    error(("attempt to index %s with '%s'%s"):format(describe(v), tostring(k), is_null(v) and ("; " .. HINT) or ""), 2)
  end,
  __lt = function(a, b)
    error(("attempt to compare %s with %s%s"):format(describe(a), describe(b), "; " .. HINT), 2)
  end,
  __concat = function(a, b)
    error(("attempt to concatenate %s and %s; tostring(v) prints null"):format(describe(a), describe(b)), 2)
  end,
}
mt.__le = mt.__lt

if debug.getmetatable(null) == nil then debug.setmetatable(null, mt) end

return null
