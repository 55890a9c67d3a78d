-- smartlead.policy on the fixture fleet: known decisions for known accounts, the invariants every
-- plan must keep, apply() against fakes and against the mock over HTTP, and the examples.
local support = require "support"
local policy = require "smartlead.policy"
local json = require "smartlead.json"

local function load_seed()
  local f = assert(io.open("spec/fixtures/seed.json", "rb"))
  local seed = assert(json.decode(f:read("a")))
  f:close()
  return seed
end

local SEED = load_seed()

-- Fresh copies each time, so no test sees another's edits.
local function own_accounts()
  local list = {}
  for _, a in ipairs(load_seed().accounts) do
    if a.user_id == 1001 then list[#list + 1] = a end
  end
  return list
end

local function account(id)
  for _, a in ipairs(own_accounts()) do
    if a.id == id then return a end
  end
end

local function campaigns(only)
  local list = {}
  for _, c in ipairs(SEED.campaigns) do
    if c.user_id == 1001 and (not only or only[c.id]) then
      local ids = {}
      for i, id in ipairs(c.email_account_ids) do ids[i] = id end
      list[#list + 1] = { id = c.id, status = c.status, account_ids = ids }
    end
  end
  return list
end

local function codes(h)
  local out = {}
  for i, r in ipairs(h.reasons) do out[i] = r.code end
  return out
end

local function by_id(changes)
  local t = {}
  for _, c in ipairs(changes) do t[c.id] = c end
  return t
end

local function find(changes, op, campaign)
  for _, c in ipairs(changes) do
    if c.op == op and c.campaign == campaign then return c end
  end
end

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

describe("policy.health", function()
  it("calls a connected, well-reputed account under its limit healthy", function()
    local h = policy.health(account(3001))
    assert.same({ healthy = true, status = "healthy", reasons = {}, reputation = 99 }, h)
  end)

  it("names a disconnected SMTP with the server's error, and a low reputation", function()
    local h = policy.health(account(3004))
    assert.equal("sick", h.status)
    assert.is_false(h.healthy)
    assert.same({
      { code = "smtp_disconnected", text = "SMTP disconnected: Greeting never received from SMTP server",
        severity = "sick" },
      { code = "low_reputation", text = "reputation 65% < 90%", severity = "sick" },
    }, h.reasons)
  end)

  it("names a disconnected IMAP", function()
    assert.same({ "imap_disconnected", "low_reputation" }, codes(policy.health(account(3008))))
  end)

  it("calls warmup blocked by is_warmup_blocked, even with no reason text, or by a blocked_reason", function()
    local h = policy.health(account(3059))
    assert.same({ "warmup_blocked" }, codes(h))
    assert.equal("warmup blocked: Warmup paused: spam rate above threshold for 3 consecutive days", h.reasons[1].text)
    local a = account(3001)
    a.warmup_details.is_warmup_blocked, a.warmup_details.status = true, "INACTIVE"
    assert.same({ { code = "warmup_blocked", text = "warmup blocked", severity = "sick" } }, policy.health(a).reasons)
    -- there is no status BLOCKED: a status alone says nothing
    a = account(3001)
    a.warmup_details.status = "PAUSED"
    assert.same({}, policy.health(a).reasons)
  end)

  it("judges bounces from mailbox statistics: sick above 5%, a warning above warn_bounce_rate", function()
    local a = account(3001)
    local function status(stats, p)
      local params = { stats = stats }
      for k, v in pairs(p or {}) do params[k] = v end
      local h = policy.health(a, params)
      return h.status, h.reasons[1] and h.reasons[1].code
    end
    assert.same({ "sick", "high_bounce_rate" }, { status({ sent_count = 100, bounce_count = 6 }) })
    -- 5% is not above 5%
    assert.same({ "warning", "rising_bounce_rate" }, { status({ sent_count = 100, bounce_count = 5 }) })
    assert.same({ "warning", "rising_bounce_rate" }, { status({ sent_count = "100", bounce_count = "4" }) })
    assert.same({ "healthy" }, { status({ sent_count = 100, bounce_count = 2 }) })
    assert.same({ "healthy" }, { status({ sent_count = 100, bounce_count = 4 }, { warn_bounce_rate = 4 }) })
    assert.same({ "healthy" }, { status({ sent_count = 10, bounce_count = 5 }) }) -- too few sent to judge
    -- rows as get_mailbox_statistics answers them, or by account id
    assert.same({ "sick", "high_bounce_rate" },
      { status({ { email_account_id = 3001, sent_count = 50, bounce_count = 9 } }) })
    assert.same({ "sick", "high_bounce_rate" }, { status({ [3001] = { sent_count = 50, bounce_count = 9 } }) })
    assert.equal("bounces 18.0% of 50 sent > 5% (SmartLead disconnects above 5%)",
      policy.health(a, { stats = { sent_count = 50, bounce_count = 9 } }).reasons[1].text)
  end)

  it("never attaches or ramps an account whose warmup is blocked", function()
    local a = account(3001)
    a.warmup_details.is_warmup_blocked = true
    assert.same({}, policy.ramp({ a }))
    local changes = policy.rotate({ { id = 1, status = "ACTIVE", account_ids = {} } }, { a })
    assert.same({}, changes)
  end)

  it("calls a suspended account sick", function()
    assert.same({ "suspended" }, codes(policy.health(account(3083))))
  end)

  it("only warns about an account over today's limit", function()
    local h = policy.health(account(3025))
    assert.equal("warning", h.status)
    assert.is_false(h.healthy)
    assert.same({ { code = "over_daily_limit", text = "sent 66 today, over its limit of 45", severity = "warning" } },
      h.reasons)
  end)

  it("does not count a warmup that never started (null) against an account", function()
    local a = account(3024)
    assert.equal(json.null, a.warmup_details)
    assert.same({ healthy = true, status = "healthy", reasons = {} }, policy.health(a))
  end)

  it("takes the reputation threshold as a parameter, and reads numeric reputations", function()
    assert.equal("sick", policy.health(account(3009)).status)
    assert.equal("healthy", policy.health(account(3009), { min_reputation = 60 }).status)
    local a = account(3001)
    a.warmup_details.warmup_reputation = 42
    assert.same({ "low_reputation" }, codes(policy.health(a)))
  end)

  it("refuses unknown parameters and bad values, naming them", function()
    assert.has_error(function() policy.health(account(3001), { min_rep = 80 }) end,
      "policy.health: unknown parameter 'min_rep'")
    assert.has_error(function() policy.health(account(3001), { min_reputation = "80" }) end,
      "policy.health: parameter 'min_reputation' must be a number from 0 to 100")
  end)
end)

describe("policy.ramp", function()
  local changes

  before_each(function() changes = policy.ramp(own_accounts()) end)

  it("raises healthy accounts at 95% or more by 5, up to the ceiling", function()
    local c = by_id(changes)
    assert.same({ op = "update", id = 3002, fields = { max_email_per_day = 25 },
                  before = { max_email_per_day = 20 }, reason = "reputation 97% >= 95%" }, c[3002])
    assert.same({ max_email_per_day = 95 }, c[3003].fields) -- exactly 95%: raised
    assert.same({ max_email_per_day = 100 }, c[3006].fields) -- 95 -> 100, the ceiling
    assert.is_nil(c[3001])                                  -- already at 100
  end)

  it("halves accounts under 85%, rounding down, never under the floor", function()
    local c = by_id(changes)
    assert.same({ op = "update", id = 3005, fields = { max_email_per_day = 12 },
                  before = { max_email_per_day = 25 }, reason = "reputation 80% < 85%" }, c[3005])
    assert.same({ max_email_per_day = 50 }, c[3009].fields)
    assert.same({ max_email_per_day = 10 }, c[3019].fields) -- 20 * 0.5 = 10, the floor
    assert.same({ max_email_per_day = 15 }, c[3199].fields)
  end)

  it("zeroes disconnected accounts whatever their reputation", function()
    local c = by_id(changes)
    assert.same({ op = "update", id = 3004, fields = { max_email_per_day = 0 },
                  before = { max_email_per_day = 50 }, reason = "SMTP disconnected: zero sending" }, c[3004])
    assert.equal("IMAP disconnected: zero sending", c[3008].reason)
    assert.same({ max_email_per_day = 0 }, c[3046].fields) -- 98% but IMAP down
  end)

  it("leaves alone: over its limit, no reputation, suspended, blocked, in between", function()
    local c = by_id(changes)
    for _, id in ipairs({ 3025, 3024, 3083, 3059, 3018, 3010 }) do
      assert.is_nil(c[id], "expected no change for " .. id)
    end
  end)

  it("makes 154 changes on the fixtures, sorted by id, none a no-op", function()
    assert.equal(154, #changes)
    for i, c in ipairs(changes) do
      assert.not_equal(c.before.max_email_per_day, c.fields.max_email_per_day)
      if i > 1 then assert.is_true(changes[i - 1].id < c.id) end
    end
  end)

  it("takes every threshold as a parameter", function()
    local c = by_id(policy.ramp(own_accounts(),
      { step = 10, ceiling = 60, floor = 20, good = 99, bad = 70, cut = 0.25 }))
    assert.same({ max_email_per_day = 50 }, c[3051].fields)  -- 100%: 40 + 10
    assert.same({ max_email_per_day = 60 }, c[3049].fields)  -- 99%: 55 + 10, held at 60
    assert.is_nil(c[3012])                                   -- 98% < good 99
    assert.is_nil(c[3022])                                   -- 99% but 85 is above the ceiling
    assert.same({ max_email_per_day = 25 }, c[3009].fields)  -- 63%: 100 * 0.25
    assert.same({ max_email_per_day = 22 }, c[3230].fields)  -- 67%: 90 * 0.25 rounded down
    assert.same({ max_email_per_day = 20 }, c[3246].fields)  -- 64%: 12.5, held at the floor
    assert.is_nil(c[3026])                                   -- 74%: not under bad 70
  end)

  it("never lowers on a raise nor raises on a cut", function()
    local a, b = account(3001), account(3019)
    a.message_per_day = 150 -- above the ceiling, 99%
    b.message_per_day = 8   -- under the floor, 77%
    assert.same({}, policy.ramp({ a, b }))
  end)

  it("refuses unknown parameters and impossible combinations", function()
    assert.has_error(function() policy.ramp({}, { ceil = 10 }) end, "policy.ramp: unknown parameter 'ceil'")
    assert.has_error(function() policy.ramp({}, { cut = 2 }) end,
      "policy.ramp: parameter 'cut' must be a number from 0 to 1")
    assert.has_error(function() policy.ramp({}, { step = 2.5 }) end,
      "policy.ramp: parameter 'step' must be an integer from 1 to 10000")
    assert.has_error(function() policy.ramp({}, { floor = 50, ceiling = 40 }) end,
      "policy.ramp: floor is above ceiling")
  end)
end)

-- Invariants of a rotation plan, checked against the campaigns it was made from.
local function check_rotation(list, accounts, changes, p)
  p = p or {}
  local acc, health = {}, {}
  for _, a in ipairs(accounts) do acc[a.id], health[a.id] = a, policy.health(a) end
  local final, seen_detach, count = {}, {}, {}
  for _, c in ipairs(list) do
    final[c.id] = set(c.account_ids)
    for id in pairs(final[c.id]) do count[id] = (count[id] or 0) + 1 end
  end
  for _, ch in ipairs(changes) do
    local members = final[ch.campaign]
    for i, id in ipairs(ch.ids) do
      if i > 1 then assert.is_true(ch.ids[i - 1] < id) end
      if ch.op == "attach" then
        assert.is_nil(seen_detach[ch.campaign], "attach after detach")
        assert.is_nil(members[id], "attaching a member")
        local a = acc[id]
        assert.is_true(health[id].healthy and a.is_smtp_success == true and a.is_imap_success == true
          and a.is_suspended ~= true, "attaching an unusable account " .. id)
        members[id], count[id] = true, (count[id] or 0) + 1
      else
        assert.is_true(members[id], "detaching a non-member")
        assert.equal("sick", health[id].status)
        members[id] = nil
      end
    end
    if ch.op == "detach" then seen_detach[ch.campaign] = true end
  end
  for _, c in ipairs(list) do
    local n = 0
    for _ in pairs(final[c.id]) do n = n + 1 end
    assert.is_true(n <= (p.max_per_campaign or 2500))
    if c.status == "ACTIVE" and #c.account_ids > 0 then assert.is_true(n > 0, "emptied " .. c.id) end
  end
  return final, count
end

local function capacity(ids, accounts)
  local acc, total = {}, 0
  for _, a in ipairs(accounts) do acc[a.id] = a end
  for id in pairs(ids) do
    if acc[id] and policy.health(acc[id]).healthy then total = total + acc[id].message_per_day end
  end
  return total
end

local function spread(list, members, accounts)
  local lo, hi = math.huge, -math.huge
  for _, c in ipairs(list) do
    if not policy.CLOSED_STATUSES[c.status] then
      local cap = capacity(members[c.id], accounts)
      lo, hi = math.min(lo, cap), math.max(hi, cap)
    end
  end
  return hi - lo
end

describe("policy.rotate", function()
  it("detaches exactly the sick accounts of each campaign", function()
    local changes = policy.rotate(campaigns(), own_accounts())
    -- 3013, 3016 and 3020: warmup blocked with no reason (is_warmup_blocked alone)
    assert.same({ 3004, 3005, 3008, 3009, 3010, 3013, 3016, 3018, 3019, 3020, 3026, 3033, 3034, 3039 },
      find(changes, "detach", 4101).ids)
    assert.same({ 3004, 3005, 3055, 3058, 3059, 3067, 3074, 3079 }, find(changes, "detach", 4106).ids)
    assert.same({ 3127, 3128, 3129, 3133, 3135, 3136, 3137 }, find(changes, "detach", 4105).ids)
    assert.same({ 3005, 3008, 3009, 3010 }, find(changes, "detach", 4107).ids) -- a STOPPED one may empty
    assert.equal("sick (imap_disconnected 1, low_reputation 7, smtp_disconnected 3, warmup_blocked 3)",
      find(changes, "detach", 4101).reason)
    assert.equal("SMTP disconnected: Greeting never received from SMTP server; reputation 65% < 90%",
      find(changes, "detach", 4101).why[3004])
  end)

  it("fills the emptiest campaigns first; STOPPED, ARCHIVED, DRAFTED and COMPLETED ones get nothing", function()
    local changes = policy.rotate(campaigns(), own_accounts())
    for _, cid in ipairs { 4104, 4105, 4107, 4108 } do assert.is_nil(find(changes, "attach", cid), cid) end
    local a4102 = find(changes, "attach", 4102)
    assert.equal(36, #a4102.ids)
    assert.equal("balance daily capacity: 0 -> 2600 per day", a4102.reason)
    -- 4102's only account (3209, 88%) can go: the attach before it leaves the campaign full
    assert.same({ 3209 }, find(changes, "detach", 4102).ids)
    assert.equal(find(changes, "attach", 4102), changes[3])
    assert.equal(find(changes, "detach", 4102), changes[4])
  end)

  it("keeps the invariants: none emptied, <= 2500, no no-ops, usable accounts, balance improves", function()
    local list, accounts = campaigns(), own_accounts()
    local changes = policy.rotate(list, accounts)
    local final, count = check_rotation(list, accounts, changes)
    local before = {}
    for _, c in ipairs(list) do before[c.id] = set(c.account_ids) end
    assert.is_true(spread(list, final, accounts) < spread(list, before, accounts))
    assert.is_true(spread(list, final, accounts) <= 100) -- the largest account limit
    for _, ch in ipairs(changes) do
      for _, id in ipairs(ch.op == "attach" and ch.ids or {}) do assert.equal(1, count[id]) end
    end
  end)

  it("is deterministic", function()
    assert.same(policy.rotate(campaigns(), own_accounts()), policy.rotate(campaigns(), own_accounts()))
  end)

  it("keeps an active campaign's last account and says so", function()
    local accounts = { account(3209) }
    local changes, notes = policy.rotate({ { id = 4102, status = "ACTIVE", account_ids = { 3209 } } }, accounts)
    assert.same({}, changes)
    assert.same({ "kept 3209: last account of active campaign 4102 (no detach)" }, notes)
  end)

  it("keeps the healthiest sick account when all are sick and there is no pool", function()
    local accounts = { account(3004), account(3009), account(3026) }
    local list = { { id = 9001, status = "ACTIVE", account_ids = { 3004, 3009, 3026 } } }
    local changes = policy.rotate(list, accounts)
    assert.same({ 3004, 3009 }, changes[1].ids)
    assert.equal("sick (low_reputation 1, smtp_disconnected 1); kept 3026: last account of active campaign 9001",
      changes[1].reason)
    list[1].status = nil -- unknown status: treated as active
    assert.same({ 3004, 3009 }, policy.rotate(list, accounts)[1].ids)
    list[1].status = "PAUSED" -- a paused campaign may be emptied
    assert.same({ 3004, 3009, 3026 }, policy.rotate(list, accounts)[1].ids)
  end)

  it("never puts more than max_per_campaign (at most 2500) in a campaign", function()
    local full = {}
    for i = 1, 2499 do full[i] = 900000 + i end -- members the plan knows nothing about
    local list = { { id = 1, status = "ACTIVE", account_ids = full }, { id = 2, status = "ACTIVE", account_ids = {} } }
    local changes = policy.rotate(list, own_accounts())
    assert.equal(1, #find(changes, "attach", 1).ids)
    assert.is_true(#find(changes, "attach", 2).ids > 100)
    local small = policy.rotate(campaigns(), own_accounts(), { max_per_campaign = 45 })
    check_rotation(campaigns(), own_accounts(), small, { max_per_campaign = 45 })
    assert.equal(5, #find(small, "attach", 4101).ids)
    assert.has_error(function() policy.rotate({}, {}, { max_per_campaign = 2501 }) end,
      "policy.rotate: parameter 'max_per_campaign' must be an integer from 1 to 2500")
  end)

  it("lets an account sit in per_account_campaigns of these campaigns", function()
    local list, accounts = campaigns({ [4102] = true, [4103] = true }), own_accounts()
    local changes = policy.rotate(list, accounts, { per_account_campaigns = 2 })
    local _, count = check_rotation(list, accounts, changes)
    local both = 0
    for _, n in pairs(count) do
      assert.is_true(n <= 2)
      if n == 2 then both = both + 1 end
    end
    assert.is_true(both > 100)
  end)

  it("refuses unknown parameters", function()
    assert.has_error(function() policy.rotate({}, {}, { per_account = 2 }) end,
      "policy.rotate: unknown parameter 'per_account'")
  end)
end)

describe("policy.pause", function()
  it("detaches sick accounts from active campaigns only, then zeroes them", function()
    local changes, notes = policy.pause(campaigns(), own_accounts())
    assert.same({ "kept 3209: last account of active campaign 4102 (no detach)" }, notes)
    assert.equal("detach", changes[1].op)
    assert.equal(4101, changes[1].campaign)
    assert.equal(4106, changes[2].campaign)
    local zeroed = {}
    for i = 3, #changes do
      assert.equal("update", changes[i].op)
      assert.same({ max_email_per_day = 0 }, changes[i].fields)
      zeroed[#zeroed + 1] = changes[i].id
    end
    assert.same({ 3004, 3005, 3008, 3009, 3010, 3013, 3016, 3018, 3019, 3020, 3026, 3033, 3034, 3039, 3055, 3058,
                  3059, 3067, 3074, 3079, 3209 }, zeroed)
    assert.equal("reputation 88% < 90%: zero sending", changes[#changes].reason)
  end)
end)

describe("policy.describe", function()
  it("writes one line per change with the value before", function()
    local text = policy.describe({
      { op = "update", id = 3004, fields = { max_email_per_day = 25 }, before = { max_email_per_day = 50 },
        reason = "reputation 65% < 85%" },
      { op = "update", id = 7, fields = { from_name = "X", max_email_per_day = 3 } },
      { op = "attach", campaign = 4102, ids = { 3001, 3002 }, reason = "balance" },
      { op = "detach", campaign = 4101, ids = { 3004 } },
    })
    assert.equal("update 3004 max_email_per_day 50 -> 25 (reputation 65% < 85%)\n"
      .. "update 7 from_name ? -> X, max_email_per_day ? -> 3\n"
      .. "attach 2 accounts to campaign 4102: 3001 3002 (balance)\n"
      .. "detach 1 account from campaign 4101: 3004\n", text)
    assert.equal("", policy.describe({}))
  end)
end)

-- A client that records calls; fail[id] makes that account's update answer nil, err.
local function fake_client(fail, with_each)
  local f = { calls = {}, each_calls = {} }
  function f:update_email_account(id, fields)
    self.calls[#self.calls + 1] = { "update", id, fields.max_email_per_day }
    if fail[id] == "raise" then error("boom " .. id) end
    if fail[id] then return nil, fail[id] end
    return { ok = true }
  end
  function f:add_campaign_email_accounts(cid, ids)
    self.calls[#self.calls + 1] = { "attach", cid, #ids, ids[1] }
    return { ok = true }
  end
  function f:remove_campaign_email_accounts(cid, ids)
    self.calls[#self.calls + 1] = { "detach", cid, #ids, ids[1] }
    if fail[cid] then return nil, fail[cid] end
    return { ok = true }
  end
  if with_each then
    function f:each(items, fn, opts)
      self.each_calls[#self.each_calls + 1] = { n = #items, concurrency = opts.concurrency }
      local report = { ok = 0, failed = {}, total = #items }
      for _, item in ipairs(items) do
        local ok, res, err = pcall(fn, item)
        if ok and res ~= nil then report.ok = report.ok + 1
        else report.failed[#report.failed + 1] = { item = item, error = ok and err or res } end
      end
      return report
    end
  end
  return f
end

local function update(id, n) return { op = "update", id = id, fields = { max_email_per_day = n } } end

local function ids(from, to)
  local t = {}
  for i = from, to do t[#t + 1] = i end
  return t
end

describe("policy.apply with a fake client", function()
  it("runs in order, merging one campaign's consecutive id lists into requests of at most 100", function()
    local f = fake_client({})
    local report = policy.apply(f, {
      update(1, 10),
      { op = "attach", campaign = 5, ids = ids(1, 150) }, { op = "attach", campaign = 5, ids = ids(140, 250) },
      { op = "detach", campaign = 5, ids = { 7 } }, update(2, 20),
    })
    assert.same({ { "update", 1, 10 }, { "attach", 5, 100, 1 }, { "attach", 5, 100, 101 }, { "attach", 5, 50, 201 },
                  { "detach", 5, 1, 7 }, { "update", 2, 20 } }, f.calls)
    assert.same({ ok = 6, failed = {}, total = 6 }, report)
  end)

  it("reports each failure with its change and error, and goes on", function()
    local f = fake_client({ [2] = "nope", [3] = "raise", [5] = "refused" })
    local changes = { update(1, 1), update(2, 2), update(3, 3), { op = "detach", campaign = 5, ids = { 9 } },
      update(4, 4) }
    local report = policy.apply(f, changes)
    assert.equal(5, report.total)
    assert.equal(2, report.ok)
    assert.equal(3, #report.failed)
    assert.equal(changes[2], report.failed[1].change)
    assert.equal("nope", report.failed[1].error)
    assert.equal(changes[3], report.failed[2].change)
    assert.matches("boom 3", report.failed[2].error)
    assert.equal(5, report.failed[3].change.campaign)
    assert.equal("refused", report.failed[3].error)
  end)

  it("uses client:each for updates, never two updates of one account in one batch", function()
    local f = fake_client({ [2] = "nope" }, true)
    local steps = {}
    local report = policy.apply(f, { update(1, 1), update(2, 2), update(1, 5), update(3, 3) },
      { concurrency = 8, on_step = function(c, res, err) steps[#steps + 1] = { c.id, res ~= nil, err } end })
    assert.same({ { n = 2, concurrency = 8 }, { n = 2, concurrency = 8 } }, f.each_calls)
    assert.equal(3, report.ok)
    assert.equal(4, report.total)
    assert.same({ { change = update(2, 2), error = "nope" } }, report.failed)
    assert.same({ { 1, true }, { 2, false, "nope" }, { 1, true }, { 3, true } }, steps)
  end)

  it("refuses a malformed change before sending anything", function()
    local f = fake_client({})
    assert.has_error(function() policy.apply(f, { update(1, 1), { op = "delete", id = 2 } }) end,
      "policy.apply: change 2 has unknown op 'delete'")
    assert.has_error(function() policy.apply(f, { { op = "attach", campaign = 1, ids = {} } }) end,
      "policy.apply: change 1 (attach) needs an integer campaign and ids")
    assert.same({}, f.calls)
  end)
end)

describe("policy.apply against the mock", function()
  local server, client

  -- A key of its own, so that lifting the client-side rate for speed touches no other spec.
  support.shared_server(function(s) server, client = s, s:client { rate = false } end,
    { api_key = "policy-spec-key-4e1d9b" })
  teardown(function() client:close() end)

  local function member_ids(cid)
    local out = {}
    for _, a in ipairs(assert(client:get_campaign_email_accounts(cid))) do out[#out + 1] = a.id end
    table.sort(out)
    return out
  end

  it("applies a ramp plan made from the live list", function()
    local changes = policy.ramp(assert(client:all_accounts()))
    local report = policy.apply(client, changes)
    assert.same({}, report.failed)
    assert.equal(#changes, report.ok)
    assert.equal(25, server:account(3002).message_per_day)
    assert.equal(0, server:account(3004).message_per_day)
    assert.equal(12, server:account(3005).message_per_day)
    assert.equal(100, server:account(3001).message_per_day)
    -- a second run on the new state changes nothing that was cut or zeroed
    local again = by_id(policy.ramp(assert(client:all_accounts())))
    assert.is_nil(again[3004])
  end)

  it("applies a rotation: campaigns gain the attached, lose the sick, none emptied", function()
    local list, accounts = campaigns({ [4101] = true, [4102] = true, [4106] = true }), own_accounts()
    local changes = policy.rotate(list, accounts)
    local final = check_rotation(list, accounts, changes)
    local report = policy.apply(client, changes)
    assert.same({}, report.failed)
    for _, c in ipairs(list) do
      local want = {}
      for id in pairs(final[c.id]) do want[#want + 1] = id end
      table.sort(want)
      assert.same(want, member_ids(c.id))
    end
    assert.is_nil(set(member_ids(4102))[3209])
  end)

  it("reports the API's refusal to empty an active campaign as a failure, and goes on", function()
    local changes = { { op = "detach", campaign = 4102, ids = { 3209 } }, update(3002, 33) }
    local report = policy.apply(client, changes)
    assert.equal(1, report.ok)
    assert.same(changes[1], report.failed[1].change) -- the request's step: a copy with its ids
    assert.equal(400, report.failed[1].error.status)
    assert.same({ 3209 }, member_ids(4102))
    assert.equal(33, server:account(3002).message_per_day)
  end)

  it("applies a pause plan", function()
    local changes = policy.pause(campaigns(), own_accounts())
    local report = policy.apply(client, changes)
    assert.same({}, report.failed)
    assert.is_nil(set(member_ids(4101))[3004])
    assert.same({ 3209 }, member_ids(4102))
    assert.equal(0, server:account(3209).message_per_day)
    assert.equal(0, server:account(3059).message_per_day)
  end)
end)

-- A small fleet for the examples (the client's default rate, 5 requests a second, would make
-- the whole one slow): accounts 3001..3020, a free pool 3081..3090, 3209, and their campaigns.
local function small_seed()
  local seed, keep = load_seed(), {}
  local accounts = json.array({})
  for _, a in ipairs(seed.accounts) do
    if (a.id <= 3020 or (a.id >= 3081 and a.id <= 3090) or a.id == 3209) and a.user_id == 1001 then
      accounts[#accounts + 1], keep[a.id] = a, true
    end
  end
  for _, c in ipairs(seed.campaigns) do
    local kept = json.array({})
    for _, id in ipairs(c.email_account_ids) do
      if keep[id] then kept[#kept + 1] = id end
    end
    c.email_account_ids = kept
  end
  seed.accounts = accounts
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(json.encode(seed))
  f:close()
  return path
end

local SMALL, STATE

-- Runs an example under `smartlua --mock=SMALL`; returns its output (stdout and stderr) and exit
-- code. Its journal goes to a directory of the spec's, not the user's.
local function run_example(args)
  local p = assert(io.popen(("XDG_STATE_HOME=%s build/smartlua --mock=%s %s 2>&1"):format(STATE, SMALL, args)))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

describe("examples under smartlua --mock", function()
  setup(function()
    SMALL, STATE = small_seed(), os.tmpname()
    os.remove(STATE)
    assert(os.execute("mkdir " .. STATE))
  end)
  teardown(function()
    os.remove(SMALL)
    os.execute("rm -rf " .. STATE)
  end)

  it("ramp_limits.lua plans and applies", function()
    local out, code = run_example("examples/ramp_limits.lua")
    assert.equal(0, code, out)
    assert.matches("\nupdate 3004 max_email_per_day 50 %-> 0 %(SMTP disconnected: zero sending%)\n", out)
    assert.matches("\napplied (%d+) of %1 steps\n", out)
    out, code = run_example("examples/ramp_limits.lua --dry-run")
    assert.equal(0, code, out)
    assert.matches("changes planned; nothing sent %(%-%-dry%-run%)", out)
  end)

  it("rotate_pool.lua rotates the given campaigns", function()
    local out, code = run_example("examples/rotate_pool.lua 4101 4102")
    assert.equal(0, code, out)
    assert.matches("\ndetach 1 account from campaign 4102: 3209 ", out)
    assert.matches("\napplied (%d+) of %1 steps\n", out)
    out, code = run_example("examples/rotate_pool.lua 4999")
    assert.not_equal(0, code)
    assert.matches("no campaign 4999", out)
  end)

  it("rotate_pool.lua with no ids takes every ACTIVE and PAUSED campaign from get_campaigns", function()
    local out, code = run_example("examples/rotate_pool.lua --dry-run")
    assert.equal(0, code, out)
    for _, c in ipairs { "4101 %(ACTIVE%)", "4102 %(ACTIVE%)", "4103 %(PAUSED%)", "4106 %(ACTIVE%)" } do
      assert.matches("campaign " .. c, out)
    end
    for _, cid in ipairs { "4104", "4105", "4107", "4108" } do assert.is_nil(out:find("campaign " .. cid, 1, true)) end
  end)

  it("pause_unhealthy.lua detaches and zeroes, keeping a campaign's last account", function()
    local out, code = run_example("examples/pause_unhealthy.lua")
    assert.equal(0, code, out)
    assert.matches("note: kept 3209: last account of active campaign 4102 %(no detach%)", out)
    assert.matches("\napplied (%d+) of %1 steps\n", out)
  end)

  it("import_smtp_accounts.lua adds good rows, skips the bad, never prints a password", function()
    local out, code = run_example("examples/import_smtp_accounts.lua examples/accounts.csv")
    assert.equal(1, code, out) -- one bad row
    assert.matches("line 5: bad row, not sent: imap_port must be a whole number", out)
    assert.matches("line 3 grace@cobol%-mail%.dev: added %(id %d+%)", out)
    assert.matches("line 6 olivia%.hall@hypergrowth%.dev: already there %(id 3001%)", out)
    assert.matches("added 3, added with connection errors 0, already there 1, failed 0, bad rows 1", out)
    assert.is_nil(out:find("FAKE-import-pw", 1, true))
  end)

  it("import_smtp_accounts.lua reports a failed save without the password", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write("from_name,from_email,user_name,password,smtp_host,smtp_port,imap_host,imap_port\r\n",
      "Bad Host,bad@host.io,bad@host.io,SECRET-pw-9,smtp.invalid.host.io,587,imap.host.io,993\r\n",
      "No Pass,nopass@host.io,nopass@host.io,,smtp.host.io,587,imap.host.io,993\r\n")
    f:close()
    local out, code = run_example("examples/import_smtp_accounts.lua " .. path)
    os.remove(path)
    assert.equal(1, code, out)
    -- the account exists all the same: reported with its id, never added again
    assert.matches("line 2 bad@host%.io: saved, but SMTP/IMAP failing: SMTP connection failed: getaddrinfo "
      .. "ENOTFOUND smtp%.invalid%.host%.io %(id %d+%)", out)
    assert.matches("line 3: bad row, not sent: password is empty", out)
    assert.is_nil(out:find("SECRET-pw-9", 1, true))
  end)
end)
