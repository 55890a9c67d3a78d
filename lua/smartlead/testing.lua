-- smartlead.testing: what a script author needs to test scripts and policies with busted against
-- the mock SmartLead, without reading the source.
--
--   local t = require "smartlead.testing"
--   local mock, client = t.mock { fixtures = "fleet.json" }   -- or "bundled" (default), or a table
--   ... client:update_email_account(3001, {max_email_per_day = 40}) ...
--   assert.equal(1, #mock:writes("/email-accounts/3001"))
--   mock:stop()
--
-- The mock's key is t.KEY. With `default` (true) smartlead.client() talks to the mock too, as
-- under `smartlua --mock`, so a script under test needs no change; mock:run(path, args) runs one
-- and captures what it prints.
local json = require "smartlead.json"
local fixtures = require "smartlead.fixtures"

local M = {
  KEY = "mock-api-key-0123456789", -- also `smartlua mock`'s when SMARTLEAD_API_KEY is not set
  BUNDLED = "bundled",
  API_ROOT = "/api/v1",            -- the mock's base path; LogEntry.path is below it
}

M.load_fixtures = fixtures.load
M.capture = fixtures.capture
M.anonymize = fixtures.anonymize

local Mock = {}
Mock.__index = Mock

-- Options of testing.mock that are not knobs.
local OWN = { fixtures = true, default = true, client = true }

local function seed_options(f)
  if f == nil or f == M.BUNDLED then return {} end
  if type(f) == "string" then
    fixtures.load(f) -- a clear error for a file that is no fixtures file
    return { seed_file = f }
  end
  if type(f) == "table" then
    if type(f.accounts) ~= "table" then error("testing.mock: fixtures must have an accounts list", 3) end
    return { seed_text = json.encode(f) }
  end
  error(("testing.mock: fixtures must be \"bundled\", a file name or a fixtures table, got %s"):format(type(f)), 3)
end

-- smartlead.client() talks to this mock (what `smartlua --mock` does) -> what it talked to before
local function make_default(self)
  local sl = require "smartlead"
  local saved = { base_url = sl.defaults.base_url, api_key = sl.defaults.api_key, rate = sl.defaults.rate,
    mock = sl.mock }
  sl.defaults.base_url, sl.defaults.api_key, sl.defaults.rate = self.server:url(), self.KEY, false
  sl.mock = self.server
  return saved
end

local function restore_default(saved)
  local sl = require "smartlead"
  sl.defaults.base_url, sl.defaults.api_key, sl.defaults.rate, sl.mock = saved.base_url, saved.api_key, saved.rate,
    saved.mock
end

-- testing.mock{fixtures=, default=true, client=, extra_accounts=, ...knobs} -> mock, client
function M.mock(opts)
  if opts ~= nil and type(opts) ~= "table" then error("testing.mock: opts must be a table", 2) end
  opts = opts or {}
  local start, knobs = seed_options(opts.fixtures), {}
  for k, v in pairs(opts) do
    if not OWN[k] then start[k], knobs[k] = v, v end
  end
  knobs.extra_accounts = nil
  start.api_key = M.KEY
  local ok, server = pcall(require("smartlead.mock.server").start, start)
  if not ok then error("testing.mock: " .. tostring(server):gsub("^[^\n]-%.lua:%d+: ", ""), 2) end
  local self = setmetatable({ server = server, KEY = M.KEY, knobs = knobs }, Mock)
  self.client = server:client(opts.client)
  if opts.default ~= false then self.saved = make_default(self) end
  return self, self.client
end

function Mock:url() return self.server:url() end

function Mock:new_client(opts) return self.server:client(opts) end

---------------------------------------------------------------------------- the request log

local function below_root(path)
  if path:sub(1, #M.API_ROOT) == M.API_ROOT then path = path:sub(#M.API_ROOT + 1) end
  return path
end

-- exact (a trailing / does not matter), or a Lua pattern when it starts with ^
local function path_matches(path, want)
  if want == nil then return true end
  if want:sub(1, 1) == "^" then return path:match(want) ~= nil end
  return path:gsub("/$", "") == want:gsub("/$", "")
end

local function entries(self, path, keep)
  local out = {}
  for _, e in ipairs(self.server:log()) do
    local copy = {}
    for k, v in pairs(e) do copy[k] = v end
    copy.path = below_root(e.path)
    if keep(copy) and path_matches(copy.path, path) then out[#out + 1] = copy end
  end
  return out
end

-- mock:requests([path]) -> every request, oldest first (only those to path when given)
function Mock:requests(path) return entries(self, path, function() return true end) end

-- mock:writes([path]) -> the requests that write (every method but GET)
function Mock:writes(path) return entries(self, path, function(e) return e.method ~= "GET" end) end

function Mock:clear_log() self.server:clear_log() end

---------------------------------------------------------------------------- state

function Mock:state() return self.server:state() end

function Mock:account(id) return self.server:account(id) end

function Mock:campaign(id)
  for _, c in ipairs(self:state().campaigns) do
    if c.id == id then return c end
  end
end

---------------------------------------------------------------------------- knobs and clock

function Mock:configure(knobs) return self.server:configure(knobs) end

-- mock:faults{p5xx=0.1, drop=0.05, seed=7} | mock:faults() (off)
function Mock:faults(rates) self.server:configure { faults = rates or json.null } end

-- mock:rate_limit{requests=10, per=2} | mock:rate_limit("standard") | mock:rate_limit() (off)
function Mock:rate_limit(limit)
  if type(limit) == "string" then
    self.server:configure { rate_model = limit, rate_limit = json.null }
  else
    self.server:configure { rate_limit = limit or json.null, rate_model = json.null }
  end
end

function Mock:latency(ms) self.server:configure { latency_ms = ms } end

function Mock:freeze() self.server:clock { freeze = true } end

function Mock:advance(seconds) self.server:clock { advance = seconds } end

function Mock:now() return self.server:clock().now end

-- Back to the fixtures, and to the knobs testing.mock was given (a test's own knobs go).
function Mock:reset()
  self.server:reset()
  local knobs = {}
  for k in pairs(self.server:admin("GET", "config")) do knobs[k] = json.null end
  for k, v in pairs(require("smartlead.mock.knobs").defaults()) do knobs[k] = v end
  for k, v in pairs(self.knobs) do knobs[k] = v end
  self.server:configure(knobs)
  self.client:reset_rate_state()
end

function Mock:stop()
  if self.stopped then return end
  self.stopped = true
  if self.saved then restore_default(self.saved) end
  self.client:close()
  self.server:stop()
end

---------------------------------------------------------------------------- running a script

local EXIT = setmetatable({}, { __name = "smartlead.testing.exit" })

local function exit_code(code)
  if code == nil or code == true then return 0 end
  if code == false then return 1 end
  return math.tointeger(code) or 1
end

-- print, io.write and io.stdout:write into `out` while fn runs; os.exit ends the script.
local function captured(out, fn, ...)
  local saved = { print = print, write = io.write, stdout = io.stdout, exit = os.exit }
  local sink = {}
  function sink.write(_, ...)
    for _, v in ipairs(table.pack(...)) do out[#out + 1] = tostring(v) end
    return sink
  end
  function sink.flush() return sink end
  function sink.setvbuf() return true end
  _G.print = function(...)
    local t = table.pack(...)
    for i = 1, t.n do t[i] = tostring(t[i]) end
    out[#out + 1] = table.concat(t, "\t", 1, t.n) .. "\n"
  end
  io.write = function(...) return sink:write(...) end -- luacheck: ignore 122
  io.stdout = sink -- luacheck: ignore 122
  os.exit = function(code) error(setmetatable({ code = exit_code(code) }, EXIT), 0) end -- luacheck: ignore 122
  local res = table.pack(xpcall(fn, function(e)
    if getmetatable(e) == EXIT then return e end
    return debug.traceback(tostring(e), 2)
  end, ...))
  _G.print, io.write, io.stdout, os.exit = saved.print, saved.write, saved.stdout, saved.exit -- luacheck: ignore 122
  return table.unpack(res, 1, res.n)
end

-- mock:run(script, {args...}) -> {ok=, code=, output=, error=}
-- Runs the script file in this process, with `arg` as smartlua sets it and smartlead.client()
-- talking to this mock; what it prints is captured, os.exit(code) ends it with that code.
function Mock:run(script, args)
  if type(script) ~= "string" then error("mock:run: script must be a file name", 2) end
  args = args or {}
  local chunk, lerr = loadfile(script, "t")
  if not chunk then return { ok = false, code = 1, output = "", error = lerr } end
  local saved_arg = rawget(_G, "arg")
  local a = { [0] = script }
  for i, v in ipairs(args) do a[i] = v end
  _G.arg = a
  local out, defaults = {}, make_default(self)
  local ok, err = captured(out, chunk, table.unpack(args))
  restore_default(defaults)
  _G.arg = saved_arg
  local result = { output = table.concat(out) }
  if ok then
    result.ok, result.code = true, 0
  elseif getmetatable(err) == EXIT then
    result.ok, result.code = err.code == 0, err.code
  else
    result.ok, result.code, result.error = false, 1, tostring(err)
  end
  return result
end

return M
