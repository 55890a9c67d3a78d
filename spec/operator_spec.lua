-- "A command line an operator trusts in a pipeline and a cron job": each point of the issue,
-- driving build/smartlua as a shell does, against mocks in this process (reached through
-- SMARTLEAD_BASE_URL, or a config file's profiles), so their state outlives each command.
local proc = require "proc"
local support = require "support"
local json = require "smartlead.json"
local sl = require "smartlead"

local q, BIN = proc.q, proc.BIN

describe("a command line an operator trusts", function()
  local tmp, server, client, env, state

  setup(function()
    tmp = proc.mktemp()
    assert.is_true(os.execute("mkdir -p " .. q(tmp .. "/xdg")))
    server = support.server()
    client = server:client()
    state = tmp .. "/state"
    env = proc.keyless_env(tmp .. "/xdg")
      .. (" SMARTLEAD_API_KEY=%s SMARTLEAD_BASE_URL=%s SMARTLUA_RATE=off XDG_STATE_HOME=%s"):format(q(support.KEY),
        q(server:url()), q(state))
  end)
  teardown(function()
    client:close()
    server:stop()
    proc.rmtree(tmp)
  end)
  before_each(function()
    server:reset()
    server:configure { latency_ms = 0, faults = json.null }
    os.execute("rm -rf " .. q(state))
  end)

  -- Runs build/smartlua with args; extra_env: a prefix such as "NO_COLOR= "; stdin: a text.
  local function run(args, extra_env, stdin)
    local words = {}
    for i, a in ipairs(args) do words[i] = q(a) end
    local cmd = ("%s %s %s %s"):format(env, extra_env or "", q(BIN), table.concat(words, " "))
    if stdin then cmd = cmd .. " < " .. q(proc.write(tmp .. "/stdin", stdin)) end
    return proc.sh(cmd)
  end

  -- A shell line with `smartlua` standing for the binary in this environment.
  local function shell(line)
    return proc.sh((line:gsub("smartlua", function() return env .. " " .. q(BIN) end)))
  end

  local function ok_json(r)
    assert.equal(0, r.code, r.err)
    local v, err = json.decode(r.out)
    assert(v ~= nil, "not JSON: " .. tostring(err) .. "\n" .. r.out)
    return v
  end

  local function all_accounts()
    return assert(client:all_accounts())
  end

  local function members(cid)
    local set = {}
    for _, a in ipairs(assert(client:get_campaign_email_accounts(cid))) do set[a.id] = true end
    return set
  end

  local function writes_sent()
    local n = 0
    for _, e in ipairs(server:log()) do
      if e.method ~= "GET" then n = n + 1 end
    end
    return n
  end

  local function ids_of(list)
    local ids = {}
    for i, a in ipairs(list) do ids[i] = a.id or a.email_account_id end
    table.sort(ids)
    return ids
  end

  local function journals(dir)
    local names = require("smartlead.core").os.list_dir(dir or (state .. "/smartlua/journal")) or {}
    table.sort(names)
    return names
  end

  local function records(path)
    local out = {}
    for line in assert(proc.read(path)):gmatch("[^\n]+") do out[#out + 1] = json.decode(line) end
    return out
  end

  ---------------------------------------------------------------------------- pipelines

  describe("in a pipeline", function()
    it("README's --where runs as written: an account with no warmup is neither < 90 nor >= 90", function()
      local want, no_rep = {}, 0
      for _, a in ipairs(all_accounts()) do
        local rep = sl.reputation(a)
        if rep and rep < 90 and a.type == "GMAIL" then want[#want + 1] = a.id end
        if not rep and a.type == "GMAIL" then no_rep = no_rep + 1 end
      end
      assert.is_true(no_rep > 0, "the fixture has Gmail accounts without warmup")
      local r = run { "accounts", "list", "--where", 'reputation(a) < 90 and a.type == "GMAIL"', "--fields",
        "id,from_email,reputation" }
      assert.same(want, ids_of(ok_json(r)))
      -- a missing reputation is an explicit choice
      local with_missing = ok_json(run { "accounts", "list", "--where", 'reputation(a, 0) < 90 and a.type == "GMAIL"',
        "--fields", "id" })
      assert.equal(#want + no_rep, #with_missing)
      local helpers = ok_json(run { "accounts", "list", "--where", 'rep_below(a, 90) and a.type == "GMAIL"',
        "--fields", "id" })
      assert.same(want, ids_of(helpers))
      local ge = ok_json(run { "accounts", "list", "--where", "reputation(a) >= 90", "--fields", "id" })
      local lt = ok_json(run { "accounts", "list", "--where", "reputation(a) < 90", "--fields", "id" })
      local missing = ok_json(run { "accounts", "list", "--where", "not has(a, 'warmup_details')", "--fields", "id" })
      assert.equal(#all_accounts(), #ge + #lt + #missing)
    end)

    it("a failing list prints nothing on stdout (json, csv, table); ndjson streams and ends with the error", function()
      local where = "a.id < 3150 or #a.no_good"
      for _, fmt in ipairs { "json", "csv", "table" } do
        local r = run { "accounts", "list", "--where", where, "--format", fmt }
        assert.equal(1, r.code, fmt)
        assert.equal("", r.out, fmt)
        assert.matches("failed on account 3150: attempt to get length of a nil value %(field 'no_good'%)", r.err)
      end
      local r = run { "accounts", "list", "--where", where, "--format", "ndjson", "--fields", "id" }
      assert.equal(1, r.code)
      local before = 0
      for _, a in ipairs(all_accounts()) do before = before + (a.id < 3150 and 1 or 0) end
      assert.equal(before, #r.lines) -- the accounts before 3150 went out before the failure, one per line
      assert.matches("failed on account 3150", r.errlines[#r.errlines])
      assert.truthy(run({ "accounts", "list", "--help" }).out:find("NDJSON is the exception: it streams", 1, true))
    end)

    it("the README pipe detaches exactly the accounts the list names; a failed list detaches none (exit 2)", function()
      local want = {}
      local before = members(4101)
      for _, a in ipairs(all_accounts()) do
        local rep = sl.reputation(a)
        if rep and rep < 80 and before[a.id] then want[#want + 1] = a.id end
      end
      assert.is_true(#want >= 3)
      local r = shell("smartlua accounts list --where 'reputation(a) < 80' --fields id --format csv"
        .. " | smartlua campaigns detach 4101 --ids -")
      assert.equal(0, r.code, r.err)
      local after = members(4101)
      for id in pairs(before) do
        local gone = not after[id]
        local wanted = false
        for _, w in ipairs(want) do wanted = wanted or w == id end
        assert.equal(wanted, gone, "account " .. id)
      end
      -- the first command fails before printing: the second gets no id, exits 2 and sends nothing
      server:reset()
      server:clear_log()
      r = shell("smartlua accounts list --where 'a.id < 3100 or #a.x' --fields id --format csv"
        .. " | smartlua campaigns detach 4101 --ids -; echo \"exit $?\"")
      assert.equal("exit 2", r.lines[#r.lines])
      assert.matches("%-%-ids %-: no account ids on stdin", r.err)
      assert.equal(0, writes_sent())
    end)

    it("--ids - with no id (empty, [], a csv header) exits 2 and writes nothing", function()
      server:clear_log()
      for _, input in ipairs { "", "[]", "id\r\n", "\n" } do
        for _, args in ipairs { { "campaigns", "detach", "4101", "--ids", "-" },
          { "accounts", "update", "--ids", "-", "--max-email-per-day", "5" } } do
          local r = run(args, nil, input)
          assert.equal(2, r.code, table.concat(args, " ") .. " <<" .. input)
          assert.equal("", r.out)
        end
      end
      assert.same({}, server:log())
    end)

    it("never prints [] before an error: no key, unknown profile, unknown campaign, bad key", function()
      local keyless = proc.keyless_env(tmp .. "/xdg")
      local cases = {
        proc.smartlua({ "accounts", "list" }, keyless),
        proc.smartlua({ "accounts", "list", "--profile", "nope" }, keyless),
        run { "campaigns", "accounts", "9999" },
        run({ "accounts", "list" }, "SMARTLEAD_API_KEY=wrong-key-1234567"),
        run { "accounts", "list", "--format", "csv", "--esp", "GMAIL", "--where", "#a.x > 0" },
      }
      for i, r in ipairs(cases) do
        assert.equal(1, r.code, "case " .. i .. ": " .. r.err)
        assert.equal("", r.out, "case " .. i)
      end
    end)

    it("--fields with an unknown name is a usage error with a suggestion; nothing is sent", function()
      server:clear_log()
      local cases = {
        { { "accounts", "list", "--fields", "id,from_emial" },
          "unknown field 'from_emial' (did you mean \"from_email\"?)" },
        { { "accounts", "list", "--fields", "id,warmup_details.reputaton" },
          "unknown field 'warmup_details.reputaton'" },
        { { "accounts", "get", "3001", "--fields", "bogus" }, "unknown field 'bogus'" },
        { { "campaigns", "accounts", "4101", "--fields", "idd" }, "(did you mean \"id\"?)" },
      }
      for _, c in ipairs(cases) do
        local r = run(c[1])
        assert.equal(2, r.code, table.concat(c[1], " "))
        assert.equal("", r.out)
        assert.truthy(r.err:find(c[2], 1, true), r.err)
      end
      assert.same({}, server:log())
      local list = ok_json(run { "accounts", "list", "--limit", "1", "--fields",
        "id,reputation,warmup_status,warmup_details.warmup_reputation,tags,max_email_per_day" })
      assert.equal(3001, list[1].id)
    end)
  end)

  ---------------------------------------------------------------------------- exit codes

  describe("exit codes", function()
    -- Every command driven into every code it can return (README's table).
    it("each command returns 0, 1, 2, 3 and 4 where they apply", function()
      local plan = tmp .. "/codes-plan.json"
      local csv_ok = proc.write(tmp .. "/ok.csv", "from_name,from_email,user_name,password,smtp_host,smtp_port,"
        .. "imap_host,imap_port\r\nNew,new.codes@example.org,new.codes@example.org,pw-codes-1,smtp.example.org,587,"
        .. "imap.example.org,993\r\n")
      local csv_bad = proc.write(tmp .. "/bad.csv", "from_name,from_email,user_name,password,smtp_host,smtp_port,"
        .. "imap_host,imap_port\r\nBad,bad.codes@example.org,b,pw,smtp.example.org,99999,imap.example.org,993\r\n")
      local saves = proc.write(tmp .. "/saves.lua", "assert(require('smartlead').client():add_smtp_account{ "
        .. "from_name = 'S', "
        .. "from_email = 's.codes@example.org', user_name = 's', password = 'pw-s', smtp_host = 'smtp.example.org', "
        .. "smtp_port = 587, imap_host = 'imap.example.org', imap_port = 993, warmup_enabled = false })")
      local one_write = proc.write(tmp .. "/one.lua", "assert(require('smartlead').client():update_email_account(3002, "
        .. "{ max_email_per_day = 21 }))")
      local failed_write = proc.write(tmp .. "/failed.lua", "local c = require('smartlead').client() "
        .. "local ok = c:update_email_account(999999, { max_email_per_day = 5 }) print(ok)")
      local exit0 = proc.write(tmp .. "/exit0.lua", "local c = require('smartlead').client() "
        .. "if not c:update_email_account(999999, { max_email_per_day = 5 }) then os.exit(0) end")
      local exit7 = proc.write(tmp .. "/exit7.lua", "os.exit(7)")
      local unsafe_config = tmp .. "/unsafe"
      os.execute(("mkdir -p %s/smartlua"):format(q(unsafe_config)))
      proc.write(unsafe_config .. "/smartlua/config", "api_key = abcdefgh12345678\n")
      os.execute(("chmod 644 %s/smartlua/config"):format(q(unsafe_config)))
      local disconnected
      for _, a in ipairs(all_accounts()) do
        if a.is_smtp_success == false and not members(4102)[a.id] then disconnected = a.id break end
      end
      assert.is_truthy(disconnected)
      local cases = {
        { 0, { "accounts", "list", "--limit", "1" } },
        { 1, { "accounts", "list" }, "SMARTLEAD_API_KEY=wrong-key-1234567" },
        { 2, { "accounts", "list", "--bogus" } },
        { 0, { "accounts", "get", "3001" } },
        { 0, { "accounts", "get", "olivia.hall@hypergrowth.dev" } },
        { 1, { "accounts", "get", "999999" } },
        { 2, { "accounts", "get", "x12" } },
        { 0, { "accounts", "update", "3001", "--max-email-per-day", "61" } },
        { 1, { "accounts", "update", "999999", "--max-email-per-day", "5" } },
        { 2, { "accounts", "update", "3001" } },
        { 3, { "accounts", "update", "3001", "--max-email-per-day", "62", "--max-changes", "0" } },
        { 4, { "accounts", "update", "--ids", "3001,999999", "--max-email-per-day", "63" } },
        { 0, { "accounts", "add", "--csv", csv_ok } },
        { 1, { "accounts", "add", "--csv", tmp .. "/missing.csv" } },
        { 2, { "accounts", "add" } },
        { 3, { "accounts", "add", "--csv", csv_ok, "--max-changes", "0" } },
        { 4, { "accounts", "add", "--csv", csv_bad } },
        { 0, { "campaigns", "attach", "4101", "--ids", "3001" } },
        { 1, { "campaigns", "attach", "9999", "--ids", "3001" } },
        { 2, { "campaigns", "attach", "4101" } },
        { 3, { "campaigns", "detach", "4101", "--ids", "3001", "--max-changes", "0" } },
        { 0, { "campaigns", "detach", "4101", "--ids", "3001" } },
        { 1, { "campaigns", "detach", "9999", "--ids", "3001" } },
        { 2, { "campaigns", "detach", "4101", "--ids", "3001", "--where", "true" } },
        { 4, { "campaigns", "attach", "4102", "--ids", tostring(disconnected) } }, -- left out: not connected
        { 0, { "campaigns", "accounts", "4101" } },
        { 1, { "campaigns", "accounts", "9999" } },
        { 2, { "campaigns", "accounts" } },
        { 0, { "api", "GET", "/email-accounts/", "-q", "limit=1" } },
        { 1, { "api", "GET", "/email-accounts/999999/" } },
        { 2, { "api", "FETCH", "/x" } },
        { 1, { "api", "POST", "/email-accounts/999999", "-d", '{"max_email_per_day": 9}' } },
        { 0, { "config", "list" } },
        { 2, { "config", "list", "extra" } },
        { 1, { "config", "list", "--profile", "acme" }, "XDG_CONFIG_HOME=" .. q(unsafe_config) },
        { 0, { "config", "set", "timeout", "30" } },
        { 1, { "config", "set", "rate", "fast" } },
        { 2, { "config", "set", "colour", "red" } },
        { 1, { "mock", "--seed", tmp .. "/missing.json" } },
        { 2, { "mock", "--port", "x" } },
        { 0, { "--plan-out", plan, "accounts", "update", "3003", "--max-email-per-day", "11" } },
        { 0, { "apply", plan } },
        { 0, { "apply", plan } }, -- applied already: it says so, and there is nothing to fail
        { 0, { "accounts", "update", "3003", "--max-email-per-day", "12" } },
        { 4, { "apply", plan } }, -- the account drifted from the plan's before-value: skipped
        { 1, { "apply", tmp .. "/missing-plan.json" } },
        { 2, { "apply" } },
        { 3, { "apply", plan, "--max-changes", "0" } },
        { 3, { "apply", plan }, "SMARTLEAD_BASE_URL=http://127.0.0.1:9/api/v1" }, -- made for another workspace
        { 0, { "undo", "--last" } },
        { 1, { "undo", tmp .. "/missing.jsonl" } },
        { 2, { "undo", "--last", "x.jsonl" } },
        { 3, { "undo", "--last" }, "SMARTLEAD_BASE_URL=http://127.0.0.1:9/api/v1" },
        { 0, { saves } }, { 4, { "undo", "--last" } }, -- a save cannot be undone
        { 0, { "journal", "list" } },
        { 2, { "journal", "list", "extra" } },
        { 1, { "journal", "show", "no-such-journal" } },
        { 2, { "journal", "show" } },
        { 0, { "journal", "show", "--last" } },
        { 0, { "completion", "bash" } },
        { 2, { "completion", "tcsh" } },
        { 0, { one_write } },
        { 1, { "-e", "error('boom')" } },
        { 2, { "--bogus", one_write } },
        { 3, { "--max-changes", "0", proc.write(tmp .. "/two.lua", "assert(require('smartlead').client()"
          .. ":update_email_account(3002, { max_email_per_day = 24 }))") } },
        { 4, { failed_write } },
        { 0, { exit0 } },
        { 7, { exit7 } },
      }
      for i, c in ipairs(cases) do
        local r = run(c[2], c[3])
        local what = ("case %d: %s%s"):format(i, c[3] and (c[3] .. " ") or "", table.concat(c[2], " "))
        assert.equal(c[1], r.code, what .. "\n" .. r.out .. r.err)
        if c[1] == 2 then assert.equal("", r.out, what) end
      end
      local r = run { "journal", "list" } -- the run with a journal dir that is a file: exit 1
      assert.equal(0, r.code)
      proc.write(tmp .. "/not-a-dir", "x")
      r = proc.sh(("%s XDG_STATE_HOME=%s %s journal list"):format(env, q(tmp .. "/not-a-dir"), q(BIN)))
      assert.equal(1, r.code, r.err)
      r = proc.sh(("%s timeout --preserve-status -s INT 2 %s mock --port 0"):format(env, q(BIN)))
      assert.equal(0, r.code, r.err) -- the mock serves until interrupted, then exits 0
      assert.matches("stopping on SIGINT", r.out)
    end)

    it("a script that handles its failed write and calls os.exit(0) exits 0, after its journal note", function()
      local s = proc.write(tmp .. "/handled.lua", [[
        local c = require("smartlead").client()
        assert(c:update_email_account(3002, { max_email_per_day = 22 }))
        local ok, err = c:update_email_account(999999, { max_email_per_day = 5 })
        if not ok then print("handled: " .. err.code) os.exit(0) end
      ]])
      local r = run { s }
      assert.equal(0, r.code, r.err)
      assert.same({ "handled: ACCOUNT_NOT_FOUND" }, r.lines)
      assert.matches("journal: .*%(2 writes: 1 sent, 1 failed%)", r.err)
      r = run { proc.write(tmp .. "/noexit.lua", "local c = require('smartlead').client() "
        .. "c:update_email_account(999999, { max_email_per_day = 5 })") }
      assert.equal(4, r.code) -- without os.exit, smartlua's own code
    end)
  end)

  ---------------------------------------------------------------------------- bulk

  describe("bulk from the command line", function()
    it("accounts update --ids: one journal, values already set not sent, counts that add up", function()
      local r = run { "accounts", "update", "--ids", "3001,3002,3003", "--max-email-per-day", "20", "--format", "json" }
      local rows = ok_json(r)
      assert.equal(3, #rows)
      local by_id = {}
      for _, row in ipairs(rows) do by_id[row.id] = row end
      assert.equal("already set; not sent", by_id[3002].message) -- 3002 is at 20 already
      assert.matches("update: 3 writes planned: 2 sent, 1 already set, 0 failed %(3 accounts%)", r.err)
      for _, id in ipairs { 3001, 3002, 3003 } do assert.equal(20, server:account(id).message_per_day) end
      local names = journals()
      assert.equal(1, #names)
      local recs = records(state .. "/smartlua/journal/" .. names[1])
      local intents = 0
      for _, rec in ipairs(recs) do intents = intents + (rec.type == "intent" and 1 or 0) end
      assert.equal(2, intents)
      assert.equal("smartlua accounts update --ids 3001,3002,3003 --max-email-per-day 20 --format json",
        recs[1].command)
      assert.equal("default", recs[1].profile)
      assert.equal("end", recs[#recs].type)
    end)

    it("accounts update --where and --ids - plan as one plan, and run concurrently", function()
      local want = {}
      for _, a in ipairs(all_accounts()) do
        local rep = sl.reputation(a)
        if rep and rep < 75 then want[#want + 1] = a end
      end
      assert.is_true(#want >= 5)
      local r = run { "accounts", "update", "--where", "reputation(a) < 75", "--max-email-per-day", "3", "--plan" }
      assert.equal(0, r.code, r.err)
      assert.equal(("Plan: %d accounts changed, %d fields changed, 0 attaches, 0 detaches."):format(#want, #want),
        r.lines[#r.lines])
      assert.equal(0, writes_sent())
      server:configure { latency_ms = 300 }
      local t0 = require("smartlead.core").monotime()
      r = shell("smartlua accounts list --where 'reputation(a) < 75' --fields id --format ndjson"
        .. " | smartlua accounts update --ids - --max-email-per-day 3")
      local elapsed = require("smartlead.core").monotime() - t0
      assert.equal(0, r.code, r.err)
      for _, a in ipairs(want) do assert.equal(3, server:account(a.id).message_per_day) end
      -- a read and a write per account, 300 ms each: one after another would take this long
      local sequential = #want * 2 * 0.3
      assert.is_true(elapsed < sequential * 0.6, ("%.2f s for %d accounts"):format(elapsed, #want))
      assert.equal(1, #journals())
    end)

    it("campaigns attach --where sends one request for the accounts not yet attached", function()
      local where = "a.is_smtp_success and a.is_imap_success and a.id <= 3030"
      server:clear_log()
      local r = run { "campaigns", "attach", "4103", "--where", where .. " and not is_null(a.id)", "--format", "json" }
      local rows = ok_json(r)
      local posts = 0
      for _, e in ipairs(server:log()) do posts = posts + (e.method == "POST" and 1 or 0) end
      assert.equal(1, posts)
      local attached = 0
      for _, row in ipairs(rows) do attached = attached + (row.status == "attached" and 1 or 0) end
      assert.is_true(attached >= 1)
      assert.matches("campaign 4103: %d+ accounts: %d+ attached, %d+ already attached", r.err)
      for _, row in ipairs(rows) do assert.is_true(members(4103)[row.email_account_id] or false) end
      -- an account the API would refuse (suspended: only the single read says so) is left out and reported
      local suspended, good
      local in_4104 = members(4104)
      for _, a in ipairs(all_accounts()) do
        local full = server:account(a.id)
        if a.is_smtp_success and a.is_imap_success and not in_4104[a.id] then
          if full.is_suspended then suspended = suspended or a.id else good = good or a.id end
        end
      end
      assert.is_truthy(suspended and good, "the fixture has a suspended, connected account")
      r = run { "campaigns", "attach", "4104", "--ids", suspended .. "," .. good, "--format", "json" }
      assert.equal(4, r.code, r.err)
      local status = {}
      for _, row in ipairs(json.decode(r.out)) do status[row.email_account_id] = row.status end
      assert.same({ [suspended] = "skipped: suspended", [good] = "attached" }, status)
      assert.is_true(members(4104)[good])
      assert.is_nil(members(4104)[suspended])
    end)
  end)

  ---------------------------------------------------------------------------- journals

  describe("journal list, show, undo --last", function()
    local function list()
      local r = run { "journal", "list", "--format", "json" }
      return ok_json(r)
    end

    it("lists runs newest first with their command, profile, writes and state; undo --last walks back", function()
      assert.equal(0, run({ "accounts", "update", "3001", "--max-email-per-day", "41" }).code)
      assert.equal(0, run({ "accounts", "update", "3002", "--max-email-per-day", "42" }).code)
      -- interrupted: an intent without its result (a run killed while its write was in flight)
      local dir = state .. "/smartlua/journal"
      proc.write(dir .. "/20000101T000000Z-1.jsonl", table.concat({
        json.encode { type = "begin", journal = 1, mode = "journal", pid = 1, time = "2000-01-01T00:00:00Z",
          command = "smartlua s.lua", profile = "default" },
        json.encode { type = "intent", seq = 1, op = "update_email_account", kind = "set", method = "POST",
          path = "/email-accounts/3003", target = { account = 3003 }, fields = { max_email_per_day = 1 },
          before = { max_email_per_day = 90 } } }, "\n") .. "\n")
      os.execute("chmod 600 " .. q(dir .. "/20000101T000000Z-1.jsonl"))
      local runs = list()
      assert.equal(3, #runs)
      assert.same({ "smartlua accounts update 3002 --max-email-per-day 42", "default", 1, "complete" },
        { runs[1].command, runs[1].profile, runs[1].writes, runs[1].state })
      assert.equal("interrupted", runs[3].state)
      local table_out = run { "journal", "list", "--format", "table" }
      assert.matches("TIME%s+PROFILE%s+WRITES%s+FAILED%s+STATE%s+COMMAND", table_out.lines[1])
      local shown = ok_json(run { "journal", "show", runs[1].name, "--format", "json" })
      assert.same({ "account 3002", "max_email_per_day: 20 -> 42", "ok" },
        { shown.entries[1].target, shown.entries[1].change, shown.entries[1].status })
      local r = run { "undo", "--last" }
      assert.equal(0, r.code, r.err)
      assert.equal(20, server:account(3002).message_per_day)
      assert.equal(41, server:account(3001).message_per_day)
      runs = list()
      assert.equal("undo", runs[1].mode)
      assert.equal("undone", runs[2].state)
      r = run { "undo", "--last" } -- the next one back, not the undo
      assert.equal(0, r.code, r.err)
      assert.equal(100, server:account(3001).message_per_day)
    end)

    it("runs against --mock journal under mock-journal and never show in the real list", function()
      local keyless = proc.keyless_env(tmp .. "/xdg") .. " XDG_STATE_HOME=" .. q(state)
      local r = proc.smartlua({ "--mock", "accounts", "update", "3001", "--max-email-per-day", "9" }, keyless)
      assert.equal(0, r.code, r.err)
      assert.matches("journal: " .. state:gsub("%p", "%%%0") .. "/smartlua/mock%-journal/", r.err)
      assert.same({}, journals())
      assert.same({}, ok_json(run { "journal", "list" }))
      local mock_list = ok_json(proc.smartlua({ "--mock", "journal", "list", "--format", "json" }, keyless))
      assert.equal(1, #mock_list)
      assert.is_true(mock_list[1].path:find("/mock-journal/", 1, true) ~= nil)
    end)
  end)

  ---------------------------------------------------------------------------- several workspaces

  describe("several workspaces", function()
    local other, cfg_home

    setup(function()
      other = require("smartlead.mock.server").start { api_key = "second-key-9f8e7d6c5b" }
      cfg_home = tmp .. "/profiles"
      os.execute(("mkdir -p %s && chmod 700 %s"):format(q(cfg_home .. "/smartlua"), q(cfg_home .. "/smartlua")))
      proc.write(cfg_home .. "/smartlua/config", ("[acme]\napi_key = %s\nbase_url = %s\nrate = off\n"
        .. "[beta]\napi_key = second-key-9f8e7d6c5b\nbase_url = %s\nrate = off\n"):format(support.KEY, server:url(),
        other:url()))
      os.execute("chmod 600 " .. q(cfg_home .. "/smartlua/config"))
    end)
    teardown(function() other:stop() end)
    before_each(function()
      other:reset()
      other:configure { latency_ms = 0 }
    end)

    local function prun(args, stdin)
      local words = {}
      for i, a in ipairs(args) do words[i] = q(a) end
      local cmd = ("%s XDG_STATE_HOME=%s %s %s"):format(proc.keyless_env(cfg_home), q(state), q(BIN),
        table.concat(words, " "))
      if stdin then cmd = cmd .. " < " .. q(proc.write(tmp .. "/pstdin", stdin)) end
      return proc.sh(cmd)
    end

    it("a command runs once per profile, concurrently, every row labelled, one summary", function()
      server:configure { latency_ms = 400 }
      other:configure { latency_ms = 400 }
      local t0 = require("smartlead.core").monotime()
      local r = prun { "--all-profiles", "accounts", "list", "--limit", "2", "--fields", "id", "--format", "json" }
      local elapsed = require("smartlead.core").monotime() - t0
      assert.same({ { profile = "acme", id = 3001 }, { profile = "acme", id = 3002 }, { profile = "beta", id = 3001 },
        { profile = "beta", id = 3002 } }, ok_json(r))
      assert.equal("smartlua: 2 profiles: acme ok, beta ok", r.errlines[#r.errlines])
      assert.is_true(elapsed < 0.8 + 0.6, ("%.2f s: the profiles ran one after the other"):format(elapsed))
      r = prun { "--profile", "acme,beta", "accounts", "list", "--count", "--format", "csv" }
      assert.equal("profile,count\r\nacme,260\r\nbeta,260\r\n", r.out)
    end)

    it("journals per profile, each under its own key; a failing profile fails the run and prints nothing", function()
      local r = prun { "--all-profiles", "accounts", "update", "3001", "--max-email-per-day", "31", "--format", "json" }
      local rows = ok_json(r)
      assert.same({ "acme", "beta" }, { rows[1].profile, rows[2].profile })
      assert.equal(31, server:account(3001).message_per_day)
      assert.equal(31, other:account(3001).message_per_day)
      local runs = ok_json(prun { "journal", "list", "--format", "json" })
      assert.equal(2, #runs)
      local profiles = { runs[1].profile, runs[2].profile }
      table.sort(profiles)
      assert.same({ "acme", "beta" }, profiles)
      -- ids labelled with a profile (what a command run with --profile a,b prints) go to that profile
      r = prun({ "--all-profiles", "accounts", "update", "--ids", "-", "--max-email-per-day", "44" },
        '{"id":3001,"profile":"acme"}\n{"id":3002,"profile":"beta"}\n')
      assert.equal(0, r.code, r.err)
      assert.same({ 44, 20 }, { server:account(3001).message_per_day, server:account(3002).message_per_day })
      assert.same({ 31, 44 }, { other:account(3001).message_per_day, other:account(3002).message_per_day })
      r = prun { "--profile", "acme,nope", "accounts", "list", "--limit", "1" }
      assert.equal(1, r.code)
      assert.equal("", r.out)
      assert.equal("smartlua: 2 profiles: acme ok, nope failed (exit 1)", r.errlines[#r.errlines])
      r = prun { "--profile", "acme,beta", "--journal", tmp .. "/j.jsonl", "accounts", "update", "3001",
        "--max-email-per-day", "5" }
      assert.equal(2, r.code)
    end)

    it("a script runs once per profile: smartlead.profiles(), its own client and globals, labelled output", function()
      local s = proc.write(tmp .. "/per-profile.lua", [[
        local smartlead = require "smartlead"
        count = (count or 0) + 1 -- a global of this profile's run only
        print(smartlead.profile, table.concat(smartlead.profiles(), ","), count)
        local c = smartlead.client()
        assert(c:update_email_account(3002, { max_email_per_day = 23 }))
        io.write("done ", smartlead.profile, "\n")
        if smartlead.profile == "beta" then os.exit(6) end
      ]])
      local r = prun { "--all-profiles", s }
      assert.equal(6, r.code, r.err)
      local lines = {}
      for _, l in ipairs(r.lines) do lines[#lines + 1] = l end
      table.sort(lines)
      assert.same({ "[acme] acme\tacme,beta\t1", "[acme] done acme", "[beta] beta\tacme,beta\t1",
        "[beta] done beta" }, lines)
      assert.equal(23, server:account(3002).message_per_day)
      assert.equal(23, other:account(3002).message_per_day)
      assert.equal("smartlua: 2 profiles: acme ok, beta failed (exit 6)", r.errlines[#r.errlines])
      r = prun { "--all-profiles", "-e", "print(#require('smartlead').client():get_email_accounts{ limit = 3 })" }
      assert.equal(0, r.code, r.err)
      table.sort(r.lines)
      assert.same({ "[acme] 3", "[beta] 3" }, r.lines)
      r = prun({ "--profile", "acme,beta" }, "print(require('smartlead').profile)") -- stdin is the script
      assert.equal(0, r.code, r.err)
      table.sort(r.lines)
      assert.same({ "[acme] acme", "[beta] beta" }, r.lines)
      r = prun { "--profile", "acme,beta", "-i" } -- the REPL takes one profile
      assert.equal(2, r.code)
      assert.equal("", r.out)
    end)
  end)

  ---------------------------------------------------------------------------- conveniences

  describe("conveniences", function()
    it("accounts get EMAIL looks the address up; accounts list --count counts after filters and --where", function()
      local a = ok_json(run { "accounts", "get", "umar.baker@fastpipeline.co", "--format", "json" })
      assert.equal(3002, a.id)
      local r = run { "accounts", "get", "nobody@nowhere.example" }
      assert.equal(1, r.code)
      assert.equal("", r.out)
      assert.equal("260\n", run({ "accounts", "list", "--count" }).out)
      local gmail, strong = 0, 0
      for _, acc in ipairs(all_accounts()) do
        if acc.type == "GMAIL" then
          gmail = gmail + 1
          if (sl.reputation(acc) or 0) >= 95 then strong = strong + 1 end
        end
      end
      assert.equal(gmail .. "\n", run({ "accounts", "list", "--count", "--esp", "GMAIL" }).out)
      assert.equal(strong .. "\n", run({ "accounts", "list", "--count", "--esp", "GMAIL", "--where",
        "reputation(a) >= 95" }).out)
    end)

    it("smartlead.null prints as null and says what it is when misused; smartlead.get is exported", function()
      local r = run { "-e", [[
        local sl = require "smartlead"
        print(sl.null, sl.null == nil, sl.is_null(sl.null))
        local a = sl.client():get_email_account(3024)
        print(sl.get(a, "warmup_details.status"), sl.get(a, "max_email_per_day") ~= nil)
        print(select(2, pcall(function() return a.warmup_details.status end)))
        print(select(2, pcall(function() return sl.null < 3 end)))
      ]] }
      assert.equal(0, r.code, r.err)
      assert.equal("null\tfalse\ttrue", r.lines[1])
      assert.equal("nil\ttrue", r.lines[2])
      assert.matches("attempt to index JSON null %(smartlead%.null%) with 'status'", r.lines[3])
      assert.matches("attempt to compare JSON null %(smartlead%.null%) with number", r.lines[4])
    end)

    it("plans never say applied; counts add up; one and many are spelt right", function()
      local r = run({ "--plan", "examples/ramp_limits.lua" }, nil)
      assert.equal(0, r.code, r.err)
      assert.falsy(r.out:lower():find("applied", 1, true), r.out)
      assert.matches("\n(%d+) of %1 steps recorded in the plan; nothing sent yet\n", r.out)
      r = run { "accounts", "update", "3001", "--max-email-per-day", "59", "--plan" }
      assert.equal("Plan: 1 account changed, 1 field changed, 0 attaches, 0 detaches.", r.lines[#r.lines])
      r = run { "accounts", "update", "3001", "--max-email-per-day", "59" }
      assert.matches("%(1 write: 1 sent%)", r.err)
      local plan = tmp .. "/count-plan.json"
      r = run { "--plan-out", plan, "accounts", "update", "--ids", "3001,3002,3003", "--max-email-per-day", "57" }
      assert.equal(0, r.code, r.err)
      assert(client:update_email_account(3003, { max_email_per_day = 1 })) -- drifted since the plan
      r = run { "apply", plan }
      assert.equal(4, r.code, r.err)
      local planned, sent, already, skipped, failed = r.lines[#r.lines]:match(
        "^Apply: (%d+) writes planned: (%d+) sent, (%d+) already done, (%d+) skipped, (%d+) failed;")
      assert.same({ 3, 2, 0, 1, 0 }, { tonumber(planned), tonumber(sent), tonumber(already), tonumber(skipped),
        tonumber(failed) })
    end)

    it("apply sends a daily_rampup (it cannot be read, so it is never 'already done')", function()
      local plan = tmp .. "/rampup-plan.json"
      local made = run { "--plan-out", plan, "accounts", "update", "--ids", "3001,3002", "--daily-rampup", "5" }
      assert.equal(0, made.code)
      server:clear_log()
      local r = run { "apply", plan }
      assert.equal(0, r.code, r.err)
      assert.equal("Apply: 2 writes planned: 2 sent, 0 already done, 0 skipped, 0 failed; 2 accounts changed.",
        r.lines[#r.lines])
      assert.equal(2, writes_sent())
    end)

    it("a saved plan records its workspace; apply refuses another, and a --mock plan applies only to --mock", function()
      local plan = tmp .. "/where-plan.json"
      local r = run { "--plan-out", plan, "accounts", "update", "3001", "--max-email-per-day", "58" }
      assert.equal(0, r.code, r.err)
      local doc = json.decode(proc.read(plan))
      assert.same({ "default", server:url() }, { doc.profile, doc.base_url })
      r = run({ "apply", plan }, "SMARTLEAD_BASE_URL=http://127.0.0.1:9/api/v1")
      assert.equal(3, r.code)
      assert.matches("refused: the plan .* it was made for profile default %(" .. server:url():gsub("%p", "%%%0")
        .. "%); this run is for profile default %(http://127%.0%.0%.1:9/api/v1%)", r.err)
      assert.equal(100, server:account(3001).message_per_day)
      local keyless = proc.keyless_env(tmp .. "/xdg") .. " XDG_STATE_HOME=" .. q(state)
      local mock_plan = tmp .. "/mock-plan.json"
      assert.equal(0, proc.smartlua({ "--mock", "--plan-out", mock_plan, "accounts", "update", "3001",
        "--max-email-per-day", "58" }, keyless).code)
      r = proc.smartlua({ "--mock", "apply", mock_plan }, keyless) -- another mock process, another port: fine
      assert.equal(0, r.code, r.err)
      r = run { "apply", mock_plan }
      assert.equal(3, r.code)
      assert.matches("it was made for the %-%-mock server", r.err)
    end)
  end)

  ---------------------------------------------------------------------------- completion and the manual

  describe("shell completion and smartlua(1)", function()
    local bin_dir

    setup(function()
      bin_dir = tmp .. "/bin"
      os.execute(("mkdir -p %s && ln -sf %s %s/smartlua"):format(q(bin_dir), q(BIN), q(bin_dir)))
      os.execute(("mkdir -p %s && chmod 700 %s"):format(q(tmp .. "/cfgc/smartlua"), q(tmp .. "/cfgc/smartlua")))
      proc.write(tmp .. "/cfgc/smartlua/config", "api_key = abcdefgh12345\n[acme]\napi_key = x1234567890\n[beta]\n")
      os.execute("chmod 600 " .. q(tmp .. "/cfgc/smartlua/config"))
    end)

    local function cenv()
      return ("env PATH=%s:$PATH XDG_CONFIG_HOME=%s XDG_STATE_HOME=%s"):format(q(bin_dir), q(tmp .. "/cfgc"), q(state))
    end

    -- Candidates bash offers for the words (the last one being completed).
    local function bash(words)
      local quoted = {}
      for i, w in ipairs(words) do quoted[i] = q(w) end
      local script = ('eval "$(smartlua completion bash)"; COMP_WORDS=(smartlua %s); COMP_CWORD=%d; _smartlua; '
        .. 'printf "%%s\\n" "${COMPREPLY[@]}"'):format(table.concat(quoted, " "), #words)
      local r = proc.sh(("%s bash -c %s"):format(cenv(), q(script)))
      assert.equal(0, r.code, r.err)
      return r.lines
    end

    local function has(list, word)
      for _, w in ipairs(list) do
        if w == word then return true end
      end
      return false
    end

    it("bash completes commands, subcommands, flags, enum values, field names and profiles", function()
      assert.is_true(has(bash { "acc" }, "accounts"))
      assert.same({ "list" }, bash { "accounts", "li" })
      assert.is_true(has(bash { "accounts", "update", "3001", "--max-e" }, "--max-email-per-day"))
      assert.same({ "GMAIL", "OUTLOOK", "SMTP" }, bash { "accounts", "list", "--esp", "" })
      assert.same({ "id,warmup_status" }, bash { "accounts", "list", "--fields", "id,warmup_s" })
      assert.same({ "acme", "beta", "default" }, bash { "--profile", "" })
      assert.same({ "table", "json", "ndjson", "csv" }, bash { "accounts", "list", "--format", "" })
      assert.same({ "bash", "zsh", "fish" }, bash { "completion", "" })
      assert.is_true(has(bash { "accounts", "update", "--warmup-enabled", "" }, "true"))
      assert.is_true(has(bash { "config", "set", "" }, "concurrency"))
      assert.equal(0, run({ "accounts", "update", "3001", "--max-email-per-day", "61" }).code)
      assert.same(journals(), bash { "undo", "" }) -- the journals undo can take, by name
    end)

    it("zsh and fish complete from the same definitions", function()
      if not proc.sh("command -v zsh && command -v fish").ok then
        pending("zsh and fish are not installed (make deps installs them)")
        return
      end
      local zsh = [=[
        compadd() {
          local v=0
          for a in "$@"; do if [[ $v == 1 ]]; then print -r -- "$a"; fi; [[ $a == -- ]] && v=1; done
          return 0
        }
        compdef() { : }
        eval "$(smartlua completion zsh)"
        words=(smartlua accounts list --esp ""); CURRENT=5; _smartlua
        words=(smartlua accounts list --fie); CURRENT=4; _smartlua
      ]=]
      local r = proc.sh(("%s zsh -f -c %s"):format(cenv(), q(zsh)))
      assert.equal(0, r.code, r.err)
      assert.same({ "GMAIL", "OUTLOOK", "SMTP", "--fields" }, r.lines)
      local fish = "smartlua completion fish | source; complete -C 'smartlua accounts list --esp '; "
        .. "complete -C 'smartlua campaigns att'; complete -C 'smartlua --profile '"
      r = proc.sh(("%s fish --no-config -c %s"):format(cenv(), q(fish)))
      assert.equal(0, r.code, r.err)
      local words = {}
      for _, l in ipairs(r.lines) do words[#words + 1] = l:match("^[^\t]*") end
      assert.same({ "GMAIL", "OUTLOOK", "SMTP", "attach", "acme", "beta", "default" }, words)
    end)

    it("doc/smartlua.1 is what the definitions make and names every option --help names", function()
      local r = proc.smartlua { "-e", 'io.write(require("smartlead.cli.man").roff())' }
      assert.equal(0, r.code, r.err)
      assert.equal(proc.read(proc.ROOT .. "/doc/smartlua.1"), r.out, "doc/smartlua.1 is stale: run make man")
      local page = r.out:gsub("\\%-", "-")
      local helps = { { "--help" } }
      local top = proc.smartlua({ "--help" }).out
      for cmd in top:gmatch("\n  smartlua (%a+)") do helps[#helps + 1] = { cmd, "--help" } end
      for _, name in ipairs { "accounts", "campaigns", "config", "journal" } do
        for sub in proc.smartlua({ name, "--help" }).out:gmatch("\n  (%a+) ") do
          helps[#helps + 1] = { name, sub, "--help" }
        end
      end
      local seen = 0
      for _, h in ipairs(helps) do
        for opt in proc.smartlua(h).out:gmatch("\n  (%-%-?[%w][%w-]*)") do
          seen = seen + 1
          assert.truthy(page:find(opt, 1, true), table.concat(h, " ") .. ": " .. opt .. " is not in smartlua(1)")
        end
      end
      assert.is_true(seen > 60)
      local man = proc.sh("man -l " .. q(proc.ROOT .. "/doc/smartlua.1") .. " 2>&1 >/dev/null")
      assert.equal("", man.out)
    end)
  end)
end)
