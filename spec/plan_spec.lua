-- Plan before change: `smartlua --plan` (reads sent, writes recorded and not sent, field: before
-- -> after per account), --plan-out and `smartlua apply` (exactly the plan, drifted accounts
-- skipped), --max-changes, the terminal question, and the exit codes.
local support = require "support"
local proc = require "proc"
local json = require "smartlead.json"
local run = require "smartlead.run"
local planlib = require "smartlead.plan"

local q = proc.q

local function timeless(state)
  for _, a in ipairs(state.accounts) do a.updated_at = nil end
  return state
end

local function writes_in(log)
  local n = 0
  for _, e in ipairs(log) do
    if e.method ~= "GET" then n = n + 1 end
  end
  return n
end

-- Account ids whose (timeless) state differs between two snapshots.
local function changed_ids(before, after)
  local old, ids = {}, {}
  for _, a in ipairs(before.accounts) do old[a.id] = json.encode(a) end
  for _, a in ipairs(after.accounts) do
    if old[a.id] ~= json.encode(a) then ids[#ids + 1] = a.id end
  end
  table.sort(ids)
  return ids
end

describe("plan", function()
  local tmp, server, client
  support.shared_server(function(s, c) server, client = s, c end)
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  it("refuses under --plan what the real call would refuse, and records only valid writes", function()
    local s = run.session { mode = "plan" }
    local previous = client:set_session(s)
    local bad, err = client:update_email_account(3002, { max_emails_per_day = 5 })
    local bad_port, port_err = client:add_smtp_account { from_name = "x" }
    local good = client:update_email_account(3002, { max_email_per_day = 5 })
    client:set_session(previous)
    assert.is_nil(bad)
    assert.equal("validation", err.kind)
    assert.matches('did you mean "max_email_per_day"', err.message, 1, true)
    assert.is_nil(bad_port)
    assert.equal("validation", port_err.kind)
    assert.is_true(good.planned)
    assert.equal(1, #s.plan.ops)
    assert.equal(0, writes_in(server:log()))
  end)

  local function script(name, text) return proc.write(tmp .. "/" .. name, text) end

  -- build/smartlua against the in-process server (its key and URL in the environment).
  local function smartlua(args) return support.smartlua(server, args, "XDG_STATE_HOME=" .. q(tmp .. "/state")) end

  describe("--plan", function()
    it("prints account by account `field: before -> after` for a known fixture (--mock)", function()
      local path = script("one.lua", [[
        local c = require("smartlead").client()
        local res = assert(c:update_email_account(3002, { max_email_per_day = 17 }))
        print("answer", res.ok, res.planned, res.email_account_id)
      ]])
      local r = proc.smartlua({ "--mock", "--plan", path }, proc.keyless_env(tmp))
      assert.equal(0, r.code, r.err)
      assert.same({
        "answer\ttrue\ttrue\t3002",
        "3002 umar.baker@fastpipeline.co",
        "  max_email_per_day: 20 -> 17",
        "Plan: 1 account changed, 1 field changed, 0 attaches, 0 detaches.",
      }, r.lines)
      -- the time applying it would take, on stderr (--mock paces nothing: the latency decides)
      assert.equal("smartlua: estimate: 1 write + 1 read; the client is not paced, so the server's latency decides "
        .. "how long\n", r.err)
    end)

    it("reads before-values under the answer's names, and shows attach, detach and totals", function()
      local path = script("names.lua", [[
        local c = require("smartlead").client()
        for a in c:accounts() do end -- before-values from the list
        assert(c:update_email_account(3001, { custom_tracking_url = "t.example.com", bcc = "copy@example.com",
          time_to_wait_in_mins = 4, max_email_per_day = 100 }))
        assert(c:update_email_account(3003, { from_name = "Liam A.", is_suspended = true }))
        assert(c:update_warmup(3005, { warmup_enabled = false, total_warmup_per_day = 8 }))
        assert(c:add_campaign_email_accounts(4104, { 3003, 3005 }))
        assert(c:remove_campaign_email_accounts(4101, { 3002, 3005 }))
        assert(c:add_campaign_email_accounts(4101, { 3001 })) -- already a member: no change
      ]])
      local r = smartlua({ "--plan", path })
      assert.equal(0, r.code, r.err)
      local acc = {}
      for _, id in ipairs { 3001, 3002, 3003, 3005 } do acc[id] = server:account(id) end
      local w5 = acc[3005].warmup_details
      assert.same({
        "3001 olivia.hall@hypergrowth.dev",
        '  bcc: null -> "copy@example.com"',
        '  custom_tracking_url: "track.hypergrowth.dev" -> "t.example.com"',
        "  time_to_wait_in_mins: 1 -> 4",
        '3003 liam.adams@inboxwinners.com',
        '  from_name: "Liam Adams" -> "Liam A."',
        "  is_suspended: false -> true",
        "3005 " .. acc[3005].from_email,
        ("  total_warmup_per_day: %d -> 8"):format(w5.max_email_per_day),
        "  warmup_enabled: true -> false",
        "campaign 4104",
        "  attach: 3003 liam.adams@inboxwinners.com",
        "  attach: 3005 " .. acc[3005].from_email,
        "campaign 4101",
        "  detach: 3002 umar.baker@fastpipeline.co",
        "  detach: 3005 " .. acc[3005].from_email,
        "Plan: 4 accounts changed, 7 fields changed, 2 attaches, 2 detaches.",
      }, r.lines)
    end)

    it("sends reads only: the mock's log has no write and its state is unchanged", function()
      local before = server:state()
      local path = script("writes.lua", [[
        local c = require("smartlead").client()
        assert(c:update_email_account(3002, { max_email_per_day = 17 }))
        assert(c:update_warmup(3001, { warmup_enabled = false }))
        assert(c:add_campaign_email_accounts(4104, { 3003 }))
        assert(c:remove_campaign_email_accounts(4101, { 3002 }))
        local saved = assert(c:add_smtp_account { from_name = "P", from_email = "planned@example.org",
          user_name = "planned@example.org", password = "pw-planned", smtp_host = "smtp.example.org", smtp_port = 587,
          imap_host = "imap.example.org", imap_port = 993, warmup_enabled = false })
        assert(saved.planned and saved.ok)
        assert(c:reconnect_failed_email_accounts())
        assert(c:request("POST", "/email-accounts/3002", { body = { from_name = "Raw" } }))
      ]])
      local r = smartlua({ "--plan", path })
      assert.equal(0, r.code, r.err)
      local log = server:log()
      assert.is_true(#log > 0)
      assert.equal(0, writes_in(log))
      assert.same(before, server:state())
      assert.same({ "new account planned@example.org (add_smtp_account)" }, { r.lines[#r.lines - 12] })
      assert.equal("  + password: ***", r.lines[#r.lines - 7])
      assert.equal("reconnect_failed_email_accounts()", r.lines[#r.lines - 2])
      assert.equal("request POST /email-accounts/3002", r.lines[#r.lines - 1])
      assert.falsy(r.out:find("pw-planned", 1, true))
    end)

    it("still prints the plan when the script ends with os.exit(0)", function()
      local path = script("exit0.lua", [[
        assert(require("smartlead").client():update_email_account(3002, { max_email_per_day = 18 }))
        os.exit(0)
      ]])
      local r = smartlua({ "--plan", path })
      assert.equal(0, r.code, r.err)
      assert.equal("  max_email_per_day: 20 -> 18", r.lines[2])
      assert.equal(0, writes_in(server:log()))
    end)

    it("writes nothing and exits 1 when the script fails", function()
      local path = script("fails.lua", [[
        assert(require("smartlead").client():update_email_account(3002, { max_email_per_day = 18 }))
        error("boom")
      ]])
      local r = smartlua({ "--plan", path })
      assert.equal(1, r.code)
      assert.equal("", r.out)
      assert.equal("smartlua: the script failed; nothing was written", r.errlines[#r.errlines])
      assert.equal(0, writes_in(server:log()))
    end)

    it("answers like the endpoints, marked planned=true (in-process session)", function()
      local s = run.session { mode = "plan" }
      local previous = client:set_session(s)
      local ok, err = pcall(function()
        local u = assert(client:update_email_account(3002.0, { max_email_per_day = 5 }))
        assert.same({ ok = true, planned = true, message = "Email account details updated successfully!",
          email_account_id = 3002, emailAccountId = 3002 }, u)
        local a = assert(client:add_campaign_email_accounts(4104, { 3003 }))
        assert.same({ ok = true, planned = true, result = { { email_campaign_id = 4104, email_account_id = 3003 } },
          already_attached = {} }, a)
        assert.same({ ok = true, planned = true, result = 1, detached = 1 },
          assert(client:remove_campaign_email_accounts(4101, { 3002 })))
        -- misuse is not planned: it raises or is refused exactly as without the run layer
        assert.has_error(function() client:update_email_account(3002) end,
          "bad argument #2 to 'update_email_account' (table expected, got nil)")
        local none, verr = client:update_email_account(0, { max_email_per_day = 5 })
        assert.is_nil(none)
        assert.equal("validation", verr.kind)
      end)
      client:set_session(previous)
      assert(ok, err)
      assert.equal(3, #s.plan.ops)
      assert.equal(0, writes_in(server:log()))
    end)
  end)

  describe("--plan-out and apply", function()
    local PLAN_SCRIPT = [[
      local c = require("smartlead").client()
      for a in c:accounts() do
        if a.id == 3002 or a.id == 3005 or a.id == 3009 then
          assert(c:update_email_account(a.id, { max_email_per_day = a.message_per_day + 7 }))
        end
      end
      assert(c:add_campaign_email_accounts(4104, { 3003 }))
    ]]

    local function make_plan(name, text)
      local path = script(name .. ".lua", text or PLAN_SCRIPT)
      local out = tmp .. "/" .. name .. ".json"
      local r = smartlua({ "--plan-out", out, path })
      assert.equal(0, r.code, r.err)
      assert.matches("^smartlua: estimate: %d+ writes? %+ %d+ reads?", r.errlines[1])
      assert.same({ "smartlua: plan saved to " .. out .. "; apply it with: smartlua apply " .. out }, { r.errlines[2] })
      return out, r
    end

    it("saves the plan as JSON, mode 0600, that apply changes exactly those accounts with", function()
      local before = timeless(server:state())
      local out = make_plan("exact")
      local p = assert(planlib.load(out))
      assert.equal(4, #p.ops)
      local r = smartlua({ "apply", "--journal", tmp .. "/apply.jsonl", out })
      assert.equal(0, r.code, r.err)
      assert.same({ "Apply: 4 writes planned: 4 sent, 0 already done, 0 skipped, 0 failed; 4 accounts changed." },
        r.lines)
      local after = timeless(server:state())
      assert.same({ 3002, 3003, 3005, 3009 }, changed_ids(before, after))
      local old = {}
      for _, a in ipairs(before.accounts) do old[a.id] = a end
      for _, id in ipairs { 3002, 3005, 3009 } do
        assert.equal(old[id].message_per_day + 7, server:account(id).message_per_day)
      end
      assert.same({ 4101, 4104, 4106 }, server:account(3003).campaign_ids)
      -- applying again changes nothing and says so: every change is already in place (exit 0)
      r = smartlua({ "apply", "--journal", tmp .. "/apply2.jsonl", out })
      assert.equal(0, r.code, r.err)
      assert.same({ "Already applied: every change of the plan is in place; nothing was sent." }, r.lines)
      assert.same(after, timeless(server:state()))
    end)

    it("skips and reports accounts that drifted since the plan, and applies the others", function()
      local out = make_plan("drift")
      assert(client:update_email_account(3005, { max_email_per_day = 99 })) -- a change after the plan
      server:clear_log()
      local r = smartlua({ "apply", "--journal", tmp .. "/drift.jsonl", out })
      assert.equal(4, r.code)
      assert.same({
        "skipped 3005 " .. server:account(3005).from_email
          .. ": changed since the plan: max_email_per_day is 99, the plan expected "
          .. assert(planlib.load(out)).ops[2].before.max_email_per_day,
        "Apply: 4 writes planned: 3 sent, 0 already done, 1 skipped, 0 failed; 3 accounts changed.",
      }, r.lines)
      assert.equal(99, server:account(3005).message_per_day)
      local posted = {}
      for _, e in ipairs(server:log()) do
        if e.method ~= "GET" then posted[#posted + 1] = e.method .. " " .. e.path end
      end
      table.sort(posted) -- apply sends concurrently: different accounts in any order
      assert.same({ "POST /api/v1/campaigns/4104/email-accounts", "POST /api/v1/email-accounts/3002",
        "POST /api/v1/email-accounts/3009" }, posted)
    end)

    it("never writes a password to the plan file, so apply skips such saves and says why", function()
      local out = make_plan("save", [[
        assert(require("smartlead").client():add_smtp_account { from_name = "S", from_email = "saved@example.org",
          user_name = "saved@example.org", password = "pw-never-on-disk", smtp_host = "smtp.example.org",
          smtp_port = 587, imap_host = "imap.example.org", imap_port = 993, warmup_enabled = false })
      ]])
      assert.falsy(proc.read(out):find("pw-never-on-disk", 1, true))
      local p = io.popen("stat -c %a " .. q(out))
      assert.equal("600", p:read("l"))
      p:close()
      local r = smartlua({ "apply", "--journal", tmp .. "/save.jsonl", out })
      assert.equal(4, r.code)
      assert.equal("skipped: add_smtp_account saved@example.org: plan files never hold passwords or tokens; "
        .. "run the script again to add it", r.lines[1])
      assert.equal(0, writes_in(server:log()))
    end)

    it("refuses --plan-out and apply through a symbolic link, naming it; the link's target is untouched", function()
      local target = proc.write(tmp .. "/precious.json", "keep me\n")
      local link = tmp .. "/plan-link.json"
      assert(os.execute(("ln -sf %s %s"):format(q(target), q(link))))
      local r = smartlua({ "--plan-out", link, script("via-link.lua", PLAN_SCRIPT) })
      assert.equal(1, r.code)
      assert.equal("smartlua: --plan-out: " .. link .. " is a symbolic link; refusing to write through it",
        r.errlines[#r.errlines])
      assert.equal("keep me\n", proc.read(target))
      local out = make_plan("linked-to")
      assert(os.execute(("ln -sf %s %s"):format(q(out), q(link))))
      r = smartlua({ "apply", link })
      assert.equal(1, r.code)
      assert.same({ "smartlua: apply: " .. link .. " is a symbolic link; refusing to read through it" }, r.errlines)
      assert.equal(0, writes_in(server:log()))
    end)

    it("--plan-out over a file others could read makes it 0600 and says so", function()
      local out = proc.write(tmp .. "/wide-plan.json", "old\n")
      assert(os.execute("chmod 644 " .. q(out)))
      local r = smartlua({ "--plan-out", out, script("wide.lua", PLAN_SCRIPT) })
      assert.equal(0, r.code, r.err)
      assert.same({ "smartlua: --plan-out: " .. out .. " had mode 0644; tightened to 0600",
        "smartlua: plan saved to " .. out .. "; apply it with: smartlua apply " .. out },
        { r.errlines[2], r.errlines[3] })
      local p = io.popen("stat -c %a " .. q(out))
      assert.equal("600", p:read("l"))
      p:close()
      assert(planlib.load(out))
    end)

    it("refuses a file that is not a plan", function()
      local bad = proc.write(tmp .. "/not-a-plan.json", '{"x":1}')
      local r = smartlua({ "apply", bad })
      assert.equal(1, r.code)
      assert.same({ "smartlua: apply: " .. bad .. ": not a smartlua plan" }, r.errlines)
    end)
  end)

  describe("--max-changes", function()
    local THREE = [[
      local c = require("smartlead").client()
      for _, id in ipairs { 3002, 3005, 3009 } do assert(c:update_email_account(id, { max_email_per_day = 44 })) end
      print("script done")
    ]]

    it("refuses (exit 3) a run that would change more accounts, before writing anything", function()
      local before = server:state()
      local r = smartlua({ "--max-changes", "2", script("three.lua", THREE) })
      assert.equal(3, r.code)
      assert.same({ "script done" }, r.lines)
      assert.same(
        { "smartlua: refused: the run would change 3 accounts, more than --max-changes 2; nothing was written" },
        r.errlines)
      assert.equal(0, writes_in(server:log()))
      assert.same(before, server:state())
      assert.is_false(proc.exists(tmp .. "/state/smartlua"))
    end)

    it("applies the recorded plan, journaled, when the run stays within the limit", function()
      local r = smartlua({ "--max-changes", "3", "--journal", tmp .. "/within.jsonl", script("three2.lua", THREE) })
      assert.equal(0, r.code, r.err)
      assert.same({ "script done",
        "Apply: 3 writes planned: 3 sent, 0 already done, 0 skipped, 0 failed; 3 accounts changed." }, r.lines)
      assert.same({ "smartlua: journal: " .. tmp .. "/within.jsonl" }, r.errlines)
      for _, id in ipairs { 3002, 3005, 3009 } do assert.equal(44, server:account(id).message_per_day) end
      assert.equal(3, writes_in(server:log()))
    end)

    it("rejects bad values and option mixes as usage errors (exit 2)", function()
      local path = script("noop.lua", "")
      for _, args in ipairs {
        { "--max-changes", "x", path }, { "--max-changes", "-1", path }, { "--plan", "--resume", "j.jsonl", path },
        { "--max-changes" }, { "--no-journal", "--journal", "j.jsonl", path }, { "apply" }, { "undo", "a", "b" },
      } do
        local r = smartlua(args)
        assert.equal(2, r.code, table.concat(args, " ") .. ": " .. r.err)
        assert.matches("^smartlua: ", r.err)
      end
    end)
  end)

  describe("on a terminal", function()
    -- Runs cmd under a pseudo-terminal (script(1)), typing answer; nil when script(1) is missing.
    local function on_tty(cmd, answer)
      if not os.execute("command -v script >/dev/null 2>&1") then return nil end
      return proc.sh(("printf %s | script -qec %s /dev/null"):format(q(answer), q(cmd)))
    end

    local MANY = [[
      local c = require("smartlead").client()
      local n = 0
      for a in c:accounts() do
        if n < 30 then n = n + 1; assert(c:update_email_account(a.id, { max_email_per_day = 3 })) end
      end
    ]]

    local function cmd(path, extra)
      return ("env SMARTLEAD_API_KEY=%s SMARTLEAD_BASE_URL=%s XDG_STATE_HOME=%s %s %s %s"):format(
        q(support.KEY), q(server:url()), q(tmp .. "/state"), q(proc.BIN), extra or "", q(path))
    end

    it("asks before changing more than 25 accounts; anything but y writes nothing (exit 3)", function()
      local r = on_tty(cmd(script("many.lua", MANY)), "n\n")
      if not r then return pending("script(1) is not installed") end
      assert.equal(3, r.code, r.out)
      assert.truthy(r.out:find("Apply 30 changes to 30 accounts? [y/N]", 1, true), r.out)
      assert.truthy(r.out:find("declined; nothing was written", 1, true))
      assert.equal(0, writes_in(server:log()))
    end)

    it("applies after y, and --yes does not ask", function()
      local r = on_tty(cmd(script("many2.lua", MANY)), "y\n")
      if not r then return pending("script(1) is not installed") end
      assert.equal(0, r.code, r.out)
      assert.equal(30, writes_in(server:log()))
      server:reset()
      r = on_tty(cmd(script("many3.lua", MANY), "--yes"), "")
      assert.equal(0, r.code, r.out)
      assert.falsy(r.out:find("[y/N]", 1, true))
      assert.equal(30, writes_in(server:log()))
    end)
  end)
end)
