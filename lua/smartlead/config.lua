-- The config file: $XDG_CONFIG_HOME/smartlua/config (else ~/.config/smartlua/config).
-- INI-like lines `key = value`; `#` and `;` start comments; [name] or [profile name] sections
-- name profiles; keys before any section belong to the profile "default".
-- It holds the API key, so it is refused when other users can read it.
--
-- config.resolve(opts) decides every client setting and where it came from, for
-- smartlead.client() and `smartlua config list` alike. Precedence, for each setting:
--   flag (client{} option, smartlead.defaults set by --profile/--mock/the CLI)
--   > environment > the profile's section of the file > the built-in default.
local core = require "smartlead.core"

local M = {}

-- The settings a profile may hold, in display order.
M.KEYS = { "api_key", "base_url", "rate", "concurrency", "timeout" }
local KNOWN = {}
for _, k in ipairs(M.KEYS) do KNOWN[k] = true end

M.ENV = {
  api_key = "SMARTLEAD_API_KEY", base_url = "SMARTLEAD_BASE_URL", rate = "SMARTLUA_RATE",
  concurrency = "SMARTLUA_CONCURRENCY", timeout = "SMARTLUA_TIMEOUT", profile = "SMARTLUA_PROFILE",
}

-- What the client uses when nothing says otherwise (shown by `config list`). The client is not
-- given these (it has the same built in): rate "auto" is the limiter's RATE_AUTO, 10 per 2 s
-- until the server's headers show its budget, which it then keeps to.
M.DEFAULTS = { base_url = "https://server.smartlead.ai/api/v1", rate = "auto", concurrency = "8", timeout = "60" }

function M.path()
  local base = os.getenv("XDG_CONFIG_HOME")
  if not base or base == "" then
    local home = os.getenv("HOME")
    if not home then return nil end
    base = home .. "/.config"
  end
  return base .. "/smartlua/config"
end

local function section_name(line)
  local section = line:match("^%[%s*(.-)%s*%]$")
  return section and (section:gsub("^profile%s+", ""))
end

local function key_value(line)
  local k, v = line:match("^([%w_%.%-]+)%s*=%s*(.-)$")
  if k then v = v:match('^"(.*)"$') or v:match("^'(.*)'$") or v end
  return k, v
end

-- Parses text into {section = {key = value}}; top-level keys go to "default".
function M.parse(text, source)
  local sections, current = { default = {} }, "default"
  local n = 0
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    n = n + 1
    local s = line:match("^%s*(.-)%s*$")
    if s ~= "" and not s:match("^[#;]") then
      local section = section_name(s)
      if section then
        current = section
        sections[current] = sections[current] or {}
      else
        local k, v = key_value(s)
        if not k then return nil, ("%s:%d: expected `key = value`"):format(source or "config", n) end
        sections[current][k] = v
      end
    end
  end
  return sections
end

