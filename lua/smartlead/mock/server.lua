-- smartlead.mock.server: starting and steering the mock SmartLead server from Lua (specs, --mock, benches).
-- The server itself is C (src/mock_server.c) with handlers in smartlead.mock.
local core = require "smartlead.core"
local json = require "smartlead.json"

local M = {}
local Server = {}
Server.__index = Server

local function random_key()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(12) or tostring(os.time()) .. tostring({})
  if f then f:close() end
  return "mock-" .. bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
end

local function read_seed(path)
  local f, err = io.open(path, "rb")
  if not f then error("mock seed: " .. err, 3) end
  local text = f:read("a")
  f:close()
  local ok, derr = json.decode(text)
  if not ok then error(("mock seed %s: %s"):format(path, derr), 3) end
  return text
end

-- smartlead.mock.server.start{port=0, seed_file= | seed_text=, api_key=, ...handler knobs} -> server
function M.start(opts)
  opts = opts or {}
  local options = {}
  for k, v in pairs(opts) do
    if k ~= "port" and k ~= "seed_file" and k ~= "seed_text" then options[k] = v end
  end
  options.api_key = options.api_key or random_key()
  core.add_secret(options.api_key)
  local handle = core.mock_start {
    port = opts.port or 0,
    seed = opts.seed_file and read_seed(opts.seed_file) or opts.seed_text,
    options = json.encode(options),
  }
  return setmetatable({ handle = handle, api_key = options.api_key }, Server)
end

function Server:url() return self.handle:url() end
function Server:port() return self.handle:port() end
function Server:stop() self.handle:stop() end

-- A client of this server (extra options pass through). No client-side pacing by default:
-- the mock has no rate limit unless configured, and then its headers and 429s govern.
function Server:client(opts)
  local o = { api_key = self.api_key, base_url = self:url(), rate = false }
  for k, v in pairs(opts or {}) do o[k] = v end
  require "smartlead" -- the Lua-side Client methods (accounts, all_accounts, ...)
  return require("smartlead.client").wrap(core.new_client(o))
end

function Server:admin(method, path, body)
  local status, text = self.handle:admin(method, "/__mock/" .. path, body and json.encode(body) or nil)
  local value = text ~= "" and json.decode(text) or nil
  if status >= 300 then error(("mock admin %s %s: %d %s"):format(method, path, status, text), 2) end
  return value
end

function Server:log() return self:admin("GET", "log") end
function Server:clear_log() return self:admin("POST", "log/clear") end
function Server:state() return self:admin("GET", "state") end
function Server:reset() return self:admin("POST", "reset") end
function Server:configure(knobs) return self:admin("POST", "config", knobs) end

-- The mock's clock: server:clock() reads it, server:clock{advance = 3600} moves it on,
-- server:clock{freeze = true} stops it, {offset = s} sets the offset (mock/clock.lua).
function Server:clock(changes)
  if changes then return self:admin("POST", "clock", changes) end
  return self:admin("GET", "clock")
end

-- The state's account with this id, or nil.
function Server:account(id)
  for _, a in ipairs(self:state().accounts) do
    if a.id == id then return a end
  end
end

return M
