-- require "smartlead": the module scripts use. The endpoints are C functions on the Client
-- (src/endpoints.c); this file adds construction defaults and the helpers around them.
local core = require "smartlead.core"
local json = require "smartlead.json"
local config = require "smartlead.config"

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
  local ok, client = pcall(core.new_client, o)
  if not ok then error(client, 2) end
  return client
end

-- smartlead.reputation(account_or_value) -> number | nil
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

-- smartlead.is_null(v) -> true for JSON null
function M.is_null(v) return v == json.null end

-- smartlead.mask(text) -> text with every API key the process knows masked
M.mask = core.mask

-- smartlead.endpoints: the endpoint table, for help and completion
M.endpoints = core.endpoints()

require("smartlead.pages").install(core.client_methods)
require("smartlead.saves").install(core.client_methods)
M.policy = require "smartlead.policy"

-- smartlead.show(value, {columns=, max_width=, color=}) prints as the REPL does: nested tables
-- indented, accounts as an aligned table, secrets masked, null as `null`
local show = require "smartlead.show"
M.show = show.show
M.format = show.format

return M
