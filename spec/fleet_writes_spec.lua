-- The fleet operator's writes through the run layer, as `smartlua` runs a script: --plan sends
-- none of them, a journaled run is undone by `smartlua undo` (tags, suspension, attachments back
-- as they were, an account suspended before the run left suspended), a delete is refused without
-- confirmation and reported, never undone, by undo.
local support = require "support"
local proc = require "proc"
local json = require "smartlead.json"

local q = proc.q

local function writes_in(log)
  local n = 0
  for _, e in ipairs(log) do
    if e.method ~= "GET" and not e.path:find("/tag%-list") then n = n + 1 end
  end
  return n
end

-- What undo should put back, per account: suspension, tag ids, campaigns.
local function snapshot(state)
  local out = {}
  for _, a in ipairs(state.accounts) do
    local tags = {}
    for i, t in ipairs(a.tags) do tags[i] = t.id end
    table.sort(tags)
    out[a.id] = json.encode { a.is_suspended == true, tags, a.campaign_ids, a.deleted == true }
  end
  return out
end

local function differing(before, after)
  local ids = {}
  for id, v in pairs(after) do
    if before[id] ~= v then ids[#ids + 1] = id end
  end
  table.sort(ids)
  return ids
end

-- Every write method of the registry, once (the delete last).
local EVERY_WRITE = [[
local c = require("smartlead").client()
local function say(name, a, err) print(name, a and "ok" or tostring(err)) end
say("update", c:update_email_account(3002, { max_email_per_day = 21 }))
say("warmup", c:update_warmup(3002, { warmup_enabled = true, warmup_key_id = 12, auto_adjust_warmup = true }))
say("save", c:add_smtp_account { from_name = "New", from_email = "new.box@planned.io", user_name = "new.box@planned.io",
  password = "pw-planned-1", smtp_host = "smtp.planned.io", smtp_port = 587, imap_host = "imap.planned.io",
  imap_port = 993, warmup_enabled = false })
say("oauth", c:add_oauth_account { from_name = "O", from_email = "o.box@planned.io", username = "o.box@planned.io",
  type = "GMAIL", token = { token_type = "Bearer", scope = "https://mail.google.com/", access_token = "at-1",
  refresh_token = "rt-1" }, warmup_enabled = false, use_whitelabel_credentials = false })
say("attach", c:add_campaign_email_accounts(4102, { 3002, 3003 }, { auto_adjust_warmup = true }))
say("detach", c:remove_campaign_email_accounts(4103, { 3032, 3035 }))
say("suspend", c:suspend_email_account(3001))
say("suspend again", c:suspend_email_account(3083))
say("unsuspend", c:unsuspend_email_account(3002))
say("tag", c:create_tag { name = "Planned", color = "#101010" })
say("retag", c:update_tag { id = 502, name = "Warming up", color = "#FF9800" })
local ids = {}
for _, a in ipairs(assert(c:get_email_accounts { limit = 30 })) do ids[#ids + 1] = a.id end
say("map", c:add_email_account_tags(ids, { 505 }))
say("unmap", c:remove_email_account_tags({ 3002, 3003 }, { 501, 503 }))
say("lead", c:update_lead_email_account { email_account_id = 3001, email_campaign_id = 4101, email_lead_id = 5 })
say("reconnect", c:reconnect_failed_email_accounts())
say("tags of", c:get_email_account_tags { "olivia.hall@hypergrowth.dev" })
say("delete", c:delete_email_account(3250))
]]

describe("fleet writes through the run layer", function()
  local tmp, server
  support.shared_server(function(s) server = s end)
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  local function smartlua(args) return support.smartlua(server, args, "XDG_STATE_HOME=" .. q(tmp .. "/state")) end

  it("covers every write of the registry", function()
    local names = {}
    for _, row in ipairs(require("smartlead").operations()) do
      if row.kind ~= "read" then names[#names + 1] = row.name end
    end
    for _, name in ipairs(names) do assert.truthy(EVERY_WRITE:find("c:" .. name .. "[%s%(]"), name) end
  end)

  it("--plan sends no write, and says what each would do", function()
    local path = proc.write(tmp .. "/every.lua", EVERY_WRITE)
    local r = smartlua { "--plan", path }
    assert.equal(0, r.code, r.err)
    assert.equal(0, writes_in(server:log()))
    local reads = 0
    for _, e in ipairs(server:log()) do
      if e.path:find("/tag%-list") then reads = reads + 1 end
    end
    assert.equal(1, reads) -- the POST that reads went out
    for _, want in ipairs {
      "DELETE account 3250 ", "cannot be undone",
      "suspend_email_account account 3001 ",
      "suspend_email_account account 3083 %S+ %(is_suspended is already true: no change%)",
      "unsuspend_email_account account 3002 %S+ %(is_suspended is already false: no change%)",
      "add_email_account_tags tags %[505%] on 25 accounts", "add_email_account_tags tags %[505%] on 5 accounts",
      "remove_email_account_tags tags %[501, 503%] on 2 accounts",
      "update_tag {", "update_lead_email_account {", "new %(create_tag%)",
      "campaign 4102\n  attach: 3002 ", "campaign 4103\n  detach: 3032 ",
    } do
      assert.matches(want, r.out)
    end
  end)

  it("undo puts suspension, tags and attachments back; an account suspended before stays suspended", function()
    local before = snapshot(server:state())
    local path = proc.write(tmp .. "/every.lua", EVERY_WRITE)
    local journal = tmp .. "/run.jsonl"
    local r = smartlua { "--journal", journal, path }
    assert.equal(3, r.code, r.err .. r.out) -- refused: the delete was not confirmed
    assert.matches("delete\trun NOT_CONFIRMED error: delete_email_account would delete account 3250", r.out)
    assert.matches("1 delete refused: not confirmed", r.err)
    local mid = server:state()
    assert.is_nil(mid.accounts[1].deleted)
    local changed = differing(before, snapshot(mid))
    assert.is_true(#changed >= 30, #changed)
    r = smartlua { "undo", journal }
    assert.matches("nothing to undo for journal #%d+: 3083 %S+ had is_suspended = true before", r.out)
    assert.matches("undid journal #%d+: unsuspend_email_account 3001 ", r.out)
    assert.matches("removed tag 505 from ", r.out)
    assert.matches("re%-attached 3032, 3035 to campaign 4103", r.out)
    assert.matches("detached 3002, 3003 from campaign 4102", r.out)
    assert.matches("cannot undo journal #%d+: create_tag created id %d+ %(Planned%)", r.out)
    local after = snapshot(server:state())
    -- every account as it was; what undo cannot touch is the two saved accounts (reported above)
    local new = differing(before, after)
    assert.equal(2, #new)
    for _, id in ipairs(new) do assert.is_nil(before[id]) end
    local s = server:state()
    for _, a in ipairs(s.accounts) do
      if a.id == 3083 then assert.is_true(a.is_suspended) end
    end
  end)

  it("a delete goes through with --yes; undo reports it and does not bring the account back", function()
    local path = proc.write(tmp .. "/delete.lua", [[
      local c = require("smartlead").client()
      print(assert(c:delete_email_account(3250)).message)
    ]])
    local journal = tmp .. "/delete.jsonl"
    local r = smartlua { "--journal", journal, path }
    assert.matches("NOT_CONFIRMED error: delete_email_account would delete account 3250, which cannot be undone", r.err)
    assert.is_nil(server:account(3250).deleted)
    r = smartlua { "--yes", "--journal", journal .. "2", path }
    assert.equal(0, r.code, r.err)
    assert.is_true(server:account(3250).deleted)
    r = smartlua { "undo", journal .. "2" }
    assert.matches("cannot undo journal #1: delete_email_account[^\n]*: a delete cannot be undone", r.out)
    assert.is_true(server:account(3250).deleted)
    assert.equal(4, r.code)
  end)
end)
