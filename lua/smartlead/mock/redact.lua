-- smartlead.mock.redact: masking for the request log (API keys anywhere, secret fields' values).
local json = require "smartlead.json"

local NULL = json.null

local M = { methods = {} }
local S = M.methods -- methods of the mock server

local SECRET_FIELDS = { password = true, imap_password = true, access_token = true,
  refresh_token = true, id_token = true }

-- Every known key in s becomes ***.
function S:scrub_string(s)
  for key in pairs(self.keys) do
    local i, j = s:find(key, 1, true)
    while i do
      s = s:sub(1, i - 1) .. "***" .. s:sub(j + 1)
      i, j = s:find(key, i + 3, true)
    end
  end
  return s
end

-- A decoded value with keys scrubbed and secret fields' values masked (names too are scrubbed).
function S:redact(v)
  if type(v) == "string" then return self:scrub_string(v) end
  if type(v) ~= "table" or v == NULL then return v end
  local out = setmetatable({}, getmetatable(v))
  for k, x in pairs(v) do
    local name = type(k) == "string" and self:scrub_string(k) or k
    out[name] = (type(k) == "string" and SECRET_FIELDS[k:lower()]) and "***" or self:redact(x)
  end
  return out
end

-- End index of the JSON value starting at i (string token, or up to the next , } ]).
local function raw_value_end(s, i)
  if s:sub(i, i) ~= '"' then return (s:find("[,}%]]", i) or #s + 1) - 1 end
  local j = i + 1
  while j <= #s do
    local c = s:sub(j, j)
    if c == "\\" then j = j + 2 elseif c == '"' then return j else j = j + 1 end
  end
  return #s
end

-- For bodies that did not decode: mask the value after each secret key by scanning the text.
function S:redact_raw(s)
  for name in pairs(SECRET_FIELDS) do
    local out, pos = {}, 1
    while true do
      local _, key_end = s:find('"' .. name .. '"%s*:%s*', pos)
      if not key_end then break end
      out[#out + 1] = s:sub(pos, key_end) .. '"***"'
      pos = raw_value_end(s, key_end + 1) + 1
    end
    out[#out + 1] = s:sub(pos)
    s = table.concat(out)
  end
  return self:scrub_string(s)
end

-- A request body as the log keeps it: decoded and masked, else the masked text.
function S:log_body(raw)
  if raw == nil or raw == "" then return nil end
  local value = json.decode(raw)
  if value == nil then return self:redact_raw(raw) end
  return self:redact(value)
end

return M
