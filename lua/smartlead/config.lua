-- The config file: $XDG_CONFIG_HOME/smartlua/config (else ~/.config/smartlua/config).
-- INI-like lines `key = value`; `#` and `;` start comments; [sections] name profiles.
-- It holds the API key, so it is refused when other users can read it.
local core = require "smartlead.core"

local M = {}

function M.path()
  local base = os.getenv("XDG_CONFIG_HOME")
  if not base or base == "" then
    local home = os.getenv("HOME")
    if not home then return nil end
    base = home .. "/.config"
  end
  return base .. "/smartlua/config"
end

-- Parses text into {section = {key = value}}; top-level keys go to "default".
function M.parse(text, source)
  local sections, current = { default = {} }, "default"
  local n = 0
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    n = n + 1
    local s = line:match("^%s*(.-)%s*$")
    if s ~= "" and not s:match("^[#;]") then
      local section = s:match("^%[%s*(.-)%s*%]$")
      if section then
        current = section:gsub("^profile%s+", "")
        sections[current] = sections[current] or {}
      else
        local k, v = s:match("^([%w_%.%-]+)%s*=%s*(.-)$")
        if not k then return nil, ("%s:%d: expected `key = value`"):format(source or "config", n) end
        v = v:match('^"(.*)"$') or v:match("^'(.*)'$") or v
        sections[current][k] = v
      end
    end
  end
  return sections
end

-- Loads the settings of a profile (default "default"). Returns nil when there is no file,
-- nil, err when it is unsafe or malformed.
function M.load(profile, path)
  path = path or M.path()
  if not path then return nil end
  local text, err = core.read_private_file(path)
  if not text then
    if err and err:match("No such file") then return nil end
    return nil, err
  end
  local sections, perr = M.parse(text, path)
  if not sections then return nil, perr end
  local s = sections[profile or "default"]
  if profile and not s then return nil, ("%s: no profile [%s]"):format(path, profile) end
  if s and s.api_key then core.add_secret(s.api_key) end
  return s or {}
end

return M
