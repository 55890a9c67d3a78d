-- smartlead.testing, as a script author uses it from busted: a mock with bundled, file or table
-- fixtures and a client wired to it; smartlead.client() pointed at it; the request log by path;
-- state; faults, rate limits and the clock; scripts run with their output captured; fixtures
-- captured from a fleet and anonymized.
local t = require "smartlead.testing"
local smartlead = require "smartlead"
local json = require "smartlead.json"
local proc = require "proc"

describe("smartlead.testing", function()
  local mock, client

  setup(function() mock, client = t.mock() end)
  teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)

  it("starts the mock with the bundled fixtures, its key the documented constant", function()
    assert.equal("mock-api-key-0123456789", t.KEY)
    assert.equal(t.KEY, mock.KEY)
    assert.equal(client, mock.client)
    assert.matches("^http://127%.0%.0%.1:%d+/api/v1$", mock:url())
    assert.equal(260, #assert(client:all_accounts()))
    assert.equal(265, #mock:state().accounts)
  end)

  it("makes smartlead.client() talk to it, as smartlua --mock does", function()
    local c = smartlead.client()
    assert.truthy(c:update_email_account(3001, { max_email_per_day = 33 }))
    c:close()
    assert.equal(33, mock:account(3001).message_per_day)
  end)

  it("reads writes by path, below the API root", function()
    assert.truthy(client:update_email_account(3001, { max_email_per_day = 40 }))
    assert.truthy(client:remove_campaign_email_accounts(4101, { 3002 }))
    assert.truthy(client:get_email_account(3002))
    local w = mock:writes("/email-accounts/3001")
    assert.equal(1, #w)
    assert.same({ max_email_per_day = 40 }, w[1].body)
    assert.equal("POST", w[1].method)
    assert.equal(2, #mock:writes())
    assert.equal(1, #mock:writes("^/campaigns/%d+/email%-accounts$"))
    assert.equal(1, #mock:requests("/email-accounts/3002"))
    assert.equal(0, #mock:writes("/email-accounts/3002"))
    mock:clear_log()
    assert.same({}, mock:requests())
  end)

  it("shows its state: accounts and campaigns as stored", function()
    assert.truthy(client:remove_campaign_email_accounts(4101, { 3001 }))
    local c = mock:campaign(4101)
    assert.equal("ACTIVE", c.status)
    for _, id in ipairs(c.email_account_ids) do assert.is_not.equal(3001, id) end
    assert.is_nil(mock:campaign(1))
    assert.is_nil(mock:account(1))
  end)

  it("injects faults and rate limits, and reset takes a test's knobs away", function()
    mock:faults { p5xx = 1, seed = 3 }
    local res, err = client:get_email_account(3001)
    assert.is_nil(res)
    assert.equal(503, err.status)
    mock:reset()
    assert.truthy(client:get_email_account(3001))
    mock:rate_limit { requests = 1, per = 60, retry_after = false }
    mock:configure { rate_headers = "none" } -- else the client learns the budget and waits for the window
    local fast = mock:new_client { max_retries = 0 }
    assert.truthy(fast:get_email_account(3001))
    res, err = fast:get_email_account(3001)
    assert.is_nil(res)
    assert.equal(429, err.status)
    fast:close()
    mock:rate_limit()
    mock:rate_limit("pro")
    assert.equal("pro", mock:configure({}).rate_model)
    mock:reset()
    local knobs = mock:configure({})
    assert.is_true(smartlead.is_null(knobs.rate_model))
    assert.is_true(smartlead.is_null(knobs.rate_headers))
  end)

  it("freezes and advances its clock", function()
    mock:freeze()
    local now = mock:now()
    mock:advance(3600)
    assert.equal(now + 3600, mock:now())
  end)

  it("runs a script with its arguments against the mock and captures what it prints", function()
    local dir = proc.mktemp()
    local script = proc.write(dir .. "/s.lua", [[
      local sl = require "smartlead"
      local c = sl.client()
      local a = assert(c:get_email_account(tonumber(arg[1])))
      print("limit", a.message_per_day)
      io.write("args ", #arg, "\n")
      sl.show({ x = 1 })
      if arg[2] == "fail" then os.exit(4) end
      if arg[2] == "raise" then error("boom", 0) end
    ]])
    local r = mock:run(script, { "3001" })
    assert.same({ ok = true, code = 0, output = "limit\t100\nargs 1\n" .. smartlead.format({ x = 1 }) .. "\n" }, r)
    r = mock:run(script, { "3001", "fail" })
    assert.is_false(r.ok)
    assert.equal(4, r.code)
    r = mock:run(script, { "3001", "raise" })
    assert.equal(1, r.code)
    assert.matches("^boom", r.error)
    r = mock:run(dir .. "/missing.lua")
    assert.equal(1, r.code)
    proc.rmtree(dir)
    assert.equal(print, _G.print)
  end)
end)

describe("smartlead.testing fixtures", function()
  it("starts from a fixtures table or file, and refuses a file that is none", function()
    local fx = { accounts = { { id = 7, from_email = "a@x.example", message_per_day = 9 } },
      campaigns = { { id = 70, user_id = 1001, status = "ACTIVE", name = "c", email_account_ids = { 7 } } } }
    local m, c = t.mock { fixtures = fx, default = false }
    local list = assert(c:all_accounts { fetch_campaigns = true })
    assert.equal(1, #list)
    assert.same({ 70 }, list[1].campaign_ids)
    m:stop()
    local dir = proc.mktemp()
    proc.write(dir .. "/fleet.json", json.encode(fx))
    m, c = t.mock { fixtures = dir .. "/fleet.json", default = false }
    assert.equal(9, assert(c:get_email_account(7)).message_per_day)
    m:stop()
    proc.write(dir .. "/bad.json", "[1, 2]")
    assert.has_error(function() t.mock { fixtures = dir .. "/bad.json" } end)
    local ok, err = pcall(t.load_fixtures, dir .. "/bad.json")
    assert.is_false(ok)
    assert.matches("not a fixtures file", err)
    proc.rmtree(dir)
  end)

  it("capture copies a fleet faithfully and anonymize replaces what identifies it, consistently", function()
    local source = t.mock { default = false }
    local plain = assert(t.capture(source.client))
    local anon = assert(t.capture(source.client, { anonymize = true }))
    local state = source:state()
    source:stop()
    assert.equal(260, #plain.accounts)
    assert.equal(#plain.accounts, #anon.accounts)
    assert.equal(#plain.campaigns, #anon.campaigns)
    local real = {}
    for _, a in ipairs(state.accounts) do
      for _, k in ipairs { "from_email", "from_name", "password", "username", "custom_tracking_domain" } do
        if type(a[k]) == "string" and a[k] ~= "" then real[a[k]:lower()] = k end
      end
    end
    local text = json.encode(anon):lower()
    for s, k in pairs(real) do
      if #s > 3 then assert.is_nil(text:find(s, 1, true), k .. " kept: " .. s) end
    end
    local fake_of = {}
    for i, a in ipairs(anon.accounts) do
      local p = plain.accounts[i]
      assert.equal(p.id, a.id)
      for _, k in ipairs { "message_per_day", "daily_sent_count", "type", "is_smtp_success", "client_id" } do
        assert.same(p[k], a[k], k)
      end
      assert.same(smartlead.reputation(p), smartlead.reputation(a))
      assert.equal(1001, a.user_id)
      assert.matches("^user%d+@domain%d+%.example$", a.from_email)
      assert.equal("FAKEPW-" .. a.id, a.password)
      -- the same address maps to the same fake wherever it appears
      if p.username == p.from_email then assert.equal(a.from_email, a.username) end
      assert.is_nil(fake_of[a.from_email])
      fake_of[a.from_email] = p.from_email
    end
    for i, c in ipairs(anon.campaigns) do
      assert.same(plain.campaigns[i].email_account_ids, c.email_account_ids)
      assert.equal("Campaign " .. c.id, c.name)
    end
    -- the copy serves the same fleet
    local copy = t.mock { fixtures = anon, default = false }
    local list = assert(copy.client:all_accounts { fetch_campaigns = true })
    assert.equal(260, #list)
    copy:stop()
    assert.same(t.anonymize(plain), t.anonymize(plain))
  end)
end)
