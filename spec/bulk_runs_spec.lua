-- apply as a bulk run through client:each: writes to one account go one after another in the
-- plan's order, a retried write never overtaken.
local support = require "support"
local json = require "smartlead.json"
local run = require "smartlead.run"
local apply = require "smartlead.apply"
local proc = require "proc"

-- The mock's POSTs to an account, in arrival order.
local function account_posts(log)
  local out = {}
  for _, e in ipairs(log) do
    if e.method == "POST" and e.path:find("^/api/v1/email%-accounts/%d+/?$") then out[#out + 1] = e end
  end
  return out
end

local function quiet() local lines = {} return lines, function(l) lines[#lines + 1] = l end end

describe("apply as a bulk run", function()
  local tmp, server, client
  support.shared_server(function(s, c) server, client = s, c end)
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)
  after_each(function() server:configure { scripted = json.null } end)

  it("a write refused with 429 and sent again is not overtaken by the plan's next write to that account", function()
    local s = run.session { mode = "plan" }
    local previous = client:set_session(s)
    assert(client:update_email_account(3002, { max_email_per_day = 7 }))
    assert(client:update_email_account(3002, { max_email_per_day = 9 }))
    client:set_session(previous)
    server:configure { scripted = { { method = "POST", path = "^/email%-accounts/3002/?$", status = 429, times = 1,
      body = '{"message":"Rate limit exceeded"}', headers = { ["Retry-After"] = "1" } } } }
    local lines, out = quiet()
    local report = apply.apply(s.plan, { client = client, journal = tmp .. "/j.jsonl", out = out })
    assert.equal(0, apply.exit_code(report), table.concat(lines, "\n"))
    local bodies = {}
    for i, e in ipairs(account_posts(server:log())) do bodies[i] = { e.status, e.body.max_email_per_day } end
    assert.same({ { 429, 7 }, { 200, 7 }, { 200, 9 } }, bodies)
    assert.equal(9, server:account(3002).message_per_day)
  end)
end)
