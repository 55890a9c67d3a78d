-- smartlead.mock.util: small helpers the mock's files share (null, copies, key sets, dates, base64).
local json = require "smartlead.json"

local M = {}
local NULL = json.null
M.NULL = NULL

-- Raises msg as it is (assert would prefix the file and line): for knob and admin checks.
function M.check(cond, msg)
  if not cond then error(msg, 0) end
  return cond
end

function M.is_null(v) return v == nil or v == NULL end
function M.or_null(v) if v == nil then return NULL end return v end

-- Copies tables recursively, keeping the array metatable so arrays stay arrays.
function M.deep_copy(v)
  if type(v) ~= "table" or v == NULL then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = M.deep_copy(x) end
  return setmetatable(out, getmetatable(v))
end

function M.sorted_keys(set)
  local list = json.array({})
  for k in pairs(set) do list[#list + 1] = k end
  table.sort(list)
  return list
end

function M.count_keys(set)
  local n = 0
  for _ in pairs(set) do n = n + 1 end
  return n
end

function M.iso(t) return os.date("!%Y-%m-%dT%H:%M:%S.000Z", math.floor(t)) end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

function M.base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local chars = {}
    for j = 1, 4 do
      local idx = (n >> (6 * (4 - j))) & 63
      chars[j] = B64:sub(idx + 1, idx + 1)
    end
    if not b then chars[3] = "=" end
    if not c then chars[4] = "=" end
    out[#out + 1] = table.concat(chars)
  end
  return table.concat(out)
end

function M.is_email(s)
  return type(s) == "string" and #s <= 254 and not s:find("%.%.")
    and s:match("^[%w._%%+%-]+@[%w%-]+%.[%w.%-]*%a$") ~= nil
end

local WORDS = { "apple", "keyes", "otter", "maple", "river", "cobalt", "falcon", "juniper",
  "lantern", "meadow", "nimbus", "orchid", "pepper", "quartz", "saffron", "tundra", "velvet",
  "willow", "zephyr", "harbor" }

-- Warmup keys look like SmartLead's ("apple-keyes"), derived from the account id.
function M.two_words(n)
  return WORDS[n % #WORDS + 1] .. "-" .. WORDS[(n // #WORDS) % #WORDS + 1]
end

return M
