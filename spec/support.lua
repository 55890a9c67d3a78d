-- Shared by the specs: a fresh mock server over real HTTP on loopback, and ways to read what
-- it received.
local mock_server = require "smartlead.mock.server"
local json = require "smartlead.json"

local M = {}

M.KEY = "spec-key-7f3a9c1e5b"
M.OWNER = 1001 -- the user the mock's default key belongs to

-- The first n ids of OWNER's accounts in the mock's state, in id order.
function M.own_ids(state, n)
  local ids = {}
  for _, a in ipairs(state.accounts) do
    if a.user_id == M.OWNER then ids[#ids + 1] = a.id end
  end
  table.sort(ids)
  assert(#ids >= n, ("the mock has %d own accounts, %d needed"):format(#ids, n))
  return table.move(ids, 1, n, 1, {})
end

-- A mock server with the bundled fixtures and a known key; knobs pass through.
function M.server(knobs)
  local o = { api_key = M.KEY }
  for k, v in pairs(knobs or {}) do o[k] = v end
  return mock_server.start(o)
end

-- One mock per describe block, reset before each test. bind(server, client) receives them
-- once started, so the spec can keep them in its own locals; client_opts go to server:client.
function M.shared_server(bind, knobs, client_opts)
  local busted = require "busted" -- setup and friends live in the spec's environment, not _G
  local server, client
  busted.setup(function()
    server = M.server(knobs)
    client = server:client(client_opts)
    bind(server, client)
  end)
  busted.teardown(function()
    client:close()
    server:stop()
  end)
  busted.before_each(function()
    server:reset() -- state and log; knobs persist across a reset, so put them back too
    server:configure { faults = json.null, rate_limit = json.null, latency_ms = 0,
                       save_answer_shape = "legacy", limit_over_100 = "422", verification_answer_shape = json.null,
                       answer_envelope = json.null }
    client:reset_rate_state() -- a 429 pause learned in one test must not slow the next
  end)
end

-- build/smartlua args... (proc.smartlua) against server with the spec's key; env: more of the
-- environment, "VAR=value ..." already quoted (a state directory of the test's own, say).
function M.smartlua(server, args, env)
  local proc = require "proc"
  return proc.smartlua(args, ("env SMARTLEAD_API_KEY=%s SMARTLEAD_BASE_URL=%s %s"):format(proc.q(M.KEY),
    proc.q(server:url()), env or ""))
end

-- One API request over raw HTTP (curl), for what the client does not show: the answer's headers
-- as sent. path is under /api/v1; opts: query (table), body (table, sent as JSON), key (default
-- the server's). Returns {status=, headers = {Name = value}, header(name) (any case), body =
-- decoded JSON or the text}. The sanitizers' preload stays out of curl.
function M.raw(server, method, path, opts)
  opts = opts or {}
  local proc = require "proc"
  local query = { "api_key=" .. (opts.key or server.api_key) }
  for k, v in pairs(opts.query or {}) do query[#query + 1] = k .. "=" .. tostring(v) end
  local dir = proc.mktemp()
  local args = { "curl", "-s", "-S", "-X", method, "-D", dir .. "/head", "-o", dir .. "/body" }
  if opts.body then
    proc.write(dir .. "/req", json.encode(opts.body))
    for _, a in ipairs({ "-H", "Content-Type: application/json", "--data-binary", "@" .. dir .. "/req" }) do
      args[#args + 1] = a
    end
  end
  args[#args + 1] = server:url() .. path .. "?" .. table.concat(query, "&")
  for i, a in ipairs(args) do args[i] = proc.q(a) end
  local ran = proc.sh("env -u LD_PRELOAD " .. table.concat(args, " "))
  local head, text = proc.read(dir .. "/head") or "", proc.read(dir .. "/body") or ""
  proc.rmtree(dir)
  assert(ran.ok, "curl failed: " .. ran.err)
  local r = { status = tonumber(head:match("^HTTP/[%d.]+ (%d+)")), headers = {} }
  for name, value in head:gmatch("\n([^:\r\n]+):%s*([^\r\n]*)") do r.headers[name] = value end
  function r.header(name)
    for k, v in pairs(r.headers) do
      if k:lower() == name:lower() then return v end
    end
    return nil
  end
  r.body = text ~= "" and json.decode(text) or text
  return r
end

function M.client(server, opts)
  return server:client(opts)
end

-- Log entries for API calls only (admin calls are not logged).
function M.requests(server) return server:log() end

-- Seconds an arrival may lag its start; spec/run.sh raises it for the valgrind pass.
M.TIMING_SLACK = tonumber(os.getenv("SMARTLUA_SPEC_TIMING_SLACK")) or 0.05

-- The most requests the log shows inside any window of `per` seconds.
function M.busiest_window(log, per)
  local most = 0
  for i = 1, #log do
    local n = 0
    for j = i, #log do
      if log[j].at - log[i].at < per then n = n + 1 end
    end
    most = math.max(most, n)
  end
  return most
end

-- How many requests of a mock's log could have changed something: not GETs, not the admin routes.
function M.writes_in(log)
  local n = 0
  for _, e in ipairs(log) do
    if e.method ~= "GET" and not e.path:find("^/__mock") then n = n + 1 end
  end
  return n
end

-- The mock's state without the clock: updated_at changes on every write, even a restoring one.
function M.timeless(state)
  for _, a in ipairs(state.accounts) do a.updated_at = nil end
  return state
end

-- Runs fn(client) under a journal session writing path; returns the journal's records.
function M.journaled(client, path, fn)
  local s = require("smartlead.run").session { mode = "journal", journal = path }
  local previous = client:set_session(s)
  local ok, err = pcall(fn, client)
  client:set_session(previous)
  if s.journal then s.journal:close() end
  assert(ok, err)
  return assert(require("smartlead.journal").read(path))
end

function M.last_request(server)
  local log = server:log()
  return log[#log]
end

-- Every string reachable from v, for leak checks.
function M.strings(v, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "string" then
    out[#out + 1] = v
  elseif type(v) == "table" and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do
      M.strings(k, out, seen)
      M.strings(x, out, seen)
    end
  end
  return out
end

function M.contains_secret(v, secret)
  for _, s in ipairs(M.strings(v)) do
    if s:find(secret, 1, true) then return true end
  end
  return false
end

M.json = json
return M
