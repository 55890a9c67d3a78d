-- `smartlua accounts|campaigns|api|config ...` run as a shell runs them. The mock runs in this
-- process (support.server) and the child processes reach it through SMARTLEAD_BASE_URL and
-- SMARTLEAD_API_KEY, so its state outlives each command and the spec checks what changed.
local proc = require "proc"
local support = require "support"
local json = require "smartlead.json"
local csv = require "smartlead.csv"

local q, BIN = proc.q, proc.BIN

-- Passwords the seed holds (base64 in the list answer): no output may contain them.
local SEED_PASSWORD = "RkFLRVBXLTMwMDEtdHVuZHJh"

describe("smartlua command line", function()
  local tmp, server, client, env

  setup(function()
    tmp = proc.mktemp()
    assert.is_true(os.execute("mkdir -p " .. q(tmp .. "/xdg")))
    server = support.server()
    client = server:client()
    env = proc.keyless_env(tmp .. "/xdg")
      .. (" SMARTLEAD_API_KEY=%s SMARTLEAD_BASE_URL=%s SMARTLUA_RATE=off XDG_STATE_HOME=%s")
      :format(q(support.KEY), q(server:url()), q(tmp .. "/state"))
  end)
  teardown(function()
    client:close()
    server:stop()
    proc.rmtree(tmp)
  end)
  before_each(function() server:reset() end)

  -- Runs build/smartlua with args; extra_env is a prefix such as "NO_COLOR= "; stdin a text.
  local function run(args, extra_env, stdin)
    local words = {}
    for i, a in ipairs(args) do words[i] = q(a) end
    local cmd = ("%s %s %s %s"):format(env, extra_env or "", q(BIN), table.concat(words, " "))
    if stdin then cmd = cmd .. " < " .. q(proc.write(tmp .. "/stdin", stdin)) end
    return proc.sh(cmd)
  end

  local function ok_json(r)
    assert.equal(0, r.code, r.err)
    local v, err = json.decode(r.out)
    assert(v ~= nil, "not JSON: " .. tostring(err) .. "\n" .. r.out)
    return v
  end

  -- Every account the list endpoint gives, page after page. Sequential on purpose: the
  -- prefetching client:all_accounts() can leave a request past the end in flight at exit.
  local function all_accounts(filters)
    local list, offset = {}, 0
    while true do
      local query = { offset = offset, limit = 100 }
      for k, v in pairs(filters or {}) do query[k] = v end
      local page = assert(client:get_email_accounts(query))
      for _, a in ipairs(page) do list[#list + 1] = a end
      if #page < 100 then return list end
      offset = offset + 100
    end
  end

  local function ids_of(list)
    local ids = {}
    for i, a in ipairs(list) do ids[i] = a.id end
    table.sort(ids)
    return ids
  end

  local function member_set(cid)
    local set = {}
    for _, a in ipairs(assert(client:get_campaign_email_accounts(cid))) do set[a.id] = true end
    return set
  end

  describe("accounts list", function()
    it("streams every account as JSON by default in a pipe, secrets masked", function()
      local list = ok_json(run { "accounts", "list" })
      assert.same(ids_of(all_accounts()), ids_of(list))
      assert.equal(260, #list)
      assert.equal("********", list[1].password)
      assert.falsy(json.encode(list):find(SEED_PASSWORD, 1, true))
    end)

    it("--where and --fields, in json", function()
      local list = ok_json(run { "accounts", "list", "--where",
        'a.type == "OUTLOOK" and reputation(a) ~= nil and reputation(a) >= 95',
        "--fields", "id,from_email,reputation,warmup_details.warmup_reputation", "--format", "json" })
      local want = {}
      for _, a in ipairs(all_accounts()) do
        local rep = require("smartlead").reputation(a)
        if a.type == "OUTLOOK" and rep and rep >= 95 then
          want[#want + 1] = { id = a.id, from_email = a.from_email, reputation = rep,
            warmup_details = { warmup_reputation = a.warmup_details.warmup_reputation } }
        end
      end
      assert.is_true(#want > 3)
      assert.same(want, list)
    end)

    it("ndjson: one object per line, each with exactly the fields asked for", function()
      local r = run { "accounts", "list", "--format", "ndjson", "--fields", "id,type", "--esp", "gmail" }
      assert.equal(0, r.code, r.err)
      local want = {}
      for _, a in ipairs(all_accounts()) do
        if a.type == "GMAIL" then want[#want + 1] = { id = a.id, type = "GMAIL" } end
      end
      assert.equal(#want, #r.lines)
      for i, line in ipairs(r.lines) do assert.same(want[i], json.decode(line)) end
    end)

    it("sends the filters in the API's spelling, from kebab, snake and API flags", function()
      server:clear_log()
      local r = run { "accounts", "list", "--is-smtp-success", "false", "--warmup_status", "active",
        "--isInUse=true", "--is-warmup-blocked", "--fields", "id" }
      local list = ok_json(r)
      local query = server:log()[1].query
      assert.equal("false", query.isSmtpSuccess)
      assert.equal("ACTIVE", query.emailWarmupStatus)
      assert.equal("true", query.isInUse)
      assert.equal("true", query.isWarmupBlocked)
      local want = all_accounts { is_smtp_success = false, warmup_status = "ACTIVE", is_in_use = true,
        is_warmup_blocked = true }
      assert.same(ids_of(want), ids_of(list))
    end)

    it("csv: RFC 4180 quoting of comma, quote and line break, UTF-8 as is, CRLF", function()
      local sig = 'Best, "Olivia"\nGrüße – Zoë'
      assert(client:update_email_account(3001, { signature = sig }))
      local r = run { "accounts", "list", "--format", "csv", "--fields", "id,signature,from_name",
        "--where", "a.id <= 3002" }
      assert.equal(0, r.code, r.err)
      assert.equal('id,signature,from_name\r\n3001,"Best, ""Olivia""\nGrüße – Zoë",Olivia Hall\r\n'
        .. '3002,,Umar Baker\r\n', r.out)
      local records = csv.records(r.out)
      assert.equal(sig, records[1].signature)
    end)

    it("csv default columns, and null as an empty cell", function()
      local r = run { "accounts", "list", "--format", "csv", "--limit", "2" }
      assert.equal(0, r.code, r.err)
      assert.equal("id,from_email,type,max_email_per_day,warmup_status,reputation,is_smtp_success\r\n"
        .. "3001,olivia.hall@hypergrowth.dev,GMAIL,100,ACTIVE,99,true\r\n"
        .. "3002,umar.baker@fastpipeline.co,OUTLOOK,20,ACTIVE,97,true\r\n", r.out)
    end)

    it("table: aligned, null shown as null, no colour outside a terminal", function()
      local r = run({ "accounts", "list", "--format", "table", "--fields", "id,signature,password", "--limit", "2" },
        "NO_COLOR=")
      assert.equal(0, r.code, r.err)
      assert.same({
        "  ID  SIGNATURE  PASSWORD",
        "----  ---------  --------",
        "3001  null       ********",
        "3002  null       null",
      }, r.lines)
    end)

    it("json keeps null as null", function()
      local list = ok_json(run { "accounts", "list", "--fields", "id,signature", "--limit", "1" })
      assert.same({ { id = 3001, signature = json.null } }, list)
    end)

    it("a --where syntax error is a usage error naming the expression", function()
      local r = run { "accounts", "list", "--where", "a.id ==" }
      assert.equal(2, r.code)
      assert.equal("", r.out)
      assert.matches("^smartlua: accounts list: %-%-where 'a%.id ==' is not a Lua expression: ", r.errlines[1])
    end)

    it("a --where runtime error names the account and prints nothing on stdout", function()
      local r = run { "accounts", "list", "--fields", "id", "--where", "a.warmup_details.status == 'ACTIVE'" }
      assert.equal(1, r.code)
      local first_null
      for _, a in ipairs(all_accounts()) do
        if a.warmup_details == json.null then first_null = a.id break end
      end
      assert.truthy(r.err:find("failed on account " .. first_null, 1, true), r.err)
      assert.equal("", r.out)
    end)

    it("--where helpers: get() walks through null, is_null, string", function()
      local list = ok_json(run { "accounts", "list", "--fields", "id", "--where",
        "get(a, 'warmup_details.status') == nil and is_null(a.warmup_details) and string.find(a.from_email, '@')" })
      local want = {}
      for _, a in ipairs(all_accounts()) do
        if a.warmup_details == json.null then want[#want + 1] = a.id end
      end
      assert.same(want, ids_of(list))
    end)

    it("usage errors exit 2 naming the bad word", function()
      local cases = {
        { { "accounts", "list", "--esp", "YAHOO" }, "--esp must be one of GMAIL, OUTLOOK, SMTP, got 'YAHOO'" },
        { { "accounts", "list", "--format", "xml" }, "--format must be one of table, json, ndjson, csv, got 'xml'" },
        { { "accounts", "list", "--bogus" }, "unknown option '--bogus'" },
        { { "accounts", "lst" },
          "unknown subcommand 'lst' (one of: list, get, update, add, suspend, unsuspend, delete)" },
        { { "accounts" }, "missing subcommand (one of: list, get, update, add, suspend, unsuspend, delete)" },
        { { "accounts", "get" }, "missing argument" },
        { { "accounts", "get", "x12" }, "account must be a positive whole number or an email address, got 'x12'" },
        { { "campaigns", "attach", "4101" }, "campaigns attach: needs --ids" },
        { { "accounts", "list", "--where" }, "'--where' needs a value (EXPR)" },
      }
      for _, c in ipairs(cases) do
        local r = run(c[1])
        assert.equal(2, r.code, table.concat(c[1], " "))
        assert.equal("", r.out)
        assert.equal(1, #r.errlines, r.err)
        assert.truthy(r.err:find(c[2], 1, true), r.err)
        assert.truthy(r.err:find("^smartlua: " .. c[1][1]), r.err)
        assert.truthy(r.err:find(" (try --help)\n", 1, true), r.err)
      end
    end)

    it("--help for a group and a subcommand exits 0", function()
      local r = run { "accounts", "--help" }
      assert.equal(0, r.code)
      assert.truthy(r.out:find("usage: smartlua accounts list|get|update|add", 1, true))
      r = run { "accounts", "update", "--help" }
      assert.equal(0, r.code)
      assert.truthy(r.out:find("\n  --max-email-per-day N\n", 1, true), r.out)
      assert.truthy(r.out:find("\n  --daily-rampup N\n", 1, true))
      assert.truthy(r.out:find("\n  --is-suspended [true|false]\n", 1, true))
      assert.truthy(r.out:find("\n  --client-id ID|null\n", 1, true))
    end)

    it("-v traces each request on stderr with the key masked; stdout stays clean", function()
      local r = run { "accounts", "list", "-v", "--limit", "1", "--fields", "id" }
      assert.same({ { id = 3001 } }, ok_json(r))
      assert.truthy(r.err:find("GET /api/v1/email-accounts/?api_key=***&limit=100&offset=0 -> 200", 1, true), r.err)
      assert.falsy(r.err:find(support.KEY, 1, true))
    end)

    it("an API error exits 1 with its one line, key masked", function()
      local r = proc.sh(("%s SMARTLEAD_API_KEY=wrong-key-1234567 %s accounts list"):format(env, q(BIN)))
      assert.equal(1, r.code)
      assert.equal("", r.out) -- decides, then prints: no [] before an error
      assert.equal("smartlua: http 401 UNAUTHORIZED error: Invalid API Key (GET /email-accounts/?limit=100&offset=0)",
        r.errlines[1])
      assert.falsy(r.err:find("wrong-key-1234567", 1, true))
    end)
  end)

  describe("accounts get", function()
    it("json: the whole account, secrets masked", function()
      local a = ok_json(run { "accounts", "get", "3001", "--format", "json" })
      assert.equal(3001, a.id)
      assert.equal("olivia.hall@hypergrowth.dev", a.from_email)
      assert.equal("********", a.password)
      assert.equal(false, a.is_suspended)
    end)

    it("table: a readable listing without the password", function()
      local r = run { "accounts", "get", "3001", "--format", "table" }
      assert.equal(0, r.code, r.err)
      assert.truthy(r.out:find("olivia.hall@hypergrowth.dev", 1, true))
      assert.truthy(r.out:find("juniper-nimbus", 1, true))
      assert.falsy(r.out:find(SEED_PASSWORD, 1, true))
    end)

    it("an unknown account exits 1 with the API's message", function()
      local r = run { "accounts", "get", "999999" }
      assert.equal(1, r.code)
      assert.matches("^smartlua: http 404 ", r.errlines[1])
    end)
  end)

  describe("accounts update", function()
    it("changes the account on the server and reports it", function()
      local r = run { "accounts", "update", "3001", "--max-email-per-day", "60", "--signature", "Hi, \"you\"",
        "--client-id", "null", "--is-suspended", "--format", "json" }
      assert.same({ { id = 3001, op = "update_email_account", ok = true,
        message = "Email account details updated successfully!" } }, ok_json(r))
      local body = server:log()[#server:log()].body
      assert.same({ max_email_per_day = 60, signature = 'Hi, "you"', client_id = json.null, is_suspended = true }, body)
      local a = ok_json(run { "api", "GET", "/email-accounts/3001/" })
      assert.equal(60, a.message_per_day)
      assert.equal('Hi, "you"', a.signature)
      assert.equal(true, a.is_suspended)
      assert.truthy(r.err:find("journal: ", 1, true))
    end)

    it("warmup flags go to update_warmup, keeping warmup on when not said", function()
      local r = run { "accounts", "update", "3001", "--total-warmup-per-day", "30", "--daily-rampup", "5" }
      assert.equal(0, r.code, r.err)
      local last = server:log()[#server:log()]
      assert.equal("/api/v1/email-accounts/3001/warmup", last.path)
      assert.same({ warmup_enabled = true, total_warmup_per_day = 30, daily_rampup = 5 }, last.body)
      assert.equal(30, server:account(3001).warmup_details.max_email_per_day)
    end)

    it("--plan shows field: before -> after and changes nothing", function()
      server:clear_log()
      local r = run { "accounts", "update", "3001", "--max-email-per-day", "60", "--plan" }
      assert.equal(0, r.code, r.err)
      assert.same({ "3001 olivia.hall@hypergrowth.dev", "  max_email_per_day: 100 -> 60",
        "Plan: 1 account changed, 1 field changed, 0 attaches, 0 detaches." }, r.lines)
      assert.equal(100, server:account(3001).message_per_day)
      for _, e in ipairs(server:log()) do assert.equal("GET", e.method) end
    end)

    it("--max-changes refuses a run over the limit with exit 3 and writes nothing", function()
      local r = run { "accounts", "update", "3001", "--max-email-per-day", "60", "--max-changes", "0" }
      assert.equal(3, r.code)
      assert.truthy(r.err:find("more than --max-changes 0; nothing was written", 1, true))
      assert.equal(100, server:account(3001).message_per_day)
      r = run { "accounts", "update", "3001", "--max-email-per-day", "61", "--max-changes", "1" }
      assert.equal(0, r.code, r.err)
      assert.equal(61, server:account(3001).message_per_day)
    end)

    it("journals the write with its before-value to --journal FILE", function()
      local path = tmp .. "/update.jsonl"
      local r = run { "accounts", "update", "3002", "--max-email-per-day", "25", "--journal", path }
      assert.equal(0, r.code, r.err)
      local records = {}
      for line in assert(proc.read(path)):gmatch("[^\n]+") do records[#records + 1] = json.decode(line) end
      assert.same({ "begin", "intent", "result" }, { records[1].type, records[2].type, records[3].type })
      assert.equal("smartlua accounts update", records[1].script)
      assert.same({ op = "update_email_account", target = { account = 3002 }, before = { max_email_per_day = 20 },
        fields = { max_email_per_day = 25 } },
        { op = records[2].op, target = records[2].target, before = records[2].before, fields = records[2].fields })
      assert.equal("ok", records[3].status)
      assert.equal("600", (io.popen("stat -c %a " .. q(path)):read("l")))
    end)

    it("bad values and missing fields are usage errors; nothing is sent", function()
      server:clear_log()
      local cases = {
        { { "accounts", "update", "3001", "--max-email-per-day", "lots" },
          "--max-email-per-day must be a whole number >= 0, got 'lots'" },
        { { "accounts", "update", "3001" }, "needs at least one field" },
        { { "accounts", "update", "3001", "--max-emails-per-day", "5" }, 'did you mean "--max-email-per-day"?' },
        { { "accounts", "update", "3001", "--is-suspended", "maybe" }, "unexpected argument 'maybe'" },
        { { "accounts", "update", "3001", "--password", "hunter2" },
          "passwords and tokens are never taken from the command line" },
        { { "accounts", "update", "3001", "--max-email-per-day", "5", "--max-changes", "x" },
          "--max-changes needs a whole number" },
      }
      for _, c in ipairs(cases) do
        local r = run(c[1])
        assert.equal(2, r.code, table.concat(c[1], " ") .. "\n" .. r.err)
        assert.truthy(r.err:find(c[2], 1, true), r.err)
        assert.falsy(r.err:find("hunter2", 1, true))
      end
      assert.same({}, server:log())
    end)

    it("an API refusal exits 1 with its message", function()
      local r = run { "accounts", "update", "999999", "--max-email-per-day", "5" }
      assert.equal(1, r.code)
      assert.truthy(r.err:find("account 999999: http 404", 1, true), r.err)
    end)
  end)

  describe("campaigns", function()
    -- Connected, unsuspended accounts not yet in the campaign (attachable).
    local function attachable(cid, n)
      local members, ids = member_set(cid), {}
      for _, a in ipairs(all_accounts()) do
        local full = server:account(a.id)
        if not members[a.id] and a.is_smtp_success == true and a.is_imap_success == true and not full.is_suspended then
          ids[#ids + 1] = a.id
          if #ids == n then break end
        end
      end
      return ids
    end

    it("attach, accounts and detach change and show the campaign", function()
      local ids = attachable(4101, 2)
      assert.equal(2, #ids)
      local r = run { "campaigns", "attach", "4101", "--ids", ids[1] .. "," .. ids[2], "--format", "json" }
      assert.same({ { campaign_id = 4101, email_account_id = ids[1], status = "attached" },
        { campaign_id = 4101, email_account_id = ids[2], status = "attached" } }, ok_json(r))
      local members = member_set(4101)
      assert.is_true(members[ids[1]] and members[ids[2]])

      local listed = ok_json(run { "campaigns", "accounts", "4101", "--fields", "id" })
      local want = {}
      for id in pairs(members) do want[#want + 1] = id end
      table.sort(want)
      assert.same(want, ids_of(listed))

      r = run({ "campaigns", "detach", "4101", "--ids", "-" }, nil, "id\n" .. ids[1] .. "\n")
      assert.equal(0, r.code, r.err)
      members = member_set(4101)
      assert.is_nil(members[ids[1]])
      assert.is_true(members[ids[2]])
    end)

    it("--plan attach shows the change and leaves the campaign alone", function()
      local ids = attachable(4102, 1)
      local before = member_set(4102)
      local r = run { "campaigns", "attach", "4102", "--ids", tostring(ids[1]), "--plan" }
      assert.equal(0, r.code, r.err)
      assert.equal("campaign 4102", r.lines[1])
      assert.truthy(r.lines[2]:find("attach: " .. ids[1], 1, true))
      assert.same(before, member_set(4102))
    end)

    it("--ids - takes the ids `accounts list --fields id` prints, in json, ndjson or csv", function()
      local base = ("%s %s accounts list --fields id --limit 2 --where 'a.id >= 3040'"):format(env, q(BIN))
      for _, fmt in ipairs { "json", "ndjson", "csv" } do
        local r = proc.sh(("%s --format %s | %s %s campaigns detach 4101 --ids - --plan")
          :format(base, fmt, env, q(BIN)))
        assert.equal(0, r.code, r.err)
        assert.same({ "campaign 4101", "  detach: 3040 noah.schmidt@leadforge.co",
          "  detach: 3041 paul.vargas@acme-growth.io",
          "Plan: 2 accounts changed, 0 fields changed, 0 attaches, 2 detaches." }, r.lines)
      end
      assert.is_true(member_set(4101)[3040])
      local r = run({ "campaigns", "attach", "4101", "--ids", "-" }, nil, "[3001, \"x\"]")
      assert.equal(2, r.code)
      assert.truthy(r.err:find("--ids entry must be a positive whole number, got 'x'", 1, true), r.err)
    end)

    it("an unknown campaign exits 1", function()
      local r = run { "campaigns", "attach", "9999", "--ids", "3001" }
      assert.equal(1, r.code)
      assert.truthy(r.err:find("Campaign not found", 1, true), r.err)
    end)
  end)

  describe("api", function()
    it("GET with -q parameters prints the answer as JSON", function()
      server:clear_log()
      local list = ok_json(run { "api", "GET", "/email-accounts/", "-q", "limit=3", "-q", "esp=OUTLOOK" })
      assert.equal(3, #list)
      for _, a in ipairs(list) do assert.equal("OUTLOOK", a.type) end
      local query = server:log()[1].query
      assert.equal("3", query.limit)
      assert.equal("OUTLOOK", query.esp)
      assert.falsy(json.encode(list):find(SEED_PASSWORD, 1, true))
    end)

    it("POST -d @file sends the body and changes the server", function()
      local body = proc.write(tmp .. "/body.json", '{"max_email_per_day": 33, "bcc": "ops@example.com"}')
      local answer = ok_json(run { "api", "POST", "/email-accounts/3001", "-d", "@" .. body })
      assert.equal(true, answer.ok)
      local a = server:account(3001)
      assert.equal(33, a.message_per_day)
      assert.equal("ops@example.com", a.bcc_email)
    end)

    it("-d with inline JSON, and --plan sends nothing", function()
      local r = run { "api", "POST", "/email-accounts/3001", "-d", '{"max_email_per_day": 44}', "--plan" }
      assert.equal(0, r.code, r.err)
      assert.truthy(r.out:find("request POST /email-accounts/3001", 1, true), r.out)
      assert.equal(100, server:account(3001).message_per_day)
    end)

    it("usage errors: bad method, bad JSON, missing path", function()
      assert.equal(2, run({ "api", "FETCH", "/x" }).code)
      local r = run { "api", "POST", "/email-accounts/3001", "-d", "{nope" }
      assert.equal(2, r.code)
      assert.truthy(r.err:find("-d must be JSON", 1, true))
      assert.equal(2, run({ "api", "GET" }).code)
    end)

    it("an HTTP error prints the body and exits 1", function()
      local r = run { "api", "GET", "/email-accounts/999999/" }
      assert.equal(1, r.code)
      assert.matches("^smartlua: http 404 ", r.errlines[1])
    end)
  end)

  describe("accounts add --csv", function()
    local PW = { "S3cret-add-pw-1", "S3cret,add \"pw\" 2", "S3cret-add-pw-3", "S3cret-add-pw-4" }
    local function sheet()
      return table.concat({
        "from_name,from_email,user_name,password,smtp_host,smtp_port,imap_host,imap_port,max_email_per_day,signature",
        ("Ada,ada@engines.io,ada@engines.io,%s,smtp.engines.io,587,imap.engines.io,993,40,"):format(PW[1]),
        ('"Hopper, Grace",grace@cobol.dev,grace,"%s",smtp.cobol.dev,465,imap.cobol.dev,993,,"Grace\nHopper"')
          :format(PW[2]:gsub('"', '""')),
        ("Alan,alan@bletchley.co,alan,%s,smtp.bletchley.co,99999,imap.bletchley.co,993,25,"):format(PW[3]),
        ("Olivia,olivia.hall@hypergrowth.dev,o,%s,smtp.gmail.com,587,imap.gmail.com,993,,"):format(PW[4]),
      }, "\r\n") .. "\r\n"
    end

    local function no_password(text)
      for _, pw in ipairs(PW) do assert.falsy(text:find(pw, 1, true), "password leaked: " .. pw) end
    end

    it("adds the good rows, reports each row, and never prints a password", function()
      local path = proc.write(tmp .. "/add.csv", sheet())
      local journal = tmp .. "/add.jsonl"
      local r = run { "accounts", "add", "--csv", path, "--format", "json", "--journal", journal }
      assert.equal(4, r.code, r.err)
      local rows = json.decode(r.out)
      assert.equal(4, #rows)
      assert.same({ 2, "ada@engines.io", "added" }, { rows[1].line, rows[1].from_email, rows[1].status })
      assert.same({ 3, "grace@cobol.dev", "added" }, { rows[2].line, rows[2].from_email, rows[2].status })
      assert.same({ 5, "alan@bletchley.co", "invalid" }, { rows[3].line, rows[3].from_email, rows[3].status })
      assert.equal("smtp_port must be a whole number from 1 to 65535, got '99999'", rows[3].error)
      assert.same({ 6, "exists", 3001 }, { rows[4].line, rows[4].status, rows[4].id })
      local ada = server:account(rows[1].id)
      assert.equal("ada@engines.io", ada.from_email)
      assert.equal(40, ada.message_per_day)
      local grace = server:account(rows[2].id)
      assert.equal("Hopper, Grace", grace.from_name)
      assert.equal("Grace\nHopper", grace.signature)
      no_password(r.out .. r.err)
      no_password(proc.read(journal))
      local sent = server:log()
      local saves = 0
      for _, e in ipairs(sent) do
        if e.path == "/api/v1/email-accounts/save" then saves = saves + 1 end
      end
      assert.equal(3, saves) -- the invalid row was never sent
    end)

    it("reads the file from stdin with --csv -", function()
      local r = run({ "accounts", "add", "--csv", "-", "--format", "csv" }, nil, sheet())
      assert.equal(4, r.code, r.err)
      local rows = csv.records(r.out)
      assert.same({ "added", "added", "invalid", "exists" },
        { rows[1].status, rows[2].status, rows[3].status, rows[4].status })
      no_password(r.out .. r.err)
    end)

    it("--plan shows the saves without passwords, the bad row on stderr, and adds nothing", function()
      local before = #all_accounts()
      local r = run({ "accounts", "add", "--csv", "-", "--plan" }, nil, sheet())
      assert.equal(4, r.code, r.err) -- a row will not be written
      assert.equal("new account ada@engines.io (add_smtp_account)", r.lines[1])
      assert.truthy(r.out:find("new account grace@cobol.dev", 1, true), r.out)
      assert.truthy(r.out:find("  + password: ***\n", 1, true), r.out)
      assert.equal("Plan: 3 accounts changed, 0 fields changed, 0 attaches, 0 detaches, 3 saves.", r.lines[#r.lines])
      assert.truthy(r.err:find("smartlua: line 5 alan@bletchley.co: invalid: smtp_port must be", 1, true), r.err)
      no_password(r.out .. r.err)
      assert.equal(before, #all_accounts())
    end)

    it("refuses a password on the command line and a file without required columns", function()
      local r = run { "accounts", "add", "--csv", "x.csv", "--password", "hunter2-cli" }
      assert.equal(2, r.code)
      assert.truthy(r.err:find("'--password': passwords and tokens are never taken from the command line", 1, true))
      assert.falsy((r.out .. r.err):find("hunter2-cli", 1, true))
      local path = proc.write(tmp .. "/short.csv", "from_email,username\na@b.io,x\n")
      r = run { "accounts", "add", "--csv", path }
      assert.equal(1, r.code)
      assert.truthy(r.err:find("unknown column 'username' (did you mean 'user_name'?)", 1, true), r.err)
    end)
  end)

  describe("config", function()
    local xdg, cfg, cfg_env

    before_each(function()
      xdg = proc.mktemp()
      cfg = xdg .. "/smartlua/config"
      cfg_env = proc.keyless_env(xdg) .. " SMARTLUA_RATE=off"
    end)
    after_each(function() proc.rmtree(xdg) end)

    local function crun(args, extra, stdin)
      local words = {}
      for i, a in ipairs(args) do words[i] = q(a) end
      local cmd = ("%s %s %s %s"):format(cfg_env, extra or "", q(BIN), table.concat(words, " "))
      if stdin then cmd = cmd .. " < " .. q(proc.write(xdg .. "/stdin", stdin)) end
      return proc.sh(cmd)
    end

    local function settings(r)
      assert.equal(0, r.code, r.err)
      local out = {}
      for _, s in ipairs(json.decode(r.out)) do out[s.setting] = { s.value, s.source } end
      return out
    end

    local function mode(path)
      local p = assert(io.popen("stat -c %a " .. q(path)))
      local m = p:read("l")
      p:close()
      return m
    end

    local KEY1, KEY2 = "cfg-default-key-8a7b6c5d", "cfg-work-key-1f2e3d4c"

    it("set api_key - reads stdin, writes mode 0600 in a 0700 directory, never prints the key", function()
      local r = crun({ "config", "set", "api_key", "-" }, nil, KEY1 .. "\n")
      assert.equal(0, r.code, r.err)
      assert.same({ "api_key set in " .. cfg .. " [default]" }, r.lines)
      assert.equal("600", mode(cfg))
      assert.equal("700", mode(xdg .. "/smartlua"))
      assert.equal("api_key = " .. KEY1 .. "\n", proc.read(cfg))
      r = crun { "config", "list", "--format", "json" }
      local s = settings(r)
      assert.same({ "cfg-…", "file:default" }, s.api_key)
      assert.same({ "default", "default" }, s.profile)
      assert.same({ "https://server.smartlead.ai/api/v1", "default" }, s.base_url)
      assert.same({ "off", "environment (SMARTLUA_RATE)" }, s.rate)
      assert.same({ 8, "default" }, s.concurrency)
      assert.falsy((r.out .. r.err):find(KEY1, 1, true))
    end)

    it("list shows the default rate as auto; set rate takes every form its help names", function()
      local function rate() return settings(crun({ "config", "list", "--format", "json" }, "SMARTLUA_RATE=")).rate end
      assert.same({ "auto", "default" }, rate())
      for _, form in ipairs { "10/2", "10/1,60/60,1000/3600", "standard", "pro", "legacy", "auto", "off" } do
        local r = crun { "config", "set", "rate", form }
        assert.equal(0, r.code, r.err)
        assert.same({ form, "file:default" }, rate())
      end
      local help = crun({ "config", "set", "--help" }).out:gsub("%s+", " ")
      for _, says in ipairs { "N/SECONDS", "(10/1,60/60,1000/3600)", "(standard, pro, legacy)", "auto (the default",
        "or off" } do
        assert.truthy(help:find(says, 1, true), says .. " in " .. help)
      end
    end)

    it("set keeps other lines, comments and profiles, and adds a [profile] section", function()
      os.execute("mkdir -p " .. q(xdg .. "/smartlua"))
      proc.write(cfg, "# my settings\napi_key = " .. KEY1 .. "\ntimeout = 30\n\n[other]\n; keep me\nrate = 1/1\n")
      os.execute("chmod 600 " .. q(cfg))
      assert.equal(0, crun({ "config", "set", "timeout", "45" }).code)
      assert.equal(0, crun({ "config", "set", "api_key", "-", "--profile", "work" }, nil, KEY2 .. "\n").code)
      assert.equal(0, crun({ "config", "set", "concurrency", "3" }, "SMARTLUA_PROFILE=other").code)
      assert.equal("# my settings\napi_key = " .. KEY1 .. "\ntimeout = 45\n\n[other]\n; keep me\nrate = 1/1\n"
        .. "concurrency = 3\n"
        .. "\n[work]\napi_key = " .. KEY2 .. "\n", proc.read(cfg))
      assert.equal("600", mode(cfg))
    end)

    it("profiles chosen by --profile or SMARTLUA_PROFILE; flag > environment > file > default", function()
      os.execute("mkdir -p " .. q(xdg .. "/smartlua"))
      proc.write(cfg, ("api_key = %s\n[profile work]\napi_key = %s\nbase_url = http://127.0.0.1:9/api/v1\n"
        .. "concurrency = 5\nrate = 4/2\n")
        :format(KEY1, KEY2))
      os.execute("chmod 600 " .. q(cfg))
      local s = settings(crun { "config", "list", "--profile", "work", "--format", "json" })
      assert.same({ "work", "flag" }, s.profile)
      assert.same({ "cfg-…", "file:work" }, s.api_key)
      assert.same({ "http://127.0.0.1:9/api/v1", "file:work" }, s.base_url)
      assert.same({ 5, "file:work" }, s.concurrency)
      assert.same({ "off", "environment (SMARTLUA_RATE)" }, s.rate)
      s = settings(crun({ "config", "list", "--format", "json" }, "SMARTLUA_PROFILE=work SMARTLUA_CONCURRENCY=7"))
      assert.same({ "work", "environment (SMARTLUA_PROFILE)" }, s.profile)
      assert.same({ 7, "environment (SMARTLUA_CONCURRENCY)" }, s.concurrency)
      s = settings(crun({ "config", "list", "--format", "json" }, "SMARTLEAD_API_KEY=env-key-99999999"))
      assert.same({ "env-…", "environment (SMARTLEAD_API_KEY)" }, s.api_key)
      s = settings(crun({ "config", "list", "--format", "json", "--mock" }, "SMARTLEAD_API_KEY=env-key-99999999"))
      assert.same("--mock", s.api_key[2])
      assert.same("--mock", s.base_url[2])
      assert.matches("^http://127%.0%.0%.1:%d+/api/v1$", s.base_url[1])
    end)

    it("the chosen profile is the one the client uses", function()
      os.execute("mkdir -p " .. q(xdg .. "/smartlua"))
      proc.write(cfg, ("api_key = wrong-key-00000000\nbase_url = %s\n[mocked]\napi_key = %s\nbase_url = %s\n")
        :format(server:url(), support.KEY, server:url()))
      os.execute("chmod 600 " .. q(cfg))
      local r = crun { "accounts", "list", "--fields", "id", "--limit", "2" }
      assert.equal(1, r.code)
      assert.truthy(r.err:find("401", 1, true))
      r = crun { "accounts", "list", "--fields", "id", "--limit", "2", "--profile", "mocked" }
      assert.same({ { id = 3001 }, { id = 3002 } }, ok_json(r))
      r = crun({ "accounts", "list", "--fields", "id", "--limit", "1" }, "SMARTLUA_PROFILE=mocked")
      assert.same({ { id = 3001 } }, ok_json(r))
      assert.falsy((r.out .. r.err):find(support.KEY, 1, true))
    end)

    it("an unknown profile is an error naming the profiles there are", function()
      os.execute("mkdir -p " .. q(xdg .. "/smartlua"))
      proc.write(cfg, "api_key = " .. KEY1 .. "\n[work]\nrate = off\n")
      os.execute("chmod 600 " .. q(cfg))
      local r = crun { "config", "list", "--profile", "nope" }
      assert.equal(1, r.code)
      assert.same({ "smartlua: " .. cfg .. ": no profile [nope] (profiles: default, work)" }, r.errlines)
      r = crun { "accounts", "list", "--profile", "nope" }
      assert.equal(1, r.code)
      assert.truthy(r.err:find("no profile [nope] (profiles: default, work)", 1, true), r.err)
    end)

    it("refuses a config file others can read, with the chmod fix, and never shows the key", function()
      os.execute("mkdir -p " .. q(xdg .. "/smartlua"))
      proc.write(cfg, "api_key = " .. KEY1 .. "\n")
      os.execute("chmod 640 " .. q(cfg))
      for _, args in ipairs { { "config", "list" }, { "accounts", "list" }, { "config", "set", "timeout", "5" } } do
        local r = crun(args)
        assert.equal(1, r.code, table.concat(args, " "))
        assert.same({ ("smartlua: %s holds secrets but other users may read it (mode 640); fix it with: chmod 600 %s")
          :format(cfg, cfg) }, r.errlines)
        assert.falsy((r.out .. r.err):find(KEY1, 1, true))
      end
    end)

    it("refuses unknown settings and bad values", function()
      local r = crun { "config", "set", "colour", "red" }
      assert.equal(2, r.code)
      assert.truthy(r.err:find("unknown setting 'colour' (known: api_key, base_url, rate, concurrency, timeout)", 1,
        true))
      r = crun { "config", "set", "rate", "fast" }
      assert.equal(1, r.code)
      assert.truthy(r.err:find("rate must be N/SECONDS (e.g. 10/2) or off, got 'fast'", 1, true))
      assert.falsy(proc.exists(cfg))
    end)
  end)

  -- One parser for the whole line (lua/smartlead/cli/parser.lua): global options in any position,
  -- a help for every command, suggestions, and usage errors that print one line and no output.
  describe("the one parser", function()
    local keyless

    setup(function() keyless = proc.keyless_env(tmp .. "/xdg") end)

    local function mock_run(args) return proc.smartlua(args, keyless) end

    local function same_ids(r, want)
      assert.equal(0, r.code, r.err)
      assert.same(want, json.decode(r.out))
    end

    it("takes --mock and -v before the command, after it, and between its words", function()
      local want = { { id = 3001 }, { id = 3002 } }
      for _, args in ipairs {
        { "--mock", "-v", "accounts", "list", "--limit", "2", "--fields", "id" },
        { "accounts", "list", "--mock", "-v", "--limit", "2", "--fields", "id" },
        { "accounts", "list", "--limit", "2", "--fields", "id", "--mock", "-v" },
        { "-v", "accounts", "--mock", "list", "--limit", "2", "--fields", "id" },
        { "--mock", "accounts", "list", "-v", "--fields=id", "--limit=2" },
      } do
        local r = mock_run(args)
        same_ids(r, want)
        assert.truthy(r.err:find("GET /api/v1/email-accounts/?api_key=***&limit=100&offset=0 -> 200", 1, true),
          table.concat(args, " ") .. "\n" .. r.err)
      end
    end)

    it("takes --profile and --format before the command "
      .. "(smartlua --profile acme --format csv accounts list)", function()
      local xdg = tmp .. "/acme"
      os.execute(("mkdir -p %s && chmod 700 %s"):format(q(xdg .. "/smartlua"), q(xdg .. "/smartlua")))
      proc.write(xdg .. "/smartlua/config", ("api_key = wrong-key-00000000\n[acme]\napi_key = %s\nbase_url = %s\n")
        :format(support.KEY, server:url()))
      os.execute("chmod 600 " .. q(xdg .. "/smartlua/config"))
      local want = "id,from_email\r\n3001,olivia.hall@hypergrowth.dev\r\n3002,umar.baker@fastpipeline.co\r\n"
      for _, args in ipairs {
        { "--profile", "acme", "--format", "csv", "accounts", "list", "--limit", "2", "--fields", "id,from_email" },
        { "accounts", "list", "--limit", "2", "--fields", "id,from_email", "--profile", "acme", "--format", "csv" },
        { "--format=csv", "accounts", "--profile=acme", "list", "--limit", "2", "--fields", "id,from_email" },
      } do
        local r = proc.smartlua(args, proc.keyless_env(xdg) .. " SMARTLUA_RATE=off")
        assert.equal(0, r.code, r.err)
        assert.equal(want, r.out)
      end
    end)

    it("takes the run options before and after apply "
      .. "(smartlua --journal J apply P, smartlua apply --journal J P)", function()
      local plan = tmp .. "/parser-plan.json"
      local r = run { "--plan-out", plan, "accounts", "update", "3001", "--max-email-per-day", "61" }
      assert.equal(0, r.code, r.err)
      for i, args in ipairs {
        { "--journal", tmp .. "/before.jsonl", "--yes", "apply", plan },
        { "apply", "--journal", tmp .. "/after.jsonl", plan, "--yes" },
      } do
        server:reset()
        r = run(args)
        assert.equal(0, r.code, r.err)
        assert.equal("Apply: 1 write planned: 1 sent, 0 already done, 0 skipped, 0 failed; 1 account changed.",
          r.lines[#r.lines])
        assert.equal(61, server:account(3001).message_per_day)
        assert.truthy(proc.exists(tmp .. (i == 1 and "/before.jsonl" or "/after.jsonl")))
      end
    end)

    it("takes --resume for apply before and after it "
      .. "(smartlua --resume J apply P, smartlua apply --resume J P)", function()
      local plan = proc.write(tmp .. "/some-plan.json", "{}")
      local a = run { "--resume", tmp .. "/j.jsonl", "apply", plan }
      local b = run { "apply", "--resume", tmp .. "/j.jsonl", plan }
      for _, r in ipairs { a, b } do
        assert.equal(1, r.code)
        assert.equal("", r.out)
        assert.same({ "smartlua: apply: " .. plan .. ": not a smartlua plan" }, r.errlines)
      end
    end)

    it("takes --resume before a writing command as after it", function()
      local journal = tmp .. "/resume-cmd.jsonl"
      local r = run { "accounts", "update", "3002", "--max-email-per-day", "27", "--journal", journal }
      assert.equal(0, r.code, r.err)
      server:clear_log()
      r = run { "--resume", journal, "accounts", "update", "3002", "--max-email-per-day", "27" }
      assert.equal(0, r.code, r.err)
      for _, e in ipairs(server:log()) do assert.equal("GET", e.method) end -- done already: not sent again
    end)

    it("every command has a --help that exits 0 and names its options and arguments", function()
      local cases = {
        { { "--help" }, { "smartlua accounts list|get|update|add", "smartlua mock [--port N]", "--mock[=FILE.json]",
          "--max-changes N", "-e CHUNK" } },
        { { "accounts", "--help" }, { "usage: smartlua accounts list|get|update|add", "update [ID|EMAIL] [options]" } },
        { { "accounts", "list", "--help" }, { "--where EXPR", "--fields a,b,c", "--limit N", "--esp GMAIL|OUTLOOK|SMTP",
          "--is-in-use [true|false]", "--format F", "--mock[=FILE.json]" } },
        { { "accounts", "get", "--help" }, { "usage: smartlua accounts get ID", "--fetch-campaigns", "--fields" } },
        { { "accounts", "update", "--help" }, { "--max-email-per-day N", "--warmup-enabled [true|false]", "--plan",
          "--max-changes N" } },
        { { "accounts", "add", "--help" }, { "--csv FILE|-", "smtp_port*", "--plan" } },
        { { "campaigns", "--help" }, { "attach CAMPAIGN_ID", "detach CAMPAIGN_ID", "accounts CAMPAIGN_ID" } },
        { { "campaigns", "attach", "--help" }, { "--ids ID,ID,...|-", "--plan" } },
        { { "campaigns", "accounts", "--help" }, { "--where EXPR", "--fields" } },
        { { "api", "--help" },
          { "usage: smartlua api METHOD PATH", "-q, --query key=value", "-d, --data JSON|@FILE|@-" } },
        { { "config", "--help" }, { "usage: smartlua config list|set", "set KEY VALUE" } },
        { { "config", "list", "--help" }, { "--profile NAME", "--format F" } },
        { { "config", "set", "--help" }, { "usage: smartlua config set KEY VALUE", "--profile NAME" } },
        { { "mock", "--help" }, { "--port N", "--seed FILE.json", "--extra-accounts N", "--knobs FILE.json" } },
        { { "apply", "--help" },
          { "usage: smartlua apply PLAN.json", "--journal FILE", "--max-changes N", "--yes, -y" } },
        { { "undo", "--help" }, { "usage: smartlua undo [JOURNAL]", "--journal FILE", "--yes, -y" } },
        { { "--mock", "-h", "accounts", "list" }, { "usage: smartlua accounts list" } },
      }
      for _, c in ipairs(cases) do
        local r = mock_run(c[1])
        local what = table.concat(c[1], " ")
        assert.equal(0, r.code, what)
        assert.equal("", r.err, what)
        for _, text in ipairs(c[2]) do
          assert.truthy(r.out:find(text, 1, true), what .. ": no " .. text .. "\n" .. r.out)
        end
      end
      local update = mock_run({ "accounts", "update", "--help" }).out
      assert.falsy(update:find("--offset", 1, true))
      assert.falsy(update:find("--password", 1, true))
    end)

    it("--help wins over a usage error on the same line", function()
      local r = mock_run { "accounts", "list", "--bogus", "--help" }
      assert.equal(0, r.code)
      assert.matches("^usage: smartlua accounts list", r.out)
    end)

    it("suggests the command or option meant, exit 2, nothing on stdout", function()
      local cases = {
        { { "acounts", "list" }, "smartlua: unknown command 'acounts' (did you mean \"accounts\"?) (try --help)" },
        { { "--mock", "campains", "accounts", "4101" },
          "smartlua: unknown command 'campains' (did you mean \"campaigns\"?) (try --help)" },
        { { "accounts", "lsit" },
          "smartlua: accounts: unknown subcommand 'lsit' (one of: list, get, update, add, suspend, unsuspend, "
            .. "delete) (did you mean \"list\"?) (try --help)" },
        { { "accounts", "list", "--fileds", "id" },
          "smartlua: accounts list: unknown option '--fileds' (did you mean \"--fields\"?) (try --help)" },
        { { "--mokc", "accounts", "list" },
          "smartlua: unknown option '--mokc' (did you mean \"--mock\"?) (try --help)" },
        { { "accounts", "update", "3001", "--daily-rampupp", "3" },
          "smartlua: accounts update: unknown option '--daily-rampupp' (did you mean \"--daily-rampup\"?) "
          .. "(try --help)" },
        { { "config", "set", "timout", "5" },
          "smartlua: config set: unknown setting 'timout' (known: api_key, base_url, "
          .. "rate, concurrency, timeout) (did you mean \"timeout\"?) (try --help)" },
      }
      for _, c in ipairs(cases) do
        local r = mock_run(c[1])
        assert.equal(2, r.code, table.concat(c[1], " "))
        assert.equal("", r.out)
        assert.same({ c[2] }, r.errlines)
      end
    end)

    it("usage errors exit 2 with one line on stderr ending in (try --help), and nothing on stdout", function()
      local cases = {
        { "mock", "--port", "x" }, { "mock", "extra" }, { "apply" }, { "undo", "a.jsonl", "b.jsonl" }, { "config" },
        { "config", "set", "timeout" }, { "api", "FETCH", "/x" }, { "api", "GET" },
        { "--format", "csv", "-e", "print(1)" },
        { "accounts", "list", "--plan" }, { "accounts", "get", "1", "2" }, { "accounts", "list", "--limit", "-3" },
        { "-e" }, { "--profile" }, { "--plan=yes", "-e", "print(1)" }, { "-e", "print(1)", "accounts", "list" },
        { "accounts", "list", "-i" }, { "accounts", "get", "3001", "--version" }, { "--max-changes", "x", "-e", "1" },
        { "campaigns", "attach", "4101", "--ids", "x" }, { "accounts", "list", "--where", "a.id ==" },
        { "accounts", "update", "3001", "--password", "hunter2" }, { "--api-key", "k", "accounts", "list" },
      }
      for _, args in ipairs(cases) do
        local r = mock_run(args)
        local what = table.concat(args, " ")
        assert.equal(2, r.code, what .. "\n" .. r.err)
        assert.equal("", r.out, what)
        assert.equal(1, #r.errlines, what .. "\n" .. r.err)
        assert.matches("^smartlua: .* %(try %-%-help%)$", r.errlines[1])
        assert.falsy(r.err:find("hunter2", 1, true))
      end
    end)
  end)
end)
