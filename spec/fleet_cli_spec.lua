-- The fleet operator's commands: campaigns list, accounts suspend|unsuspend|delete, tags
-- list|create|add|remove, stats mailboxes; every write through the run layer.
local support = require "support"
local proc = require "proc"
local json = require "smartlead.json"

local q = proc.q

describe("fleet commands", function()
  local tmp, server
  support.shared_server(function(s) server = s end)
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  local function smartlua(args) return support.smartlua(server, args, "XDG_STATE_HOME=" .. q(tmp .. "/state")) end

  local function json_out(r)
    assert.equal(0, r.code, r.err)
    return assert(json.decode(r.out))
  end

  it("campaigns list prints every campaign with its status; --status and --client-id filter", function()
    local list = json_out(smartlua { "campaigns", "list" })
    assert.equal(8, #list)
    assert.same({ 4108, "ARCHIVED" }, { list[1].id, list[1].status })
    list = json_out(smartlua { "campaigns", "list", "--status", "stopped,archived", "--fields", "id,status" })
    assert.same({ { id = 4108, status = "ARCHIVED" }, { id = 4107, status = "STOPPED" } }, list)
    smartlua { "campaigns", "list", "--client-id", "27" }
    assert.same({ api_key = "***", client_id = "27" }, support.last_request(server).query)
  end)

  it("accounts suspend and unsuspend take several ids; undo unsuspends only what the run suspended", function()
    local journal = tmp .. "/suspend.jsonl"
    local out = json_out(smartlua { "accounts", "suspend", "3001", "3083", "--journal", journal })
    assert.same({ "suspended", "suspended" }, { out[1].status, out[2].status })
    assert.is_true(server:account(3001).is_suspended)
    local r = smartlua { "undo", journal }
    assert.equal(0, r.code, r.out .. r.err)
    assert.is_false(server:account(3001).is_suspended)
    assert.is_true(server:account(3083).is_suspended) -- suspended before the run
    out = json_out(smartlua { "accounts", "unsuspend", "3083" })
    assert.equal("unsuspended", out[1].status)
    assert.is_false(server:account(3083).is_suspended)
  end)

  it("accounts delete is refused without a terminal unless --yes, and --plan sends nothing", function()
    local r = smartlua { "accounts", "delete", "3250" }
    assert.equal(3, r.code)
    assert.matches("NOT_CONFIRMED", r.err)
    r = smartlua { "--plan", "accounts", "delete", "3250" }
    assert.equal(0, r.code, r.err)
    assert.matches("DELETE account 3250 %S+ %(delete_email_account%): cannot be undone", r.out)
    assert.is_nil(server:account(3250).deleted)
    local out = json_out(smartlua { "accounts", "delete", "3250", "--yes" })
    assert.same({ email_account_id = 3250, status = "deleted", message = "Email account deleted successfully!" },
      out[1])
    assert.is_true(server:account(3250).deleted)
    r = smartlua { "accounts", "delete", "nope" }
    assert.equal(2, r.code)
  end)

  it("tags create, add, list and remove, undone by smartlua undo", function()
    local tag = json_out(smartlua { "tags", "create", "--name", "Pool B", "--color", "#0A0B0C" })[1]
    assert.same({ "Pool B", "#0A0B0C" }, { tag.name, tag.color })
    local ids = support.own_ids(server:state(), 30)
    local words = {}
    for i, id in ipairs(ids) do words[i] = tostring(id) end
    local journal = tmp .. "/tags.jsonl"
    local r = proc.sh(("printf '%%s\\n' %s | env SMARTLEAD_API_KEY=%s SMARTLEAD_BASE_URL=%s "
        .. "XDG_STATE_HOME=%s %s tags add %d --ids - --journal %s")
      :format(table.concat(words, " "), q(support.KEY), q(server:url()), q(tmp .. "/state"), q(proc.BIN), tag.id,
        q(journal)))
    assert.equal(0, r.code, r.err)
    assert.equal(30, #assert(json.decode(r.out)))
    local list = json_out(smartlua { "tags", "list" })
    local seen
    for _, t in ipairs(list) do
      if t.id == tag.id then seen = t end
    end
    assert.same({ tag.id, "Pool B", 30 }, { seen.id, seen.name, seen.accounts })
    r = smartlua { "undo", journal }
    assert.equal(0, r.code, r.out .. r.err)
    for _, t in ipairs(json_out(smartlua { "tags", "list" })) do assert.are_not.equal(tag.id, t.id) end
    local out = json_out(smartlua { "tags", "remove", "501", "--ids", "3001,3002" })
    assert.equal(2, #out)
    r = smartlua { "tags", "add", "--ids", "3001" }
    assert.equal(2, r.code)
  end)

  it("stats mailboxes pages through a campaign's mailboxes with rates and health", function()
    local rows = json_out(smartlua { "stats", "mailboxes", "4103", "--start-date", "2024-01-01",
      "--end-date", "2035-01-01" })
    assert.equal(25, #rows)
    local sick = 0
    for _, r in ipairs(rows) do
      assert.equal("integer", math.type(r.sent_count))
      if r.health == "sick" then
        sick = sick + 1
        assert.is_true(r.bounce_rate > 5)
      end
    end
    assert.is_true(sick > 0)
    local r = smartlua { "stats", "mailboxes", "4101", "--start-date", "2024/01/01" }
    assert.equal(2, r.code)
  end)
end)