-- Sorted profile names of parsed sections.
function M.profiles(sections)
  local names = {}
  for name in pairs(sections or {}) do names[#names + 1] = name end
  table.sort(names)
  return names
end

local function unknown_profile(path, profile, sections)
  if not sections then
    return ("unknown profile '%s': there is no config file (%s); "
      .. "create one with: smartlua config set api_key - --profile %s")
      :format(profile, tostring(path), profile)
  end
  return ("%s: no profile [%s] (profiles: %s)"):format(path, profile, table.concat(M.profiles(sections), ", "))
end

-- Reads and parses the file: sections | nil (no file) | nil, err (unsafe or malformed).
function M.read(path)
  path = path or M.path()
  if not path then return nil end
  local text, err = core.read_private_file(path)
  if not text then
    if err and err:match("No such file") then return nil end
    return nil, err
  end
  local sections, perr = M.parse(text, path)
  if not sections then return nil, perr end
  for _, s in pairs(sections) do
    if s.api_key and s.api_key ~= "" then core.add_secret(s.api_key) end
  end
  return sections
end

-- Loads the settings of a profile (default "default"). Returns nil when there is no file,
-- nil, err when it is unsafe or malformed or the profile does not exist.
function M.load(profile, path)
  path = path or M.path()
  local sections, err = M.read(path)
  if not sections then return nil, err end
  local s = sections[profile or "default"]
  if profile and not s then return nil, unknown_profile(path, profile, sections) end
  return s or {}
end

---------------------------------------------------------------------------- values

-- "10/2" (10 requests per 2 s), "10" (per second), "10/1,60/60,1000/3600" (every window at
-- once), a preset (standard, pro, legacy), "auto" (the safe default, 10 per 2 s, until the
-- server shows its budget) or "off" -> {requests=, per=} | { {requests=, per=}, ..., preset= }
-- | "auto" | false. One parser for the file, the environment and smartlead.client{rate=}.
function M.parse_rate(text)
  if type(text) == "table" or text == false then return text end
  local v, err = core.parse_rate(tostring(text))
  if v == nil then return nil, err end
  if type(v) == "table" and #v == 1 and not v.preset then return v[1] end
  return v
end

local function show_window(w) return ("%s/%s"):format(tostring(w.requests), tostring(w.per or 1)) end

-- The rate as people write it: "10/2", "10/1,60/60", "standard", "auto", "off".
function M.show_rate(rate)
  if rate == false then return "off" end
  if type(rate) == "table" then
    if rate.preset then return rate.preset end
    if rate.requests then return show_window(rate) end
    local parts = {}
    for i, w in ipairs(rate) do parts[i] = show_window(w) end
    return table.concat(parts, ",")
  end
  return tostring(rate)
end

local function parse_integer(name, lo, hi)
  return function(text)
    local n = math.tointeger(tonumber(text))
    if n and n >= lo and n <= hi then return n end
    return nil, ("%s must be a whole number from %d to %d, got '%s'"):format(name, lo, hi, tostring(text))
  end
end

local function parse_seconds(text)
  local n = tonumber(text)
  if n and n > 0 and n <= 86400 then return math.tointeger(n) or n end
  return nil, ("timeout must be seconds between 0 and 86400, got '%s'"):format(tostring(text))
end

local function parse_key(text)
  if type(text) == "string" and #text >= 8 and not text:find("%s") then return text end
  return nil, "api_key must be at least 8 characters without spaces"
end

local function parse_url(text)
  if type(text) == "string" and text:match("^https?://[^%s]+$") then return text end
  return nil, ("base_url must be an http(s):// URL, got '%s'"):format(tostring(text))
end

-- key -> function(text) -> value | nil, why
M.PARSE = {
  api_key = parse_key, base_url = parse_url, rate = M.parse_rate,
  concurrency = parse_integer("concurrency", 1, 64), timeout = parse_seconds,
}

---------------------------------------------------------------------------- resolve

local function pick_profile(defaults, options, getenv)
  if options.profile ~= nil then return options.profile, "flag" end
  if defaults.profile ~= nil then return defaults.profile, "flag" end
  local env = getenv(M.ENV.profile)
  if env and env ~= "" then return env, "environment", M.ENV.profile end
  return "default", "default"
end

-- The file's section for this profile: section, path | nil, err. A broken file is only an
-- error when something needs it: the key comes from it, or a profile was chosen explicitly.
local function file_section(o, profile, explicit_profile, key_elsewhere)
  local path = o.path or M.path()
  local sections, err = M.read(path)
  if err then
    if key_elsewhere and not explicit_profile then return {}, path, err end
    return nil, err
  end
  local s = sections and sections[profile]
  if not s and profile ~= "default" then return nil, unknown_profile(path, profile, sections) end
  return s or {}, path, nil, sections
end

-- One setting: {value=, source=, env=} from the first level that has it.
local function decide(key, options, defaults, getenv, section, profile, mock)
  local v = options[key]
  if v ~= nil then return { value = v, source = "flag" } end
  v = defaults[key]
  if v ~= nil then
    local from_mock = mock and (key == "api_key" or key == "base_url" or key == "rate")
    return { value = v, source = from_mock and "--mock" or "flag" }
  end
  local env = M.ENV[key] and getenv(M.ENV[key])
  if env and env ~= "" then return { value = env, source = "environment", env = M.ENV[key] } end
  v = section and section[key]
  if v ~= nil and v ~= "" then return { value = v, source = "file:" .. profile } end
  return { value = M.DEFAULTS[key], source = "default" }
end

-- Settings whose text (from the environment, the file, or a flag such as rate = "5/1") is
-- turned into a value here; the key and the URL go to the client as they are, which checks them.
local CONVERTED = { rate = true, concurrency = true, timeout = true }

local function check(key, setting, path)
  local flag = setting.source == "flag" or setting.source == "--mock"
  if not CONVERTED[key] or type(setting.value) ~= "string" then return setting end
  local value, why = M.PARSE[key](setting.value)
  if value == nil then
    if flag then return nil, why end
    local where = setting.env or (setting.source == "default" and "default")
      or (tostring(path) .. " [" .. setting.source:sub(6) .. "]")
    return nil, ("%s: %s"):format(where, why)
  end
  setting.text = setting.value
  setting.value = value
  return setting
end

-- config.resolve{options=, defaults=, mock=, path=, getenv=} -> settings | nil, err
-- settings[key] = {value=, source="flag"|"--mock"|"environment"|"file:PROFILE"|"default", env=}
-- for every key in M.KEYS, plus settings.profile (same shape), settings.path, settings.warning
-- (a file that was skipped because nothing needed it), settings.profiles (names in the file).
function M.resolve(opts)
  opts = opts or {}
  local options, defaults, getenv = opts.options or {}, opts.defaults or {}, opts.getenv or os.getenv
  local profile, psource, penv = pick_profile(defaults, options, getenv)
  local key_elsewhere = options.api_key or defaults.api_key or (getenv(M.ENV.api_key) or "") ~= ""
  local section, path, warning, sections = file_section(opts, profile, psource ~= "default", key_elsewhere)
  if not section then return nil, path end
  local out = { profile = { value = profile, source = psource, env = penv }, path = path, warning = warning,
    profiles = sections and M.profiles(sections) or {} }
  for _, key in ipairs(M.KEYS) do
    local setting, err = check(key, decide(key, options, defaults, getenv, section, profile, opts.mock), path)
    if not setting then return nil, err end
    out[key] = setting
  end
  return out
end

---------------------------------------------------------------------------- writing


-- The value as a config line writes it: quoted when the parser would otherwise change it.
local function encode_value(v)
  if v:find("^%s") or v:find("%s$") or v:find('^".*"$') or v:find("^'.*'$") then return '"' .. v .. '"' end
  return v
end

-- Line index range [first, last] of each block of the profile (top-level lines are "default").
local function profile_blocks(lines, profile)
  local blocks, current, start = {}, "default", 1
  for i, line in ipairs(lines) do
    local name = section_name(line:match("^%s*(.-)%s*$"))
    if name then
      if current == profile then blocks[#blocks + 1] = { start, i - 1 } end
      current, start = name, i + 1
    end
  end
  if current == profile then blocks[#blocks + 1] = { start, #lines } end
  return blocks
end

-- Sets key in the profile's lines: replaces its last assignment, else appends to the profile's
-- last block (or a new [profile] section at the end).
local function set_line(lines, profile, key, value)
  local line = key .. " = " .. encode_value(value)
  local blocks = profile_blocks(lines, profile)
  for b = #blocks, 1, -1 do
    for i = blocks[b][2], blocks[b][1], -1 do
      if key_value(lines[i]:match("^%s*(.-)%s*$")) == key then
        lines[i] = line
        return
      end
    end
  end
  local last = blocks[#blocks]
  if last then
    local at = last[2]
    while at >= last[1] and lines[at]:match("^%s*$") do at = at - 1 end -- before trailing blanks
    table.insert(lines, math.max(at, last[1] - 1) + 1, line)
    return
  end
  if #lines > 0 and lines[#lines] ~= "" then lines[#lines + 1] = "" end
  lines[#lines + 1] = "[" .. profile .. "]"
  lines[#lines + 1] = line
end

local function split_lines(text)
  local lines = {}
  for l in text:gmatch("([^\n]*)\n") do lines[#lines + 1] = l:gsub("\r$", "") end
  local rest = text:match("([^\n]+)$")
  if rest then lines[#lines + 1] = rest:gsub("\r$", "") end
  return lines
end

-- Writes text to path with mode 0600 (directories 0700), replacing it atomically.
local function write_private(path, text)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then
    local ok, err = core.os.mkdir_private(dir)
    if not ok then return nil, err end
  end
  local tmp = ("%s.tmp.%d"):format(path, math.random(1, 1e9))
  -- a new file, 0600 from its creation, so the key is never in a file others could open
  local f, err = core.os.open_private(tmp, "wbx")
  if not f then return nil, err end
  local ok, werr = f:write(text)
  local closed, cerr = f:close()
  if not closed then ok, werr = nil, werr or cerr end
  if ok then ok, werr = os.rename(tmp, path) end
  if not ok then
    os.remove(tmp)
    return nil, werr
  end
  return true
end

-- config.set(key, value, {profile=, path=}) -> path | nil, err
-- Keeps every other line, comment and section; refuses unknown keys and bad values.
function M.set(key, value, opts)
  opts = opts or {}
  if not KNOWN[key] then
    return nil, ("unknown setting '%s' (known: %s)"):format(tostring(key), table.concat(M.KEYS, ", "))
  end
  if type(value) ~= "string" or value:find("[\r\n]") then return nil, key .. ": the value must be one line" end
  local parsed, why = M.PARSE[key](value)
  if parsed == nil then return nil, why end
  local path = opts.path or M.path()
  if not path then return nil, "no config path: set XDG_CONFIG_HOME or HOME" end
  if core.os.is_symlink(path) then return nil, path .. " is a symbolic link; refusing to write through it" end
  local text, err = core.read_private_file(path)
  if not text and not (err and err:match("No such file")) then return nil, err end
  local lines = split_lines(text or "")
  set_line(lines, opts.profile or "default", key, value)
  local ok, werr = write_private(path, table.concat(lines, "\n") .. "\n")
  if not ok then return nil, werr end
  if key == "api_key" then core.add_secret(value) end
  return path
end

return M
