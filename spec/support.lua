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
                       save_answer_shape = "legacy", limit_over_100 = "422" }
    client:reset_rate_state() -- a 429 pause learned in one test must not slow the next
  end)
end

function M.client(server, opts)
  return server:client(opts)
end

-- Log entries for API calls only (admin calls are not logged).
function M.requests(server) return server:log() end

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
