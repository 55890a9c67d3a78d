-- The operation registry: every row listed with its kind, and rows of every write kind added at
-- test time (smartlead.define_operation, nothing else edited) planned, journaled, undone or
-- refused as their kind says, through the real binary against the mock.
local smartlead = require "smartlead"
local json = require "smartlead.json"
local journal = require "smartlead.journal"
local support = require "support"
local proc = require "proc"
local q = proc.q

local writes_in = support.writes_in

local function records_of(path)
  local out = {}
  for l in (proc.read(path) or ""):gmatch("[^\n]+") do out[#out + 1] = json.decode(l) end
  return out
end

local function intents(path)
  local out = {}
  for _, r in ipairs(records_of(path)) do
    if r.type == "intent" then out[#out + 1] = r end
  end
  return out
end

-- The test-only rows, defined by the script itself (a fresh smartlua process knows only the
-- built-in rows): one of each write kind, on endpoints the mock serves where it must answer.
local DEFINE = [[
local sl = require "smartlead"
sl.define_operation { name = "test_set_limit", method = "POST", path = "/email-accounts/{id}",
  id_name = "email_account_id", kind = "set", fields = { { name = "max_email_per_day", type = "uint" } } }
sl.define_operation { name = "test_attach", method = "POST", path = "/campaigns/{id}/email-accounts",
  id_name = "campaign_id", arg = "ids", kind = "relation", inverse = "test_detach" }
sl.define_operation { name = "test_detach", method = "DELETE", path = "/campaigns/{id}/email-accounts",
  id_name = "campaign_id", arg = "ids", kind = "relation", inverse = "test_attach", removes = true }
local save_fields = {}
for i, f in ipairs(sl.operations()) do
  if f.name == "add_smtp_account" then save_fields = f.fields end
end
sl.define_operation { name = "test_save", method = "POST", path = "/email-accounts/save", kind = "create",
  fields = save_fields, lookup = "get_email_account_by_email", lookup_key = "from_email" }
sl.define_operation { name = "test_delete", method = "DELETE", path = "/email-accounts/{id}",
  id_name = "email_account_id", kind = "delete" }
sl.define_operation { name = "test_reconnect", method = "POST",
  path = "/email-accounts/reconnect-failed-email-accounts", kind = "action" }
local c = sl.client()
]]

describe("the operation registry", function()
  local tmp, server, client
  support.shared_server(function(s, c) server, client = s, c end)
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  local function env(extra)
    return ("env SMARTLEAD_API_KEY=%s SMARTLEAD_BASE_URL=%s XDG_STATE_HOME=%s %s"):format(
      q(support.KEY), q(server:url()), q(tmp .. "/xdg"), extra or "")
  end

  local function run(name, body, args)
    local script = proc.write(tmp .. "/" .. name .. ".lua", DEFINE .. body)
    return proc.sh(env() .. " " .. q(proc.BIN) .. " " .. (args or "") .. " " .. q(script))
  end

  it("lists every operation with its kind, and every relation's inverse points back", function()
    local ops, by_name = smartlead.operations(), {}
    for _, row in ipairs(ops) do by_name[row.name] = row end
    for _, row in ipairs(ops) do
      assert.is_string(row.method, row.name)
      assert.matches("^/", row.path)
      assert.truthy(({ read = 1, set = 1, create = 1, relation = 1, delete = 1, action = 1 })[row.kind], row.name)
      assert.is_function(client[row.name], row.name)
      assert.is_function(row.call)
      for _, f in ipairs(row.fields) do
        assert.is_string(f.name)
        assert.is_string(f.type)
        if f.type == "enum" then assert.is_true(#f.enum > 0, row.name .. "." .. f.name) end
      end
      if row.kind == "relation" then
        local inv = by_name[row.inverse]
        assert.is_table(inv, row.name .. " has no inverse row")
        assert.equal(row.name, inv.inverse)
        assert.not_equal(row.removes, inv.removes)
      end
    end
    assert.equal("set", by_name.update_email_account.kind)
    assert.equal("create", by_name.add_smtp_account.kind)
    assert.equal("remove_campaign_email_accounts", by_name.add_campaign_email_accounts.inverse)
    assert.equal("action", by_name.reconnect_failed_email_accounts.kind)
  end)

  it("refuses a definition that is not one: bad kind, clash, path without its id", function()
    assert.has_error(
      function() smartlead.define_operation { name = "x1", method = "POST", path = "/a", kind = "wipe" } end,
      "define_operation: kind: unknown value 'wipe'")
    assert.has_error(function()
      smartlead.define_operation { name = "update_email_account", method = "POST", path = "/a", kind = "set" }
    end, "define_operation: 'update_email_account' is already a Client method")
    assert.has_error(function()
      smartlead.define_operation { name = "x2", method = "POST", path = "/a/{id}", kind = "set" }
    end, "define_operation: a path with {id} needs id_name, and id_name needs {id} in the path")
    assert.has_error(
      function() smartlead.define_operation { name = "x3", method = "BREW", path = "/a", kind = "set" } end,
      "define_operation: method: unknown value 'BREW'")
  end)

  it("plans a test-only write of every kind under --plan, for real, and sends none of them", function()
    local r = run("plan_all", [[
      assert(c:test_set_limit(3002, { max_email_per_day = 7 }))
      assert(c:test_attach(4104, { 3003 }))
      assert(c:test_detach(4101, { 3002 }))
      assert(c:test_save { from_name = "T", from_email = "test.save@example.org", user_name = "test.save@example.org",
        password = "pw-test-save", smtp_host = "smtp.example.org", smtp_port = 587, imap_host = "imap.example.org",
        imap_port = 993, warmup_enabled = false })
      assert(c:test_delete(3005))
      assert(c:test_reconnect())
      -- the C checks of the row run first: a refused write is neither planned nor sent
      local bad, err = c:test_set_limit(3002, { max_email_per_day = -1 })
      assert(bad == nil and err.kind == "validation", tostring(err))
    ]], "--plan")
    assert.equal(0, r.code, r.err)
    assert.equal(0, writes_in(server:log()))
    local out = r.out
    assert.truthy(out:find("max_email_per_day: 20 -> 7", 1, true), out)
    assert.truthy(out:find("campaign 4104\n  attach: 3003", 1, true), out)
    assert.truthy(out:find("campaign 4101\n  detach: 3002", 1, true), out)
    assert.truthy(out:find("new account test.save@example.org (test_save)", 1, true), out)
    assert.truthy(out:find("DELETE account 3005 " .. server:account(3005).from_email
      .. " (test_delete): cannot be undone", 1, true), out)
    assert.truthy(out:find("test_reconnect()", 1, true), out)
    assert.truthy(out:find("1 delete (cannot be undone)", 1, true), out)
    assert.falsy(out:find("pw-test-save", 1, true))
  end)

  it("journals test-only set and relation writes, and `smartlua undo` (which does not know them) "
    .. "undoes them", function()
    local before = server:state()
    local path = tmp .. "/j.jsonl"
    local r = run("journal_all", [[
      assert(c:test_set_limit(3002, { max_email_per_day = 9 }))
      assert(c:test_attach(4104, { 3003 }))
      assert(c:test_detach(4101, { 3002 }))
    ]], "--journal " .. q(path))
    assert.equal(0, r.code, r.err)
    local ins = intents(path)
    assert.same({ "set", "relation", "relation" }, { ins[1].kind, ins[2].kind, ins[3].kind })
    assert.same({ max_email_per_day = 20 }, ins[1].before)
    assert.same({ op = "test_detach", method = "DELETE", path = "/campaigns/4104/email-accounts" }, ins[2].inverse)
    assert.equal(9, server:account(3002).message_per_day)

    local u = proc.sh(env() .. " " .. q(proc.BIN) .. " undo " .. q(path))
    assert.equal(0, u.code, u.out .. u.err)
    assert.truthy(u.out:find("restored 3002", 1, true), u.out)
    assert.truthy(u.out:find("detached 3003 from campaign 4104", 1, true), u.out)
    assert.truthy(u.out:find("re-attached 3002 to campaign 4101", 1, true), u.out)
    local after = server:state()
    for _, a in ipairs(before.accounts) do a.updated_at = nil end
    for _, a in ipairs(after.accounts) do a.updated_at = nil end
    assert.same(before, after)
  end)

  it("reports test-only creates and actions as not undoable, by their kind", function()
    local path = tmp .. "/j2.jsonl"
    local r = run("create_action", [[
      assert(c:test_save { from_name = "T", from_email = "kind.create@example.org",
        user_name = "kind.create@example.org",
        password = "pw-kind", smtp_host = "smtp.example.org", smtp_port = 587, imap_host = "imap.example.org",
        imap_port = 993, warmup_enabled = false })
      assert(c:test_reconnect())
    ]], "--journal " .. q(path))
    assert.equal(0, r.code, r.err)
    local ins = intents(path)
    assert.same({ "create", "action" }, { ins[1].kind, ins[2].kind })
    assert.equal("***", ins[1].fields.password)
    local u = proc.sh(env() .. " " .. q(proc.BIN) .. " undo " .. q(path))
    assert.equal(4, u.code, u.out .. u.err)
    assert.truthy(u.out:find("cannot undo journal #2: test_reconnect", 1, true), u.out)
    assert.truthy(u.out:find("cannot undo journal #1: test_save created kind.create@example.org", 1, true), u.out)
    assert.truthy(u.out:find("2 cannot be undone", 1, true), u.out)
  end)

  it("refuses a test-only delete without confirmation (no terminal, no --yes): nothing sent, exit 3", function()
    local log_before = #server:log()
    local r = run("delete_cron", [[
      local ok, err = c:test_delete(3005)
      assert(ok == nil and err.code == "NOT_CONFIRMED", tostring(err))
      io.stdout:write(err.message, "\n")
    ]])
    assert.equal(3, r.code, r.err)
    assert.truthy(r.out:find("would delete account 3005, which cannot be undone", 1, true), r.out)
    assert.truthy(r.err:find("1 delete refused: not confirmed", 1, true), r.err)
    for i = log_before + 1, #server:log() do assert.equal("GET", server:log()[i].method) end
  end)

  it("reads a journal whose op the process does not know only when it names its method and path", function()
    local rec = { type = "intent", seq = 1, op = "nobody_knows", target = {}, fields = {} }
    local ok, why = journal.check_op(rec)
    assert.is_nil(ok)
    assert.matches('unknown op "nobody_knows"', why)
    rec.method, rec.path, rec.kind = "POST", "/email-accounts/1", "set"
    assert.is_true(journal.check_op(rec))
    rec.kind = "read"
    assert.matches("not a kind of write", select(2, journal.check_op(rec)))
  end)
end)
