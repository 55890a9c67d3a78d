-- The fleet operator's operations against the mock over real HTTP: for each, the request the
-- server received (method, path, names) and the state it ended in, and every documented answer
-- shape read the same way.
local support = require "support"
local smartlead = require "smartlead"
local json = smartlead.json

local function campaign(server, id)
  for _, c in ipairs(server:state().campaigns) do
    if c.id == id then return c end
  end
end

local function tag_ids(acc)
  local out = {}
  for i, t in ipairs(acc.tags) do out[i] = t.id end
  table.sort(out)
  return out
end

local function has(list, x)
  for _, v in ipairs(list) do
    if v == x then return true end
  end
  return false
end

describe("fleet operations over HTTP", function()
  local server, client

  support.shared_server(function(s, c) server, client = s, c end)

  describe("delete_email_account", function()
    it("sends DELETE /email-accounts/{id}; the account leaves lists and campaigns and answers 404 after", function()
      assert.is_true(has(campaign(server, 4101).email_account_ids, 3003))
      local res = assert(client:delete_email_account(3003))
      local req = support.last_request(server)
      assert.same({ "DELETE", "/api/v1/email-accounts/3003", { api_key = "***" } }, { req.method, req.path, req.query })
      assert.same({ true, 3003, "Email account deleted successfully!" }, { res.ok, res.email_account_id, res.message })
      assert.is_true(server:account(3003).deleted)
      assert.is_false(has(campaign(server, 4101).email_account_ids, 3003))
      for _, a in ipairs(assert(client:all_accounts())) do assert.are_not.equal(3003, a.id) end
      local none, err = client:get_email_account(3003)
      assert.is_nil(none)
      assert.equal(404, err.status)
      none, err = client:delete_email_account(3003)
      assert.is_nil(none)
      assert.same({ 404, "ACCOUNT_NOT_FOUND", 3003 }, { err.status, err.code, err.email_account_id })
    end)
  end)

  describe("suspend_email_account and unsuspend_email_account", function()
    it("send PUT /email-accounts/suspend/{id} and DELETE /email-accounts/unsuspend/{id} with no body", function()
      local res = assert(client:suspend_email_account(3001))
      local req = support.last_request(server)
      assert.same({ "PUT", "/api/v1/email-accounts/suspend/3001" }, { req.method, req.path })
      assert.same({ accountId = 3001, isSuspended = true }, res.data)
      assert.is_true(server:account(3001).is_suspended)
      assert.is_true(assert(client:get_email_account(3001)).is_suspended)
      -- the account stays in its campaigns
      assert.is_true(has(campaign(server, 4101).email_account_ids, 3001))
      res = assert(client:unsuspend_email_account(3001))
      req = support.last_request(server)
      assert.same({ "DELETE", "/api/v1/email-accounts/unsuspend/3001" }, { req.method, req.path })
      assert.is_false(res.data.isSuspended)
      assert.is_false(server:account(3001).is_suspended)
    end)

    it("read a 400 {success:false} as a failure", function()
      local none, err = client:suspend_email_account(999999)
      assert.is_nil(none)
      assert.same({ 400, "Email account not found or does not belong to you" }, { err.status, err.message })
    end)
  end)

  describe("get_campaigns and get_campaign", function()
    it("list every campaign newest first with status and schedule; client_id and include_tags go as named", function()
      local list = assert(client:get_campaigns())
      local req = support.last_request(server)
      assert.same({ "GET", "/api/v1/campaigns/", { api_key = "***" } }, { req.method, req.path, req.query })
      assert.is_true(#list >= 8)
      for i = 2, #list do assert.is_true(list[i - 1].id > list[i].id) end
      local statuses = {}
      for _, c in ipairs(list) do
        statuses[c.status] = true
        assert.equal("integer", math.type(c.id))
        assert.equal("table", type(c.scheduler_cron_value))
        assert.is_nil(c.tags)
      end
      for _, s in ipairs { "ACTIVE", "PAUSED", "STOPPED", "ARCHIVED", "DRAFTED" } do assert.is_true(statuses[s], s) end
      list = assert(client:get_campaigns { client_id = 27, include_tags = true })
      req = support.last_request(server)
      assert.same({ api_key = "***", client_id = "27", include_tags = "true" }, req.query)
      for _, c in ipairs(list) do
        assert.equal(27, c.client_id)
        assert.is_true(json.is_array(c.tags))
      end
    end)

    it("reads the campaign list in the envelope its field table documents", function()
      server:configure { answer_envelope = "data" }
      local list = assert(client:get_campaigns())
      assert.equal(4108, list[1].id)
    end)

    it("answer the campaign object itself, bare or in {success, data}", function()
      local c = assert(client:get_campaign(4107))
      assert.equal("/api/v1/campaigns/4107", support.last_request(server).path)
      assert.same({ 4107, "STOPPED" }, { c.id, c.status })
      server:configure { answer_envelope = "data" }
      local d = assert(client:get_campaign(4107, { include_tags = true }))
      assert.same({ 4107, "STOPPED" }, { d.id, d.status })
      assert.is_nil(d.success)
      local none, err = client:get_campaign(9999)
      assert.is_nil(none)
      assert.equal(404, err.status)
    end)
  end)

  describe("get_campaign_email_accounts with options", function()
    it("sends include_tags and reads the bare array and the {ok, data} envelope alike", function()
      local bare = assert(client:get_campaign_email_accounts(4101, { include_tags = true }))
      assert.same({ api_key = "***", include_tags = "true" }, support.last_request(server).query)
      assert.is_true(json.is_array(bare[1].tags))
      server:configure { answer_envelope = "data" }
      local wrapped = assert(client:get_campaign_email_accounts(4101))
      assert.equal(#bare, #wrapped)
      assert.equal(bare[1].id, wrapped[1].id)
      assert.is_nil(wrapped[1].tags)
    end)
  end)

  describe("get_mailbox_statistics", function()
    it("sends offset, limit, dates, time_zone and client_id; counts come back as integers", function()
      local page = assert(client:get_mailbox_statistics(4101, { offset = 0, limit = 5, start_date = "2024-01-01",
        end_date = "2030-12-31", time_zone = "America/New_York" }))
      local req = support.last_request(server)
      assert.same({ "GET", "/api/v1/campaigns/4101/mailbox-statistics" }, { req.method, req.path })
      assert.same({ api_key = "***", offset = "0", limit = "5", start_date = "2024-01-01", end_date = "2030-12-31",
        time_zone = "America/New_York" }, req.query)
      assert.equal(5, #page)
      local odd = false
      for _, r in ipairs(page) do
        for _, k in ipairs { "email_account_id", "sent_count", "open_count", "click_count", "reply_count",
                             "bounce_count" } do
          assert.equal("integer", math.type(r[k]), k)
        end
        odd = odd or r.email_account_id % 2 == 1 -- the mock answers these counts as strings
      end
      assert.is_true(odd)
    end)

    it("refuses limit over 20 and dates not YYYY-MM-DD before sending", function()
      local n = #server:log()
      local none, err = client:get_mailbox_statistics(4101, { limit = 21 })
      assert.is_nil(none)
      assert.same({ "validation", "limit" }, { err.kind, err.field })
      err = select(2, client:get_mailbox_statistics(4101, { start_date = "01/02/2024" }))
      assert.same({ "validation", "start_date" }, { err.kind, err.field })
      assert.equal(n, #server:log())
    end)

    it("client:mailbox_statistics pages through every mailbox 20 at a time", function()
      local rows = assert(client:mailbox_statistics(4101))
      assert.equal(#campaign(server, 4101).email_account_ids, #rows)
      local offsets = {}
      for _, r in ipairs(server:log()) do
        if r.path:find("mailbox-statistics", 1, true) then
          offsets[#offsets + 1] = r.query.offset .. "/" .. r.query.limit
        end
      end
      assert.same({ "0/20", "20/20", "40/20" }, offsets)
    end)
  end)

  describe("create_tag and update_tag", function()
    it("POST /tags {name, color} answers the tag; tag-manager renames it everywhere", function()
      local tag = assert(client:create_tag { name = "Cold pool", color = "#AABBCC" })
      local req = support.last_request(server)
      assert.same({ "POST", "/api/v1/tags", { name = "Cold pool", color = "#AABBCC" } },
        { req.method, req.path, req.body })
      assert.same({ "Cold pool", "#AABBCC" }, { tag.name, tag.color })
      assert.equal("integer", math.type(tag.id))
      local upd = assert(client:update_tag { id = 501, name = "Primary senders", color = "#000000" })
      req = support.last_request(server)
      assert.same({ "POST", "/api/v1/email-accounts/tag-manager",
          { id = 501, name = "Primary senders", color = "#000000" } },
        { req.method, req.path, req.body })
      assert.same({ 501, "Primary senders" }, { upd.id, upd.name })
      for _, a in ipairs(server:state().accounts) do
        for _, t in ipairs(a.tags) do
          if t.id == 501 then assert.equal("Primary senders", t.name) end
        end
      end
    end)

    it("refuses a tag without a name or with a bad color before sending", function()
      local none, err = client:create_tag { color = "#123456" }
      assert.is_nil(none)
      assert.same({ "validation", "name" }, { err.kind, err.field })
      err = select(2, client:update_tag { id = 501, name = "x" })
      assert.same({ "validation", "color" }, { err.kind, err.field })
    end)
  end)

  describe("add_email_account_tags and remove_email_account_tags", function()
    it("send {email_account_ids, tag_ids} to POST and DELETE /email-accounts/tag-mapping", function()
      local res = assert(client:add_email_account_tags({ 3001, 3002 }, { 502, 503 }))
      local req = support.last_request(server)
      assert.same({ "POST", "/api/v1/email-accounts/tag-mapping",
          { email_account_ids = { 3001, 3002 }, tag_ids = { 502, 503 } } },
        { req.method, req.path, req.body })
      assert.equal("Tags assigned successfully", res.message)
      assert.is_true(has(tag_ids(server:account(3001)), 502) and has(tag_ids(server:account(3002)), 503))
      assert(client:remove_email_account_tags({ 3001 }, { 502 }))
      req = support.last_request(server)
      assert.same({ "DELETE", "/api/v1/email-accounts/tag-mapping" }, { req.method, req.path })
      assert.is_false(has(tag_ids(server:account(3001)), 502))
      assert.is_true(has(tag_ids(server:account(3001)), 503))
    end)

    it("splits a list over 25 ids into requests of at most 25, each checked before any is sent", function()
      local ids = support.own_ids(server:state(), 60)
      local n = #server:log()
      local bad = { table.unpack(ids) }
      bad[55] = -1
      local none, err = client:add_email_account_tags(bad, { 504 })
      assert.is_nil(none)
      assert.equal("validation", err.kind)
      assert.equal(n, #server:log()) -- nothing went out
      local res = assert(client:add_email_account_tags(ids, { 504 }))
      assert.equal(3, res.parts)
      local sizes = {}
      for _, r in ipairs(server:log()) do
        if r.path:find("tag-mapping", 1, true) then sizes[#sizes + 1] = #r.body.email_account_ids end
      end
      assert.same({ 25, 25, 10 }, sizes)
      for _, id in ipairs(ids) do assert.is_true(has(tag_ids(server:account(id)), 504), id) end
    end)
  end)

  describe("get_email_account_tags", function()
    it("POSTs {email_ids} and reads {ok, data: [...]}", function()
      local a = server:account(3001)
      local list = assert(client:get_email_account_tags { a.from_email, "nobody@nowhere.example" })
      local req = support.last_request(server)
      assert.same({ "POST", "/api/v1/email-accounts/tag-list",
          { email_ids = { a.from_email, "nobody@nowhere.example" } } },
        { req.method, req.path, req.body })
      assert.equal(1, #list)
      assert.same({ 3001, a.from_email }, { list[1].email_account_id, list[1].from_email })
      assert.is_true(json.is_array(list[1].tags))
    end)
  end)

  describe("update_lead_email_account", function()
    it("POSTs the lead, campaign and account; the lead's sender changes", function()
      local res = assert(client:update_lead_email_account { email_account_id = 3002, email_campaign_id = 4101,
        email_lead_id = 9001, override_lead_email_account = true })
      local req = support.last_request(server)
      assert.same({ "POST", "/api/v1/campaigns/update-lead-email-account",
        { email_account_id = 3002, email_campaign_id = 4101, email_lead_id = 9001,
          override_lead_email_account = true } },
        { req.method, req.path, req.body })
      assert.is_true(res.success)
      assert.same({ { email_campaign_id = 4101, email_lead_id = 9001, email_account_id = 3002 } },
        server:state().lead_senders)
    end)
  end)

  describe("options tables", function()
    it("add_campaign_email_accounts(cid, ids, {auto_adjust_warmup = true}) sends it beside the ids", function()
      assert(client:add_campaign_email_accounts(4104, { 3001 }, { auto_adjust_warmup = true }))
      local req = support.last_request(server)
      assert.same({ email_account_ids = { 3001 }, auto_adjust_warmup = true }, req.body)
      assert.is_true(campaign(server, 4104).auto_adjust_warmup)
      local none, err = client:add_campaign_email_accounts(4104, { 3002 }, { auto_adjust_warmups = true })
      assert.is_nil(none)
      assert.matches('did you mean "auto_adjust_warmup"', err.message, 1, true)
    end)

    it("remove_campaign_email_accounts answers {detached = N}, 0 when none was attached", function()
      local res = assert(client:remove_campaign_email_accounts(4103, { 3032, 3001 }))
      assert.equal(1, res.detached)
      res = assert(client:remove_campaign_email_accounts(4103, { 3001 }))
      assert.equal(0, res.detached)
    end)

    it("under a run, an attach says which ids were there already and a detach which were not", function()
      local run = require "smartlead.run"
      local dir = require("proc").mktemp()
      local s = run.session { mode = "journal", journal = dir .. "/j.jsonl" }
      local previous = client:set_session(s)
      local a = client:add_campaign_email_accounts(4102, { 3209, 3001 })
      local d = client:remove_campaign_email_accounts(4103, { 3032, 3001 })
      client:set_session(previous)
      s.journal:close()
      require("proc").rmtree(dir)
      assert.same({ 3209 }, assert(a).already_attached)
      assert.same({ 3001 }, assert(d).not_attached)
      assert.equal(1, d.detached)
    end)
  end)

  describe("update_warmup", function()
    it("takes warmup_key_id as a string or a number, auto_adjust_warmup and is_rampup_enabled, no minimums", function()
      assert(client:update_warmup(3001, { warmup_enabled = true, warmup_key_id = 1001, auto_adjust_warmup = true,
        is_rampup_enabled = false, daily_rampup = 2 }))
      assert.same({ warmup_enabled = true, warmup_key_id = 1001, auto_adjust_warmup = true, is_rampup_enabled = false,
        daily_rampup = 2 }, support.last_request(server).body)
      local w = server:account(3001).warmup_details
      assert.same({ 1001, true, false }, { w.warmup_key_id, w.auto_adjust_warmup, w.is_rampup_enabled })
      assert(client:update_warmup(3001, { warmup_enabled = true, warmup_key_id = "apple-juice" }))
      assert.equal("apple-juice", server:account(3001).warmup_details.warmup_key_id)
    end)
  end)

  describe("warmup blocked", function()
    it("shows is_warmup_blocked only on the single read; "
        .. "the list filter finds blocked accounts without a reason", function()
      local blocked = assert(client:all_accounts { is_warmup_blocked = true })
      local quiet
      for _, a in ipairs(blocked) do
        assert.is_nil(a.warmup_details.is_warmup_blocked)
        if a.warmup_details.blocked_reason == json.null then quiet = a end
      end
      assert.truthy(quiet, "a blocked account without a reason")
      local one = assert(client:get_email_account(quiet.id))
      assert.is_true(one.warmup_details.is_warmup_blocked)
      assert.equal("INACTIVE", one.warmup_details.status)
      assert.equal("sick", smartlead.policy.health(one).status)
    end)
  end)

  describe("error envelopes", function()
    it("maps Express's Cannot page, the foreign duplicate and the own duplicate onto err fields", function()
      local none, err = client:request("POST", "/email-accounts/create", { body = {} })
      assert.is_nil(none)
      assert.same({ 404, "UNKNOWN_ENDPOINT", "Cannot POST /api/v1/email-accounts/create" },
        { err.status, err.code, err.message })
      local foreign
      for _, a in ipairs(server:state().accounts) do
        if a.user_id ~= support.OWNER then foreign = a.from_email end
      end
      local fields = { from_name = "X", from_email = foreign, user_name = foreign, password = "pw-1",
        smtp_host = "smtp.x.io",
        smtp_port = 587, imap_host = "imap.x.io", imap_port = 993, warmup_enabled = false }
      err = select(2, client:add_smtp_account(fields))
      assert.same({ "ACCOUNT_ALREADY_EXIST", true, nil }, { err.code, err.other_user, err.email_account_id })
      assert.equal("Email account already added by other user", err.message)
      fields.from_email = server:account(3001).from_email
      err = select(2, client:add_smtp_account(fields))
      assert.same({ "ACCOUNT_ALREADY_EXIST", nil, 3001 }, { err.code, err.other_user, err.email_account_id })
    end)

    it("reads a 422 {error}, a {message, status: error} and a 200 {success: false} as errors", function()
      local none, err = client:request("POST", "/tags", { body = { name = "" } })
      assert.is_nil(none)
      assert.same({ 422, "UNPROCESSABLE", '"name" is required' }, { err.status, err.code, err.message })
      none, err = client:get_warmup_stats(999999)
      assert.is_nil(none)
      assert.same({ 404, "NOT_FOUND", "Email account not found" }, { err.status, err.code, err.message })
      assert(client:update_lead_email_account { email_account_id = 3002, email_campaign_id = 4101, email_lead_id = 7 })
      none, err = client:update_lead_email_account { email_account_id = 3003, email_campaign_id = 4101,
        email_lead_id = 7 }
      assert.is_nil(none)
      assert.same({ 200, "Lead already has an email account assigned; pass override_lead_email_account" },
        { err.status, err.message })
    end)
  end)

  describe("help and completion", function()
    it("cover every operation of the registry and the Lua pagers, each with an example", function()
      local help = require "smartlead.help"
      local Client = require "smartlead.client"
      local methods = Client.__methods()
      for _, row in ipairs(smartlead.operations()) do
        assert.matches("\n  example: ", help.topic(row.name), 1, true)
        assert.equal("function", type(methods[row.name]), row.name)
        assert.truthy(help.overview():find("sl:" .. row.name, 1, true), row.name)
      end
      for _, name in ipairs { "mailbox_statistics", "campaigns_with_accounts" } do
        assert.equal("function", type(methods[name]), name)
        assert.matches("example: ", help.topic(name), 1, true)
      end
    end)
  end)
end)
