-- `smartlua config list | config set KEY VALUE|-`: settings, profiles and where each came from.
local core = require "smartlead.core"
local json = require "smartlead.json"
local context = require "smartlead.cli.context"
local options = require "smartlead.cli.options"

local EXIT, usage = context.EXIT, context.usage

-- The key as `config list` shows it: never the whole of it.
local function show_key(key)
  if type(key) ~= "string" then return json.null end
  if #key >= 12 then return key:sub(1, 4) .. "…" end
  return require("smartlead.formats").MASK
end

local function show_setting(config, name, value)
  if name == "api_key" then return show_key(value) end
  if name == "rate" then return config.show_rate(value) end
  if value == nil then return json.null end
  return value
end

local function source_text(s)
  if s.env then return ("environment (%s)"):format(s.env) end
  return s.source
end

local function list(ctx)
  local config = require "smartlead.config"
  local sl = require "smartlead"
  local settings, err = config.resolve { options = { profile = ctx.profile }, defaults = sl.defaults,
    mock = sl.mock ~= nil }
  if not settings then context.fail(EXIT.error, err) end
  if settings.warning then ctx:err("warning: config file skipped: ", settings.warning) end
  local w = ctx:writer { fields = { "setting", "value", "source" } }
  w:add { setting = "profile", value = settings.profile.value, source = source_text(settings.profile) }
  for _, key in ipairs(config.KEYS) do
    local s = settings[key]
    w:add { setting = key, value = show_setting(config, key, s.value), source = source_text(s) }
  end
  w:close()
  io.stderr:write(("%sconfig file: %s%s\n"):format(ctx.label or "", tostring(settings.path),
    #settings.profiles > 0 and (" (profiles: " .. table.concat(settings.profiles, ", ") .. ")") or " (none yet)"))
  return EXIT.ok
end

-- One line of stdin without its line end; on a terminal the prompt goes to stderr and the line
-- is not echoed (core.os.read_secret). -> line | nil, why
local read_secret = core.os.read_secret

-- The value for config set: VALUE, or one line from stdin for "-".
local function setting_value(key, value)
  if value ~= "-" then
    if key == "api_key" then
      context.err_line("warning: the key was on the command line, where ps and shell history keep it; ",
        "next time use: smartlua config set api_key -")
    end
    return value
  end
  local line, err = read_secret(key .. ": ")
  if not line or line == "" then
    local why = err and err ~= "end of input" and (" (" .. err .. ")") or ""
    usage(("%s -: no value on stdin%s"):format(key, why))
  end
  return line
end

-- KEY must be a setting config.KEYS names.
local function check_key(key)
  local keys = require("smartlead.config").KEYS
  for _, k in ipairs(keys) do
    if k == key then return end
  end
  usage(("unknown setting '%s' (known: %s)%s"):format(key, table.concat(keys, ", "),
    require("smartlead.cli.parser").suggestion(key, keys)))
end

local function set(ctx)
  local key, value = ctx.args[1], ctx.args[2]
  check_key(key)
  local config = require "smartlead.config"
  local profile = ctx.opts.profile or os.getenv("SMARTLUA_PROFILE")
  if profile == "" then profile = nil end
  local path, err = config.set(key, setting_value(key, value), { profile = profile })
  if not path then context.fail(EXIT.error, err) end
  io.stdout:write(("%s set in %s [%s]\n"):format(key, path, profile or "default"))
  return EXIT.ok
end

return {
  node = {
    summary = "show and change settings and profiles",
    order = { "list", "set" },
    subs = {
      list = { summary = "each setting, its value (the key never whole) and where it came from", run = list,
        globals = options.scope("client", "output") },
      set = { summary = "write a setting to the config file (mode 0600); VALUE - reads stdin", run = set,
        args = { { name = "KEY", complete = require("smartlead.config").KEYS }, { name = "VALUE" } },
        single_profile = true,
        globals = options.scope("profile", "trace"),
        help = [[
Keys: api_key, base_url, rate, concurrency (1..64), timeout (s). rate is N/SECONDS (10/2: 10
requests per 2 s), windows that all hold (10/1,60/60,1000/3600), a preset (standard, pro,
legacy), auto (the default: 10 per 2 s until the server's headers show its budget) or off.
The file is $XDG_CONFIG_HOME/smartlua/config; other lines and profiles are kept. Use
`smartlua config set api_key -` so the key is read from stdin, never from the command line.
Settings apply in this order: flag > environment (SMARTLEAD_API_KEY, SMARTLEAD_BASE_URL,
SMARTLUA_RATE, SMARTLUA_CONCURRENCY, SMARTLUA_TIMEOUT) > the profile in the file > default.
]] },
    },
  },
}
