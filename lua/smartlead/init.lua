-- require "smartlead": the module scripts use. The endpoints are C functions on the Client
-- (src/endpoints.c); this file adds construction defaults and the helpers around them.
local core = require "smartlead.core"
local json = require "smartlead.json"
require "smartlead.null" -- prints as `null`, says what it is when misused
local config = require "smartlead.config"
local Client = require "smartlead.client"
local operations = require "smartlead.operations"
local run = require "smartlead.run"

local M = {
  VERSION = core.version,
  json = json,
  null = json.null,
  Error = core.Error,
  -- Set by `smartlua --mock`: the in-process mock becomes the default target.
  defaults = {},
}

local CLIENT_OPTIONS = {
  api_key = true, base_url = true, timeout = true, connect_timeout = true,
  concurrency = true, rate = true, max_retries = true, max_wait = true, profile = true, max_buffered_mb = true,
  insecure_skip_tls_verify = true, -- says what it does; prints a warning
}

-- A config file refused (readable by others, unparsable) while the key came from elsewhere is
-- never skipped silently: its base_url or rate would otherwise be ignored without a word.
local warned = {}
local function warn_skipped_config(settings)
  if not settings.warning or warned[settings.path] then return end
  warned[settings.path] = true
  io.stderr:write("smartlua: warning: config file skipped, so none of its settings (base_url, rate, ...) apply: ",
    tostring(settings.warning), "\n")
end

-- smartlead.client{api_key=, base_url=, timeout=, connect_timeout=, concurrency=8,
--                  rate="10/1,60/60" | "standard" | {requests=, per=} | false (default: learned from
--                  the server, 10 per 2 s until it shows its budget), max_retries=5, max_wait=600,
--                  max_buffered_mb=256, profile=} -> Client
-- api_key, base_url, rate, concurrency and timeout each come from (config.resolve): the option,
-- else smartlead.defaults (set by --mock, --profile and the CLI flags), else the environment
-- (SMARTLEAD_API_KEY, SMARTLEAD_BASE_URL, SMARTLUA_RATE, SMARTLUA_CONCURRENCY, SMARTLUA_TIMEOUT),
-- else the profile's section of the config file (profile: option, defaults.profile,
-- SMARTLUA_PROFILE, "default"), else the built-in default. Other options left out come from
-- smartlead.defaults when set there.
function M.client(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("smartlead.client: options must be a table, got " .. type(opts), 2)
  end
  local given = {}
  for k, v in pairs(opts or {}) do
    if not CLIENT_OPTIONS[k] then error(("smartlead.client: unknown option '%s'"):format(tostring(k)), 2) end
    given[k] = v
  end
  local settings, err = config.resolve { options = given, defaults = M.defaults, mock = M.mock ~= nil }
  if not settings then error("smartlead.client: " .. err, 2) end
  warn_skipped_config(settings)
  local o = {}
  for k, v in pairs(given) do o[k] = v end
  for k, v in pairs(M.defaults) do
    if o[k] == nil and CLIENT_OPTIONS[k] then o[k] = v end
  end
  o.profile = nil
  for _, key in ipairs(config.KEYS) do
    local s = settings[key]
    if s.source ~= "default" then o[key] = s.value end -- built-in defaults stay the C side's
  end
  local ok, c = pcall(core.new_client, o)
  if not ok then error(c, 2) end
  local client = Client.wrap(c)
  if run.current() then client:set_session(run.current()) end -- the command line's --plan, journal, --resume
  return client
end

-- smartlead.profiles() -> the profiles of the config file, sorted: every [section], and "default"
-- when the file has settings outside any section ({} without a file). Raises when the file is
-- unsafe or malformed. smartlead.client{profile = name} makes a client for one of them.
function M.profiles()
  local sections, err = config.read()
  if not sections then
    if err then error("smartlead.profiles: " .. err, 2) end
    return {}
  end
  local out = {}
  for _, name in ipairs(config.profiles(sections)) do
    if name ~= "default" or next(sections.default) ~= nil then out[#out + 1] = name end
  end
  return out
end

local account = require "smartlead.account"
-- smartlead.reputation(a), smartlead.is_null(v), smartlead.get(a, "warmup_details.status"): the
-- account helpers (smartlead.account)
M.reputation, M.is_null, M.get = account.reputation, account.is_null, account.get

-- smartlead.mask(text) -> text with every API key the process knows masked
M.mask = core.mask

-- smartlead.operations() -> the registry: {{name=, method=, path=, kind=, inverse=, args=, fields=, ...}, ...}
function M.operations() return operations.list end

-- smartlead.define_operation{name=, method=, path=, kind=, ...} -> row: a new Client method,
-- planned, journaled and undone by its kind like the built-in ones
M.define_operation = operations.define

M.Client = Client
require("smartlead.pages").install(Client.methods)
M.policy = require "smartlead.policy"

-- Fleet memory (lua/smartlead/fleet/): smartlead.snapshot(client, {db=, workspace=, stats=, day=}),
-- smartlead.history(db, {workspace=}), and smartlead.fleet.{signals, diff, report, ...}
M.fleet = require "smartlead.fleet"
function M.snapshot(client, opts) return M.fleet.snapshot(client, opts) end
function M.history(db, opts) return M.fleet.history(db, opts) end

-- smartlead.show(value, {columns=, max_width=, color=}) prints as the REPL does: nested tables
-- indented, accounts as an aligned table, secrets masked, null as `null`
local show = require "smartlead.show"
M.show = show.show
M.format = show.format

return M
