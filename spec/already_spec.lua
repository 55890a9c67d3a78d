-- No request for what is already so, and how long a plan takes to apply: a set whose values the
-- account holds sends nothing and says so (plan, journal, summary, exit 0); --plan estimates the
-- requests and the time at the key's budget.
local json = require "smartlead.json"
local support = require "support"
local proc = require "proc"
local q = proc.q

describe("already so", function()
  local tmp, server
  support.shared_server(function(s) server = s end)
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  local function env()
    return ("env SMARTLEAD_API_KEY=%s SMARTLEAD_BASE_URL=%s XDG_STATE_HOME=%s"):format(
      q(support.KEY), q(server:url()), q(tmp .. "/xdg"))
  end

  local SCRIPT = [[
    local c = require("smartlead").client()
    local same = assert(c:update_email_account(3002, { max_email_per_day = 20 })) -- 20 already
    local other = assert(c:update_email_account(3003, { max_email_per_day = 3 }))
    print(same.already, other.already)
  ]]

  it("sends nothing for a set the account already shows, journals it as such, and exits 0", function()
    local script = proc.write(tmp .. "/same.lua", SCRIPT)
    local path = tmp .. "/j.jsonl"
    local r = proc.sh(env() .. " " .. q(proc.BIN) .. " --journal " .. q(path) .. " " .. q(script))
    assert.equal(0, r.code, r.err)
    assert.equal("true\tnil", r.lines[1])
    local posts = {}
    for _, e in ipairs(server:log()) do
      if e.method == "POST" then posts[#posts + 1] = e.path end
    end
    assert.same({ "/api/v1/email-accounts/3003" }, posts)
    local kinds = {}
    for l in proc.read(path):gmatch("[^\n]+") do kinds[#kinds + 1] = json.decode(l).type end
    assert.same({ "begin", "already", "intent", "result", "end" }, kinds)
    assert.truthy(r.err:find("(2 writes: 1 sent, 1 already so, not sent)", 1, true), r.err)
  end)

  it("--plan counts it as already so, and estimates the requests and the time at the default budget", function()
    local script = proc.write(tmp .. "/same_plan.lua", SCRIPT)
    local r = proc.sh(env() .. " " .. q(proc.BIN) .. " --plan " .. q(script))
    assert.equal(0, r.code, r.err)
    assert.equal("Plan: 1 account changed, 1 field changed, 0 attaches, 0 detaches, 1 write already so (nothing to "
      .. "send).", r.lines[#r.lines])
    assert.truthy(r.err:find("estimate: 1 write + 1 read; at 10 requests per 2 s this takes about 1 s", 1, true), r.err)
  end)
end)

describe("apply as a bulk run", function()
  local tmp, server
  support.shared_server(function(s) server = s end)
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  local function smartlua(args) return support.smartlua(server, args, "XDG_STATE_HOME=" .. q(tmp .. "/xdg")) end

  local function posts()
    local n = 0
    for _, e in ipairs(server:log()) do
      if e.method == "POST" then n = n + 1 end
    end
    return n
  end

  it("apply --resume J P sends only what J does not show done; applying again says already applied", function()
    local script = proc.write(tmp .. "/thirty.lua", [[
      local c = require("smartlead").client()
      local list = assert(c:all_accounts())
      for i = 1, 30 do c:update_email_account(list[i].id, { max_email_per_day = 5 }) end
    ]])
    local plan = tmp .. "/p.json"
    assert.equal(0, smartlua({ "--plan-out", plan, script }).code)
    local full = tmp .. "/full.jsonl"
    local r = smartlua({ "apply", "--journal", full, plan })
    assert.equal(0, r.code, r.err)
    local writes = posts()
    -- the journal of an apply stopped after its first ten results
    local kept, results = {}, 0
    for l in proc.read(full):gmatch("[^\n]+") do
      local rec = json.decode(l)
      if rec.type == "result" then results = results + 1 end
      if results > 10 then break end
      kept[#kept + 1] = l
    end
    local cut = proc.write(tmp .. "/cut.jsonl", table.concat(kept, "\n") .. "\n")
    server:reset()
    r = smartlua({ "apply", "--resume", cut, plan })
    assert.equal(0, r.code, r.err)
    assert.equal(writes - 10, posts(), "a resumed apply sends only what its journal does not show done")
    r = smartlua({ "apply", plan })
    assert.equal(0, r.code, r.err)
    assert.equal(("Apply: 30 writes planned: 10 sent, %d already done, 0 skipped, 0 failed; 10 accounts changed.")
      :format(writes - 10), r.lines[#r.lines])
    r = smartlua({ "apply", plan })
    assert.equal("Already applied: every change of the plan is in place; nothing was sent.", r.lines[#r.lines])
  end)
end)

describe("before-values at list cost", function()
  local tmp, server
  support.shared_server(function(s) server = s end)
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  -- runs script (ids: a Lua list) with a journal; returns the single reads, the list pages and
  -- the intents with a before-value
  local function run_by_id(ids, sequential)
    local body = sequential and [[
      for _, id in ipairs(ids) do assert(c:update_email_account(id, { max_email_per_day = 3 })) end
    ]] or [[
      local r = c:each(ids, function(id) return c:update_email_account(id, { max_email_per_day = 3 }) end)
      assert(#r.failed == 0)
    ]]
    local script = proc.write(tmp .. "/by_id.lua", ("local c = require('smartlead').client()\nlocal ids = { %s }\n%s")
      :format(table.concat(ids, ","), body))
    local path = tmp .. "/j.jsonl"
    os.remove(path)
    server:reset()
    local r = proc.sh(("env SMARTLEAD_API_KEY=%s SMARTLEAD_BASE_URL=%s %s --journal %s %s"):format(
      q(support.KEY), q(server:url()), q(proc.BIN), q(path), q(script)))
    assert.equal(0, r.code, r.err)
    local singles, pages = 0, 0
    for _, e in ipairs(server:log()) do
      if e.method == "GET" and e.path:find("^/api/v1/email%-accounts/%d+/?$") then singles = singles + 1 end
      if e.method == "GET" and e.path:find("^/api/v1/email%-accounts/?$") then pages = pages + 1 end
    end
    local befores = 0
    for l in proc.read(path):gmatch("[^\n]+") do
      local rec = json.decode(l)
      if rec.type == "intent" and rec.before and rec.before.max_email_per_day ~= nil then befores = befores + 1 end
    end
    return singles, pages, befores
  end

  local function own_ids()
    local ids = {}
    for _, a in ipairs(server:state().accounts) do
      if a.user_id == 1001 then ids[#ids + 1] = a.id end
    end
    return ids
  end

  it("a run writing many accounts it did not list reads the list only as far as they go", function()
    local ids = table.move(own_ids(), 1, 150, 1, {}) -- the first 150 in the list's order: 2 pages hold them
    local singles, pages, befores = run_by_id(ids)
    assert.equal(0, singles)
    assert.equal(2, pages)
    assert.equal(150, befores)
  end)

  it("accounts scattered over the list cost at most one read each, and every one has its before-value", function()
    local all, ids = own_ids(), {}
    for i = 1, #all, 13 do ids[#ids + 1] = all[#all + 1 - i] end -- 20 accounts, the last first
    local singles, pages, befores = run_by_id(ids)
    assert.is_true(singles + pages <= #ids, ("%d single reads + %d pages for %d accounts"):format(singles, pages, #ids))
    assert.equal(#ids, befores)
  end)

  it("one account written alone costs one read; a sequential run turns to the list after LIST_AFTER", function()
    local all = own_ids()
    local singles, pages = run_by_id({ all[#all] })
    assert.equal(1, singles)
    assert.equal(0, pages)
    local ids = {}
    for i = #all, #all - 59, -1 do ids[#ids + 1] = all[i] end -- 60 accounts from the list's end, one at a time
    local s2, p2, befores = run_by_id(ids, true)
    assert.is_true(s2 + p2 <= #ids, ("%d single reads + %d pages for %d accounts"):format(s2, p2, #ids))
    assert.equal(60, befores)
  end)
end)

describe("plan estimates", function()
  local planlib = require "smartlead.plan"

  local function plan_of(n)
    local p = planlib.new()
    for i = 1, n do
      p:add { op = "update_email_account", kind = "set", target = { account = 1000 + i },
        fields = { max_email_per_day = 5 }, before = { max_email_per_day = 9 } }
    end
    return p
  end

  it("takes the window that binds: 5,000 writes + 50 reads at 1,000 an hour is about 5 h 3 min", function()
    local budget = { windows = { { requests = 10, per = 1 }, { requests = 60, per = 60 },
      { requests = 1000, per = 3600 } } }
    assert.equal("5,000 writes + 50 reads; at 1,000 requests/hour this takes about 5 h 3 min",
      plan_of(5000):estimate(budget))
    assert.equal("19 writes + 19 reads; at 10 requests/second this takes about 4 s",
      plan_of(19):estimate({ windows = { { requests = 10, per = 1 } } }))
    assert.is_nil(planlib.new():estimate(budget))
  end)
end)
