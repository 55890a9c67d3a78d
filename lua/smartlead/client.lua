-- The Client scripts hold: a Lua object around the C client (src/client.c). Its operation
-- methods are the registry's rows; its other methods (paging, bulk runs) are Lua. A run session
-- (plan, journal, resume) belongs to one Client: set_session hands the C side the session's hook,
-- which every operation passes through once validated. Nothing shared is patched.
local operations = require "smartlead.operations"
local core = require "smartlead.core"

local Client = { __name = "smartlead.Client" }
local function kinds() return require "smartlead.run.kinds" end -- loaded on first use: run needs Client
local methods = {}  -- Lua methods: accounts, each, set_session, ...
local forwarders = {} -- name -> function calling the C method of that name

Client.methods = methods

-- A method that calls the C client's method by name, with method syntax, so an argument error
-- names the method and counts its arguments as the script wrote them.
local function forwarder(name)
  local f = forwarders[name]
  if not f then
    f = assert(load(([[
      local getmetatable, error, type, rawget, Client = ...
      return function(self, ...)
        if getmetatable(self) ~= Client then
          error("bad argument #1 to '%s' (smartlead.Client expected, got " .. type(self) .. "; call it with ':')", 2)
        end
        local core = self.core
        local a, b = core:%s(...)
        if a == nil and type(b) == "table" and b.kind == "validation" and rawget(self, "run_session") then
          rawget(self, "run_session"):refused_write("%s")
        end
        return a, b
      end]]):format(name, name, name), "=smartlead.client", "t"))(getmetatable, error, type, rawget, Client)
    forwarders[name] = f
  end
  return f
end

-- A create called with no session still never resends blindly (run/kinds.lua: send_create).
local function create_method(row)
  local call = forwarder(row.name)
  return function(self, ...)
    if getmetatable(self) ~= Client or rawget(self, "run_session") or not row.lookup then return call(self, ...) end
    local args = table.pack(...)
    local payload = args[1]
    local key = type(payload) == "table" and payload[row.lookup_key]
    local op = { target = { email = type(key) == "string" and key:lower() or nil } }
    return kinds().send_create(self, row, op, function() return call(self, table.unpack(args, 1, args.n)) end)
  end
end

-- The id list of a row that takes at most row.max_ids a request (tag mappings: 25), split into
-- parts: every part is checked before any is sent, then each is its own call (planned and
-- journaled on its own under a session). The answer: {ok, parts = n, answers = {...}}; a failing
-- part stops the rest (err.parts_done says how many went through).
local function split_ids(ids, n)
  local parts = {}
  for i = 1, #ids, n do parts[#parts + 1] = table.move(ids, i, math.min(i + n - 1, #ids), 1, {}) end
  return parts
end

local function is_plain_list(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

local MAX_SPLIT_IDS = 10000 -- ids one call may name: 400 requests of 25

local function chunked_method(row)
  local call = forwarder(row.name)
  local validate = core.validators[row.name]
  local at = row.id_name and 2 or 1 -- where the id list sits among the arguments
  return function(self, ...)
    local args = table.pack(...)
    local ids = args[at]
    if getmetatable(self) ~= Client or type(ids) ~= "table" or #ids <= row.max_ids or not is_plain_list(ids) then
      return call(self, ...)
    end
    if #ids > MAX_SPLIT_IDS then
      return nil, core.new_error { kind = "validation", code = "INVALID_ARGUMENT", field = "email_account_ids",
        method = row.method, path = row.path,
        message = ("%s: email_account_ids has %d ids; at most %d in one call"):format(row.name, #ids, MAX_SPLIT_IDS) }
    end
    local parts, seen = split_ids(ids, row.max_ids), {}
    for _, id in ipairs(ids) do
      if seen[id] then -- a repeat across parts, which no single part would show
        return nil, core.new_error { kind = "validation", code = "INVALID_ARGUMENT", field = "email_account_ids",
          method = row.method, path = row.path,
          message = ("%s: email_account_ids lists %s twice"):format(row.name, tostring(id)) }
      end
      seen[id] = true
    end
    for _, part in ipairs(parts) do
      args[at] = part
      local ok, err = validate(self.core, table.unpack(args, 1, args.n))
      if not ok then
        local s = rawget(self, "run_session")
        if s then s:refused_write(row.name) end
        return nil, err
      end
    end
    local answers = {}
    for k, part in ipairs(parts) do
      args[at] = part
      local a, err = call(self, table.unpack(args, 1, args.n))
      if a == nil then
        if type(err) == "table" then err.parts_done = k - 1 end
        return nil, err
      end
      answers[k] = a
    end
    return { ok = true, parts = #parts, answers = answers, message = answers[#answers].message,
      planned = answers[1].planned }
  end
end

local creates, chunked = {}, {}

function Client.__index(_, name)
  local m = methods[name]
  if m ~= nil then return m end
  local row = operations.by_name[name]
  if row and row.kind == "create" then
    creates[name] = creates[name] or create_method(row)
    return creates[name]
  end
  if row and row.max_ids then
    chunked[name] = chunked[name] or chunked_method(row)
    return chunked[name]
  end
  if type(name) == "string" and core.client_methods[name] ~= nil then return forwarder(name) end
end

-- client:request(method, path, {query=, body=}) -> answer | nil, err: any API path; a write
-- under a session is journaled (or planned) like an action.
function methods.request(self, method, path, opts)
  local s = getmetatable(self) == Client and rawget(self, "run_session")
  if s and type(method) == "string" and method:upper() ~= "GET" and type(path) == "string"
    and (opts == nil or type(opts) == "table") then
    return s:request(self, method, path, opts)
  end
  return forwarder("request")(self, method, path, opts)
end

function Client.__tostring(self) return tostring(self.core) end

-- name -> method, for every method a Client answers (the REPL completes from it)
function Client.__methods()
  local out = {}
  for name in pairs(core.client_methods) do out[name] = Client.__index(nil, name) end
  for name, m in pairs(methods) do out[name] = m end
  return out
end
function Client.__close(self) self.core:close() end

-- Client.wrap(c) -> Client around the C client c
function Client.wrap(c) return setmetatable({ core = c }, Client) end

function Client.is(v) return getmetatable(v) == Client end

-- client:set_session(session | nil): writes through this client are planned, journaled or
-- resumed by the session; reads feed its before-values. Returns the previous session.
function methods.set_session(self, session)
  local previous = rawget(self, "run_session")
  rawset(self, "run_session", session)
  self.core:set_session_hook(session and session:hook(self) or nil)
  return previous
end

function methods.session(self) return rawget(self, "run_session") end

-- client:operations() -> the registry rows (smartlead.operations())
function methods.operations() return operations.list end

return Client
