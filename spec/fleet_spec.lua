-- Fleet memory: 30 simulated days over the fixture fleet (fleet/simulate.lua moves the mock on one
-- day at a time, snapshots take day=), then the history, each signal by account, the diff, the
-- report, and the file's behaviour: migrations, corrupt, foreign, newer and locked files, two
-- snapshots at once, and a snapshot killed with SIGKILL halfway through its write.
local support = require "support"
local proc = require "proc"
local json = require "smartlead.json"
local smartlead = require "smartlead"
local core = require "smartlead.core"
local store = require "smartlead.fleet.store"
local simulate = require "smartlead.fleet.simulate"
local signals = require "smartlead.fleet.signals"
local days = require "smartlead.fleet.days"
local S = simulate.SCENARIOS

local START = "2026-11-01"
-- valgrind and the sanitizers run 10x to 4x slower (spec/run.sh sets SMARTLUA_SPEC_SCALE): the
-- "in seconds" bound stretches with them
local SLOW = 1 / (tonumber(os.getenv("SMARTLUA_SPEC_SCALE")) or 1)

local function ids_of(list)
  local out = {}
  for _, a in ipairs(list) do out[#out + 1] = a.id end
  table.sort(out)
  return out
end

local function codes(reasons)
  local out = {}
  for _, r in ipairs(reasons) do out[#out + 1] = r.code end
  return out
end

local function sql_value(path, sql)
  local db = assert(core.sqlite.open(path, { readonly = true }))
  local st = assert(db:prepare(sql))
  local row = st:step()
  st:finalize()
  db:close()
  local _, v = next(row or {})
  return v
end

local function mode_of(path)
  local r = proc.sh("stat -c %a " .. proc.q(path))
  return r.out:match("%d+")
end

-- Own accounts of the mock's state, by id, with their campaign ids.
local function own_state(server)
  local st = server:state()
  local by_id = {}
  for _, a in ipairs(st.accounts) do
    if a.user_id == support.OWNER then by_id[a.id] = a end
  end
  return by_id
end

describe("fleet memory over 30 simulated days", function()
  local server, client, dir, db, sim, results, h
  local t_started

  lazy_setup(function()
    t_started = core.monotime()
    server = support.server()
    client = server:client()
    dir = proc.mktemp()
    db = dir .. "/data/smartlua/fleet.db"
    sim = simulate.new(server, { seed = 7, start = START })
    results = {}
    for i = 1, 30 do
      sim:advance()
      local r, err = smartlead.snapshot(client, { db = db, workspace = "acme", day = sim:day() })
      assert(r, tostring(err))
      results[i] = r
    end
    h = assert(smartlead.history(db))
  end)

  lazy_teardown(function()
    if h then h:close() end
    if client then client:close() end
    if server then server:stop() end
    proc.rmtree(dir)
  end)

  it("runs 30 days in seconds, one request per 100 accounts a day", function()
    assert.is_true(core.monotime() - t_started < 30 * SLOW) -- about 1 s here; the bound is for busy machines
    for i, r in ipairs(results) do
      assert.equal(260, r.accounts)
      assert.equal(3 + 1, r.requests) -- ceil(260 / 100) pages, and the campaign list
      assert.equal(days.iso(days.parse(START) + i - 1), r.day)
    end
    -- the mock's own log of the last day agrees (the mock was restarted with that day's state)
    local lists = 0
    for _, e in ipairs(server:log()) do
      if e.method == "GET" and e.path:match("/email%-accounts/?$") then lists = lists + 1 end
    end
    assert.equal(3, lists)
  end)

  it("keeps the file private, in WAL mode, at the newest schema", function()
    assert.equal("600", mode_of(db))
    assert.equal("700", mode_of(dir .. "/data/smartlua"))
    assert.equal("wal", sql_value(db, "PRAGMA journal_mode"))
    assert.equal(#store.MIGRATIONS, sql_value(db, "PRAGMA user_version"))
    assert.equal(store.APPLICATION_ID, sql_value(db, "PRAGMA application_id"))
    assert.equal(30, sql_value(db, "SELECT count(*) FROM snapshots WHERE complete = 1"))
  end)

  it("answers series per account and for the fleet", function()
    local rows = h:series(S.reputation_fall, { days = 30 })
    assert.equal(30, #rows)
    assert.equal(START, rows[1].day)
    assert.equal(73, rows[30].reputation) -- 99 - 2 x 10 - 6
    assert.equal(79, rows[29].reputation)
    assert.same({ 4101, 4106 }, rows[30].campaigns)
    assert.is_true(rows[30].connected)
    local fleet = h:fleet({ days = 30 })
    assert.equal(30, #fleet)
    for _, f in ipairs(fleet) do assert.equal(260, f.accounts) end
    assert.equal("2026-11-22", fleet[22].day)
    assert.equal(28, fleet[22].disconnected) -- 3014 lost SMTP that day
    assert.equal(27, fleet[30].disconnected) -- 3055 reconnected on day 26
    local change = h:change("reputation", { from = "2026-11-23", to = "2026-11-30" })
    local by = {}
    for _, c in ipairs(change) do by[c.id] = c end
    assert.equal(-18, by[S.reputation_fall].delta) -- 91 on the 23rd, 73 on the 30th
    assert.equal(259, #change) -- the new account has no row on the 23rd
  end)

  it("raises reputation_drop for the falling account only (and the slow one over 30 days)", function()
    local ev = signals.evaluate(h, { only = { reputation_drop = true } })
    assert.same({ S.reputation_fall }, ids_of(ev.alerts))
    assert.same({ "reputation_drop" }, codes(ev.alerts[1].reasons))
    assert.equal(18, ev.alerts[1].reasons[1].value)
    local month = signals.evaluate(h, { only = { reputation_drop = true },
      reputation_drop = { points = 5, days = 29 } })
    assert.same({ S.reputation_fall, S.slow_decline }, ids_of(month.alerts))
  end)

  it("raises spam_rising where warmup spam placements grow", function()
    local ev = signals.evaluate(h, { only = { spam_rising = true } })
    -- 3021's placements grow by one a day; 3001's follow its falling reputation
    assert.same({ S.reputation_fall, S.spam_rising }, ids_of(ev.alerts))
    local rows = h:series(S.spam_rising)
    assert.equal(0, #signals.reputation_drop(rows)) -- its reputation stayed flat
  end)

  it("raises burnout for the accounts sending at their limit", function()
    local ev = signals.evaluate(h, { only = { burnout = true } })
    assert.same({ S.burnout[1], S.burnout[2] }, ids_of(ev.alerts))
    assert.matches("sending at 9%d%% of its limit %(95 a day%) for 5 days", ev.alerts[1].reasons[1].message)
  end)

  it("raises disconnected_attached for exactly the failing accounts in campaigns", function()
    local ev = signals.evaluate(h, { only = { disconnected_attached = true } })
    local want = {}
    for id, a in pairs(own_state(server)) do
      if #a.campaign_ids > 0 and not (a.is_smtp_success and a.is_imap_success) then want[#want + 1] = id end
    end
    table.sort(want)
    assert.same(want, ids_of(ev.alerts))
    assert.same({ 3004, 3008, 3014, 3033, 3034, 3046, 3079, 3133, 3136, 3137 }, ids_of(ev.alerts))
    local rows = h:series(S.disconnect)
    assert.same({ "disconnected_attached" }, codes(signals.disconnected_attached(rows)))
    assert.same({}, signals.disconnected_attached(h:series(S.reconnect)))
  end)

  it("finds unused inboxes: no campaign and no sends for a week", function()
    local ev = signals.evaluate(h)
    local want = {}
    for id, a in pairs(own_state(server)) do
      if #a.campaign_ids == 0 and a.from_email ~= S.new_account then want[#want + 1] = id end
    end
    table.sort(want)
    assert.same(want, ids_of(ev.unused))
    assert.is_true(#want > 150)
  end)

  it("passes the warmup gate only after enough warm, connected days", function()
    local ready, why = signals.warmup_gate(h:series(S.warmup_ready))
    assert.is_true(ready)
    assert.same({ "warmup_ready" }, codes(why))
    ready, why = signals.warmup_gate(h:series(S.warmup_young))
    assert.is_false(ready)
    assert.same({ "warmup_short" }, codes(why))
    ready, why = signals.warmup_gate(h:series(S.reconnect)) -- connected only for 5 days
    assert.is_false(ready)
    assert.same({ "warmup_short" }, codes(why))
    local ev = signals.evaluate(h)
    local listed = {}
    for _, a in ipairs(ev.ready) do listed[a.id] = true end
    assert.is_true(listed[S.warmup_ready])
    for _, a in ipairs(ev.ready) do -- every one listed: 14 warm connected days at >= 95, no campaign
      local rows = h:series(a.id, { days = 14 })
      assert.equal(14, #rows)
      for _, r in ipairs(rows) do
        assert.is_true(r.warmup_status == "ACTIVE" and r.connected and r.reputation >= 95 and not r.blocked)
      end
      assert.equal(0, rows[14].campaign_count)
    end
  end)

  it("ranks sender health, weakest first", function()
    local ev = signals.evaluate(h)
    assert.equal(260, #ev.ranking)
    local pos = {}
    for i, r in ipairs(ev.ranking) do pos[r.id] = i end
    assert.is_true(pos[S.reputation_fall] <= 5)
    assert.is_true(ev.ranking[#ev.ranking].score >= 98)
    for i = 2, #ev.ranking do assert.is_true(ev.ranking[i - 1].score <= ev.ranking[i].score) end
  end)

  it("diffs the last day: new, deleted, reputation, limit and campaign moves", function()
    local rows, span = smartlead.fleet.diff(db, { since = "1d" })
    assert.same({ from = "2026-11-29", to = "2026-11-30" }, span)
    local got = {}
    for _, r in ipairs(rows) do got[#got + 1] = { r.change, r.id, r.before, r.after } end
    assert.same({
      { "reputation", S.reputation_fall, 79, 73 },
      { "limit", S.limit_change, 60, 30 },
      { "campaigns", S.campaign_move, "4103", "4106" },
      { "deleted", S.deleted, "elena.wright@leadforge.co", nil },
      { "new", 3273, nil, S.new_account },
    }, got)
    rows = smartlead.fleet.diff(db, { from = "2026-11-21", to = "2026-11-22" })
    assert.same({ { "disconnected", S.disconnect } }, { { rows[1].change, rows[1].id } })
    assert.equal(1, #rows)
    rows = smartlead.fleet.diff(db, { from = "2026-11-25", to = "2026-11-26" })
    assert.same({ "reconnected", S.reconnect, "SMTP failing", "connected" },
      { rows[1].change, rows[1].id, rows[1].before, rows[1].after })
    local none, err = smartlead.fleet.diff(db, { from = "2026-10-01", to = "2026-10-02" })
    assert.is_nil(none)
    assert.matches("no snapshot", tostring(err))
  end)

  it("prints the diff as CSV and JSON through the command entry point", function()
    local out = proc.mktemp()
    local f = io.open(out .. "/o", "w")
    local errs = {}
    local code = smartlead.fleet.commands.diff { db = db, since = "1d", format = "csv", out = f,
      err = { write = function(_, ...) errs[#errs + 1] = table.concat({ ... }) end } }
    f:close()
    assert.equal(0, code)
    local text = proc.read(out .. "/o")
    assert.matches("^change,id,email,before,after,detail,workspace\r\n", text)
    assert.matches("limit,3007,will.khan@kickstartb2b.com,60,30,%-30 a day,acme", text)
    proc.rmtree(out)
  end)

  it("writes one self-contained HTML report with its SVG charts", function()
    local path = dir .. "/report.html"
    local html, info = smartlead.fleet.report(db, { html = path })
    assert.truthy(html, tostring(info))
    assert.equal(html, proc.read(path))
    assert.equal("600", mode_of(path))
    local charts = 0
    for _ in html:gmatch('<svg class="chart"') do charts = charts + 1 end
    assert.equal(6, charts)
    assert.equal(6, info.charts)
    assert.is_nil(html:find("<script", 1, true))
    assert.is_nil(html:find("https?://")) -- nothing fetched: no URL at all
    assert.is_nil(html:find("@import", 1, true))
    local sections = { "summary", "at-risk", "distribution", "campaigns", "trends", "weakest", "ready", "unused" }
    for _, id in ipairs(sections) do
      assert.truthy(html:find('id="' .. id .. '"', 1, true), id)
    end
    assert.truthy(html:find("reputation fell 18 points in 7 days", 1, true))
  end)

  it("keeps workspaces apart in one file and shows them together", function()
    local r = assert(smartlead.snapshot(client, { db = db, workspace = "globex", day = sim:day() }))
    assert.equal(260, r.accounts)
    local all = assert(smartlead.history(db, { workspace = "*" }))
    local per = {}
    for _, f in ipairs(all:fleet({ days = 1 })) do per[f.workspace] = f.accounts end
    assert.same({ acme = 260, globex = 260 }, per)
    all:close()
    local none, err = smartlead.history(db)
    assert.is_nil(none)
    assert.matches("several workspaces %(acme, globex%)", tostring(err))
    -- a workspace name already holding another key's history is refused
    local other = server:client({ api_key = "another-key-0000" })
    local bad, werr = smartlead.snapshot(other, { db = db, workspace = "acme", day = sim:day() })
    other:close()
    assert.is_nil(bad) -- the key is refused by the mock, or the workspace by the store
    assert.truthy(werr)
  end)
end)

describe("fleet store files", function()
  local server, client, dir

  setup(function()
    server = support.server()
    client = server:client()
  end)
  teardown(function()
    client:close()
    server:stop()
  end)
  before_each(function() dir = proc.mktemp() end)
  after_each(function() proc.rmtree(dir) end)

  it("migrates a version-1 file to the newest, keeping its history", function()
    local path = dir .. "/old.db"
    local s = assert(store.open(path, { migrations = { store.MIGRATIONS[1] } }))
    assert.equal(1, s:value("PRAGMA user_version"))
    s:write(function(st)
      local ws = st:workspace_id("old")
      st:run("INSERT INTO snapshots (workspace_id, day, taken_at, accounts, complete) VALUES (?, 20000, 0, 2, 1)", ws)
      st:run("INSERT INTO account_days (workspace_id, account_id, day, reputation, smtp_ok, imap_ok, message_per_day, "
        .. "campaign_count) VALUES (?, 1, 20000, 90, 1, 1, 50, 0), (?, 2, 20000, 80, 0, 1, 30, 1)", ws, ws)
      return true
    end)
    s:close()
    s = assert(store.open(path))
    assert.equal(#store.MIGRATIONS, s:value("PRAGMA user_version"))
    assert.equal(tostring(#store.MIGRATIONS), s:value("SELECT value FROM meta WHERE key = 'schema_version'"))
    assert.equal(2, s:value("SELECT accounts FROM fleet_days WHERE day = 20000"))
    assert.equal(1, s:value("SELECT disconnected FROM fleet_days WHERE day = 20000"))
    assert.equal(85.0, s:value("SELECT reputation_avg FROM fleet_days WHERE day = 20000"))
    s:close()
  end)

  local function refused(path, kind, pattern)
    local before = proc.read(path)
    local s, err = store.open(path)
    assert.is_nil(s)
    assert.equal(kind, err.kind)
    assert.matches(pattern, tostring(err))
    assert.equal(before, proc.read(path)) -- nothing changed
    assert.is_false(proc.exists(path .. "-wal"))
    local r, serr = smartlead.snapshot(client, { db = path, workspace = "x" })
    assert.is_nil(r)
    assert.equal(kind, serr.kind)
    assert.equal(before, proc.read(path))
  end

  it("refuses a corrupt file and changes nothing", function()
    local path = proc.write(dir .. "/fleet.db", ("this is not a database\n"):rep(400))
    refused(path, "corrupt", "is not an SQLite database")
  end)

  it("refuses another application's SQLite file", function()
    local path = dir .. "/notes.db"
    local db = assert(core.sqlite.open(path, { create = true }))
    assert(db:exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'hi')"))
    db:close()
    refused(path, "foreign", "not a smartlua fleet history %(it holds tables: notes%)")
  end)

  it("refuses a history written by a newer smartlua", function()
    local path = dir .. "/fleet.db"
    assert(smartlead.snapshot(client, { db = path, workspace = "w", day = "2026-11-01" }))
    local db = assert(core.sqlite.open(path))
    assert(db:exec("PRAGMA user_version = 99; PRAGMA wal_checkpoint(TRUNCATE)"))
    db:close()
    refused(path, "newer", "written by a newer smartlua %(schema 99")
  end)

  it("reads no history where there is none, and makes no file", function()
    local h, err = smartlead.history(dir .. "/none.db")
    assert.is_nil(h)
    assert.matches("no fleet history there yet", tostring(err))
    assert.is_false(proc.exists(dir .. "/none.db"))
  end)

  it("says locked when another run holds the write lock, and changes nothing", function()
    local path = dir .. "/fleet.db"
    assert(smartlead.snapshot(client, { db = path, workspace = "w", day = "2026-11-01" }))
    local holder = assert(store.open(path))
    assert(holder.db:exec("BEGIN IMMEDIATE"))
    local r, err = smartlead.snapshot(client, { db = path, workspace = "w", day = "2026-11-02", busy_timeout = 200 })
    assert.is_nil(r)
    assert.equal("locked", err.kind)
    assert.matches("is locked by another run", tostring(err))
    assert(holder.db:exec("ROLLBACK"))
    holder:close()
    assert.equal(1, sql_value(path, "SELECT count(*) FROM snapshots"))
  end)

  -- A child smartlua process running a snapshot against this mock.
  local function child_script(path, body)
    return proc.write(path, ([[
      local smartlead = require "smartlead"
      local client = smartlead.client { api_key = %q, base_url = %q, rate = false }
      %s
    ]]):format(support.KEY, server:url(), body))
  end

  it("takes two snapshots at once safely: one waits for the other", function()
    local path = dir .. "/fleet.db"
    assert(smartlead.snapshot(client, { db = path, workspace = "w", day = "2026-11-01" }))
    local script = child_script(dir .. "/snap.lua", ([[
      local r, err = smartlead.snapshot(client, { db = %q, workspace = "w", day = "2026-11-02" })
      if not r then io.stderr:write(tostring(err), "\n") os.exit(1) end
      print(r.accounts)
    ]]):format(path))
    local cmd = ("%s --no-journal %s"):format(proc.q(proc.BIN), proc.q(script))
    local a = assert(io.popen(cmd .. " 2>&1; echo rc=$?"))
    local b = assert(io.popen(cmd .. " 2>&1; echo rc=$?"))
    local ra, rb = a:read("a"), b:read("a")
    a:close()
    b:close()
    assert.equal("260\nrc=0\n", ra)
    assert.equal("260\nrc=0\n", rb)
    assert.equal(2, sql_value(path, "SELECT count(*) FROM snapshots WHERE complete = 1"))
    assert.equal(520, sql_value(path, "SELECT count(*) FROM account_days"))
    assert.equal("ok", sql_value(path, "PRAGMA integrity_check"))
  end)

  it("leaves the last complete snapshot intact when a snapshot is killed halfway", function()
    local path = dir .. "/fleet.db"
    assert(smartlead.snapshot(client, { db = path, workspace = "w", day = "2026-11-01" }))
    local marker = dir .. "/writing"
    local script = child_script(dir .. "/killed.lua", ([[
      local journal = require "smartlead.journal"
      smartlead.snapshot(client, { db = %q, workspace = "w", day = "2026-11-02", progress = function(phase, n)
        if phase == "write" and n >= 100 then
          local f = assert(io.open(%q, "w"))
          f:write(journal.pid())
          f:close()
          while true do end -- halfway through the write transaction: wait to be killed
        end
      end })
    ]]):format(path, marker))
    local p = assert(io.popen(("%s --no-journal %s 2>&1; echo rc=$?"):format(proc.q(proc.BIN), proc.q(script))))
    local pid
    for _ = 1, 500 do
      local text = proc.read(marker)
      pid = text and text:match("^%d+$")
      if pid then break end
      os.execute("sleep 0.02")
    end
    assert.truthy(pid, "the child never reached the write")
    -- the second day's rows are in the child's open transaction, not in the file
    assert.equal(1, sql_value(path, "SELECT count(*) FROM snapshots"))
    os.execute("kill -9 " .. pid)
    local out = p:read("a")
    p:close()
    assert.matches("rc=137", out)
    local s = assert(store.open(path))
    assert.equal("ok", s:value("PRAGMA integrity_check"))
    assert.equal(1, s:value("SELECT count(*) FROM snapshots WHERE complete = 1"))
    assert.equal(0, s:value("SELECT count(*) FROM snapshots WHERE complete = 0"))
    assert.equal(260, s:value("SELECT count(*) FROM account_days"))
    assert.equal(0, s:value("SELECT count(*) FROM account_days WHERE day = ?", days.parse("2026-11-02")))
    s:close()
    local h = assert(smartlead.history(path))
    assert.equal("2026-11-01", days.iso(h:latest()))
    h:close()
    -- and the next snapshot goes through
    assert(smartlead.snapshot(client, { db = path, workspace = "w", day = "2026-11-02" }))
  end)

  it("examples/daily_check.lua snapshots, prints the alerts and exits 1 when there are any", function()
    local path = dir .. "/fleet.db"
    local r = proc.sh(("%s --mock examples/daily_check.lua %s"):format(proc.q(proc.BIN), proc.q(path)))
    assert.equal(1, r.code, r.err)
    local line = "3004\tbella.lopez@dealflowhq.com\tdisconnected_attached\tSMTP failing while in campaigns 4101, 4106"
    assert.truthy(r.out:find(line, 1, true))
    assert.matches("daily_check: mock %d+%-%d+%-%d+: 260 accounts in 4 requests", r.err) -- 3 pages + campaigns
    assert.equal(10, #r.lines) -- the fixture's ten disconnected accounts still in campaigns
  end)

  it("uses get_campaigns and get_mailbox_statistics when the client has them", function()
    local path = dir .. "/fleet.db"
    local calls = {}
    local fake = setmetatable({
      core = client.core,
      get_email_accounts = function(_, q) return client:get_email_accounts(q) end,
      get_campaigns = function() return { { id = 4101, name = "Q1 Outbound", status = "ACTIVE" } } end,
      get_mailbox_statistics = function(_, cid, q)
        calls[#calls + 1] = { cid, q.start_date, q.limit }
        if cid == 4101 and q.offset == 0 then
          local row = { email_account_id = 3001, sent_count = "40", reply_count = 3, bounce_count = "1" }
          return { ok = true, data = { row } }
        end
        return { ok = true, data = {} }
      end,
    }, { __index = client })
    local r = assert(smartlead.snapshot(fake, { db = path, workspace = "w", day = "2026-11-02", stats = true }))
    assert.same({}, r.skipped)
    assert.equal(3 + 1 + 6, r.requests) -- pages, campaigns, one statistics page per campaign the accounts are in
    assert.same({ 4101, "2026-11-02", 20 }, calls[1])
    local h = assert(smartlead.history(path))
    local row = h:series(3001)[1]
    assert.same({ 40, 3, 1 }, { row.stats_sent, row.stats_replies, row.stats_bounces })
    local camps = h:campaigns()
    assert.same({ 4101, "Q1 Outbound", "ACTIVE", 40 },
      { camps[1].id, camps[1].name, camps[1].status, camps[1].accounts })
    h:close()
  end)

  it("runs the command entry points: snapshot, report, check", function()
    local path, html = dir .. "/fleet.db", dir .. "/r.html"
    local lines, errs = {}, {}
    local function flush() end
    local out = { write = function(_, ...) lines[#lines + 1] = table.concat({ ... }) end, flush = flush }
    local sink = { write = function(_, ...) errs[#errs + 1] = table.concat({ ... }) end, flush = flush }
    local cmd = smartlead.fleet.commands
    assert.equal(0, cmd.snapshot { client = client, db = path, workspace = "w", day = "2026-11-01",
      out = out, err = sink })
    assert.matches("^w: 260 accounts, 8 campaigns in 4 requests, took the snapshot of 2026%-11%-01", lines[1])
    assert.same({}, errs) -- the client has get_campaigns: nothing skipped
    assert.equal(0, cmd.report { db = path, html = html, out = sink, err = sink })
    assert.truthy(proc.read(html):find("<svg", 1, true))
    assert.equal(2, cmd.report { db = path, out = sink, err = sink }) -- --html is required
    assert.equal(1, cmd.check { db = path, format = "json", out = sink, err = sink }) -- alerts: exit 1
    assert.equal(2, cmd.diff { db = path, since = "1d", out = sink, err = sink }) -- one snapshot: nothing to compare
    assert.matches("no snapshot old enough", errs[#errs])
  end)

  it("names a workspace from a fingerprint of the URL and key, never the key", function()
    local path = dir .. "/fleet.db"
    local r = assert(smartlead.snapshot(client, { db = path, day = "2026-11-01" }))
    assert.matches("^key%-%x+$", r.workspace)
    local text = proc.read(path) .. (proc.read(path .. "-wal") or "")
    assert.is_nil(text:find(support.KEY, 1, true))
    local again = assert(smartlead.snapshot(client, { db = path, day = "2026-11-02" }))
    assert.equal(r.workspace, again.workspace)
  end)
end)

describe("core.sqlite", function()
  it("binds parameters and returns integers, floats, text and NULL", function()
    local db = assert(core.sqlite.open(":memory:"))
    assert(db:exec("CREATE TABLE t (a, b, c)"))
    local ins = assert(db:prepare("INSERT INTO t VALUES (?, ?, ?)"))
    assert.equal(1, ins:exec(42, 2.5, "x'; DROP TABLE t; --"))
    assert.equal(1, ins:exec(json.null, true, nil))
    local got = {}
    -- (urows: a NULL first value would end a generic for, so the rowid comes first)
    for _, a, b, c in db:prepare("SELECT rowid, a, b, c FROM t ORDER BY rowid"):urows() do
      got[#got + 1] = { a, b, c }
    end
    assert.same({ { 42, 2.5, "x'; DROP TABLE t; --" }, { nil, 1, nil } }, got)
    assert.equal("integer", math.type(got[1][1]))
    local ok, msg, code = db:prepare("SELECT * FROM nope")
    assert.is_nil(ok)
    assert.matches("no such table", msg)
    assert.equal("ERROR", code)
    db:close()
    assert.has_error(function() ins:exec(1, 2, 3) end, "attempt to use a statement of a closed database")
  end)
end)
