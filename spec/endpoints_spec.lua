-- Every endpoint method against the mock over real HTTP: the values returned, the exact request
-- the server received, and the state it ended in.
local support = require "support"
local smartlead = require "smartlead"
local json = smartlead.json

local SMTP = {
  from_name = "Ada Sender", from_email = "ada@newdomain.io", user_name = "ada@newdomain.io",
  password = "smtp-Pa55-word", smtp_host = "smtp.newdomain.io", smtp_port = 587,
  imap_host = "imap.newdomain.io", imap_port = 993, warmup_enabled = true, max_email_per_day = 40,
}

local function oauth_fields()
  return {
    from_name = "Bo OAuth", from_email = "bo@gmail-user.com", username = "bo@gmail-user.com", type = "GMAIL",
    token = { token_type = "Bearer", access_token = "ya29.access-TOKEN", refresh_token = "1//refresh-TOKEN",
              expiry_date = 1767225600000, scope = "https://mail.google.com/" },
    warmup_enabled = false, use_whitelabel_credentials = false,
  }
end

describe("endpoints over HTTP", function()
  local server, client

  support.shared_server(function(s, c) server, client = s, c end)

  describe("get_email_accounts", function()
    it("sends offset, limit and the filters under the API's own names", function()
      local list = assert(client:get_email_accounts {
        offset = 0, limit = 50, is_in_use = true, warmup_status = "ACTIVE", is_smtp_success = true,
        is_warmup_blocked = false, esp = "GMAIL", username = "a", client_id = 7, fetch_campaigns = true,
      })
      local req = support.last_request(server)
      assert.equal("GET", req.method)
      assert.equal("/api/v1/email-accounts/", req.path)
      assert.same({ api_key = "***", offset = "0", limit = "50", isInUse = "true", emailWarmupStatus = "ACTIVE",
                    isSmtpSuccess = "true", isWarmupBlocked = "false", esp = "GMAIL", username = "a",
                    client_id = "7", fetch_campaigns = "true" }, req.query)
      assert.equal(200, req.status)
      assert.is_true(json.is_array(list))
      for _, a in ipairs(list) do
        assert.equal("GMAIL", a.type)
        assert.equal(7, a.client_id)
        assert.is_true(a.is_smtp_success)
      end
    end)

    it("returns accounts with integer ids and counts, null warmup and arrays kept", function()
      local list = assert(client:get_email_accounts { limit = 100 })
      assert.equal(100, #list)
      local saw_null_warmup, saw_percent = false, false
      for _, a in ipairs(list) do
        assert.equal("integer", math.type(a.id))
        assert.equal("integer", math.type(a.message_per_day))
        assert.equal("integer", math.type(a.daily_sent_count))
        assert.equal("integer", math.type(a.campaign_count))
        assert.is_true(json.is_array(a.tags))
        if a.warmup_details == json.null then saw_null_warmup = true
        else
          assert.matches("^%d+%%$", a.warmup_details.warmup_reputation)
          saw_percent = true
        end
        assert.is_nil(a.campaign_ids) -- only with fetch_campaigns
      end
      assert.is_true(saw_null_warmup and saw_percent)
    end)

    it("pages by offset: the pages do not overlap and the last page is short", function()
      local p1 = assert(client:get_email_accounts { offset = 0, limit = 100 })
      local p3 = assert(client:get_email_accounts { offset = 200, limit = 100 })
      assert.equal(60, #p3)
      assert.is_true(p3[1].id > p1[100].id)
      local empty = assert(client:get_email_accounts { offset = 1000 })
      assert.equal(0, #empty)
      assert.is_true(json.is_array(empty))
    end)

    it("adds campaign_ids with fetch_campaigns", function()
      local list = assert(client:get_email_accounts { fetch_campaigns = true, is_in_use = true, limit = 5 })
      assert.is_true(#list > 0)
      for _, a in ipairs(list) do
        assert.is_true(json.is_array(a.campaign_ids))
        assert.equal(a.campaign_count, #a.campaign_ids)
      end
    end)

    it("iterates every own account once with client:accounts and all_accounts", function()
      local ids, n = {}, 0
      for a in client:accounts() do
        assert.is_nil(ids[a.id])
        ids[a.id] = true
        n = n + 1
      end
      assert.equal(260, n)
      local all = assert(client:all_accounts { esp = "OUTLOOK" })
      for _, a in ipairs(all) do assert.equal("OUTLOOK", a.type) end
      local log = server:log()
      assert.equal("100", log[#log].query.limit)
    end)
  end)

  describe("add_smtp_account", function()
    it("posts user_name (not username) and the documented body, and the account appears", function()
      local res = assert(client:add_smtp_account(SMTP))
      assert.is_true(res.ok)
      assert.equal("integer", math.type(res.email_account_id))
      local req = support.last_request(server)
      assert.equal("POST", req.method)
      assert.equal("/api/v1/email-accounts/save", req.path)
      assert.equal("ada@newdomain.io", req.body.user_name)
      assert.is_nil(req.body.username)
      assert.equal("***", req.body.password) -- the mock logs that a password came, never its value
      assert.equal(587, req.body.smtp_port)
      assert.is_true(req.body.warmup_enabled)
      local acct = assert(client:get_email_account(res.email_account_id))
      assert.equal("ada@newdomain.io", acct.from_email)
      assert.equal("ada@newdomain.io", acct.username)
      assert.equal(40, acct.message_per_day)
      local stored = server:account(res.email_account_id)
      assert.equal("smtp-Pa55-word", stored.password)
    end)

    it("reads the newer {data:{id}} answer shape into the same key", function()
      server:configure { save_answer_shape = "data" }
      local res = assert(client:add_smtp_account(SMTP))
      assert.equal("integer", math.type(res.email_account_id))
      assert.equal(res.data.id, res.email_account_id)
      assert.is_nil(res.emailAccountId)
    end)

    it("reports a second save of the address as ACCOUNT_ALREADY_EXIST with the existing id", function()
      local first = assert(client:add_smtp_account(SMTP))
      local res, err = client:add_smtp_account(SMTP)
      assert.is_nil(res)
      assert.equal("http", err.kind)
      assert.equal(400, err.status)
      assert.equal("ACCOUNT_ALREADY_EXIST", err.code)
      assert.equal(first.email_account_id, err.email_account_id)
      assert.equal("POST", err.method)
      assert.equal("/email-accounts/save", err.path)
      local n = 0
      for _, a in ipairs(server:state().accounts) do
        if a.from_email == SMTP.from_email then n = n + 1 end
      end
      assert.equal(1, n)
    end)

    it("reports a failed connection check as saved with errors, with the new account's id", function()
      local f = {}
      for k, v in pairs(SMTP) do f[k] = v end
      f.smtp_host = "invalid.example.com"
      local res = assert(client:add_smtp_account(f))
      assert.is_true(res.created_with_errors)
      assert.equal("ACCOUNT_VERIFICATION_FAILED", res.code)
      assert.equal("saved, but SMTP/IMAP failing: SMTP connection failed: getaddrinfo ENOTFOUND invalid.example.com",
        res.message)
      local acc = server:account(res.email_account_id)
      assert.equal(SMTP.from_email, acc.from_email)
      assert.is_false(acc.is_smtp_success)
      -- the raw row still says what the server said
      f.from_email, f.user_name = "raw@newdomain.io", "raw@newdomain.io"
      local save
      for _, row in ipairs(smartlead.operations()) do
        if row.name == "add_smtp_account" then save = row end
      end
      local _, err = save.call(client, f)
      assert.equal("ACCOUNT_VERIFICATION_FAILED", err.code)
      assert.equal(400, err.status)
      assert.equal("integer", math.type(err.email_account_id))
    end)

    it("finds the id of a failing save the server did not name (the newest docs' answer)", function()
      server:configure { verification_answer_shape = "newest" }
      local f = {}
      for k, v in pairs(SMTP) do f[k] = v end
      f.imap_host = "imap.invalid.example.com"
      local res = assert(client:add_smtp_account(f))
      server:configure { verification_answer_shape = json.null }
      assert.is_true(res.created_with_errors)
      assert.matches("^saved, but SMTP/IMAP failing: IMAP connection failed: ", res.message)
      local acc = server:account(res.email_account_id)
      assert.equal(SMTP.from_email, acc.from_email)
      assert.is_false(acc.is_imap_success)
      -- the by-address read says 404 for an account not connected; the list filtered by username finds it
      local paths = {}
      for _, r in ipairs(server:log()) do paths[#paths + 1] = r.method .. " " .. r.path end
      assert.same({ "POST /api/v1/email-accounts/save", "GET /api/v1/email-accounts/fetch-email-account-details",
        "GET /api/v1/email-accounts/" }, paths)
      -- a second save of the address is refused by the server, never a second account
      local again, err = client:add_smtp_account(f)
      assert.is_nil(again)
      assert.equal("ACCOUNT_ALREADY_EXIST", err.code)
      assert.equal(res.email_account_id, err.email_account_id)
    end)
  end)

  describe("add_oauth_account", function()
    it("posts username (not user_name), type and the token object", function()
      local res = assert(client:add_oauth_account(oauth_fields()))
      assert.equal("integer", math.type(res.email_account_id))
      local req = support.last_request(server)
      assert.equal("/api/v1/email-accounts/save-oauth", req.path)
      assert.equal("bo@gmail-user.com", req.body.username)
      assert.is_nil(req.body.user_name)
      assert.equal("GMAIL", req.body.type)
      assert.equal("***", req.body.token.access_token)
      assert.equal("***", req.body.token.refresh_token)
      assert.equal(1767225600000, req.body.token.expiry_date)
      assert.is_false(req.body.use_whitelabel_credentials)
      local acct = assert(client:get_email_account(res.email_account_id))
      assert.equal("GMAIL", acct.type)
    end)

    it("passes on the server's refusal of an expired token", function()
      local f = oauth_fields()
      f.token.access_token = "expired"
      local _, err = client:add_oauth_account(f)
      assert.equal(400, err.status)
      assert.matches("Invalid or expired OAuth token", err.message)
    end)
  end)

  describe("update_email_account", function()
    it("posts the request names and the change shows as message_per_day", function()
      local res = assert(client:update_email_account(3002, { max_email_per_day = 17, is_suspended = false }))
      assert.is_true(res.ok)
      assert.equal(3002, res.email_account_id)
      local req = support.last_request(server)
      assert.equal("POST", req.method)
      assert.equal("/api/v1/email-accounts/3002", req.path)
      assert.same({ max_email_per_day = 17, is_suspended = false }, req.body)
      assert.equal(17, assert(client:get_email_account(3002)).message_per_day)
      assert.equal(17, server:account(3002).message_per_day)
    end)

    it("accepts an integral float id (42.0) as the integer", function()
      assert(client:update_email_account(3002.0, { from_name = "Renamed" }))
      assert.equal("/api/v1/email-accounts/3002", support.last_request(server).path)
      assert.equal("Renamed", server:account(3002).from_name)
    end)

    it("answers 404 NOT_FOUND for an unknown id and for another user's account", function()
      for _, id in ipairs { 999999, 3017 } do
        local res, err = client:update_email_account(id, { max_email_per_day = 5 })
        assert.is_nil(res)
        assert.equal(404, err.status)
        assert.equal("ACCOUNT_NOT_FOUND", err.code)
      end
      assert.not_equal(5, server:account(3017).message_per_day)
    end)
  end)

  describe("campaign attach and detach", function()
    it("attaches with email_account_ids as an array and updates counts and campaign_ids", function()
      local before = assert(client:get_email_account(3003, { fetch_campaigns = true }))
      local res = assert(client:add_campaign_email_accounts(4104, { 3003 }))
      assert.is_true(res.ok)
      assert.equal(4104, res.result[1].email_campaign_id)
      assert.equal(3003, res.result[1].email_account_id)
      local req = support.last_request(server)
      assert.equal("/api/v1/campaigns/4104/email-accounts", req.path)
      assert.same({ email_account_ids = { 3003 } }, req.body)
      local after = assert(client:get_email_account(3003, { fetch_campaigns = true }))
      assert.equal(before.campaign_count + 1, after.campaign_count)
      assert.is_true(after.is_connected_to_campaign)
      local found = false
      for _, c in ipairs(after.campaign_ids) do found = found or c == 4104 end
      assert.is_true(found)
      local members = assert(client:get_campaign_email_accounts(4104))
      assert.equal(1, #members)
      assert.equal(3003, members[1].id)
    end)

    it("detaches with a DELETE carrying the same body", function()
      assert(client:add_campaign_email_accounts(4104, { 3003, 3005 }))
      local res = assert(client:remove_campaign_email_accounts(4104, { 3003 }))
      assert.is_true(res.ok)
      assert.equal(1, res.result)
      local req = support.last_request(server)
      assert.equal("DELETE", req.method)
      assert.same({ email_account_ids = { 3003 } }, req.body)
      local members = assert(client:get_campaign_email_accounts(4104))
      assert.equal(1, #members)
      assert.equal(3005, members[1].id)
    end)

    it("reads [] for a campaign with no accounts", function()
      local members = assert(client:get_campaign_email_accounts(4104))
      assert.equal(0, #members)
      assert.is_true(json.is_array(members))
    end)

    it("maps an unknown campaign and a foreign account to their errors, changing nothing", function()
      local _, err = client:add_campaign_email_accounts(9999, { 3003 })
      assert.equal(404, err.status)
      assert.equal("NOT_FOUND", err.code)
      assert.equal("Campaign not found - Invalid campaign_id.", err.message)
      local _, perr = client:add_campaign_email_accounts(4104, { 3003, 3017 })
      assert.equal(400, perr.status)
      assert.equal("PERMISSION_DENIED", perr.code)
      assert.matches("3017 not allowed", perr.message)
      assert.equal(0, #assert(client:get_campaign_email_accounts(4104)))
    end)

    it("refuses to leave an active campaign with no account", function()
      local members = assert(client:get_campaign_email_accounts(4102))
      assert.equal(1, #members)
      local _, err = client:remove_campaign_email_accounts(4102, { members[1].id })
      assert.equal(400, err.status)
      assert.equal(1, #assert(client:get_campaign_email_accounts(4102)))
    end)
  end)

  describe("one account, by id and by address", function()
    it("gets one account with is_suspended, campaign_ids and tags", function()
      local a = assert(client:get_email_account(3001, { fetch_campaigns = true, fetch_tags = true }))
      assert.equal(3001, a.id)
      assert.is_boolean(a.is_suspended)
      assert.is_true(json.is_array(a.campaign_ids))
      local req = support.last_request(server)
      assert.equal("/api/v1/email-accounts/3001/", req.path)
      assert.same({ api_key = "***", fetch_campaigns = "true", fetch_tags = "true" }, req.query)
    end)

    it("finds an account by address with the email query parameter", function()
      local first = assert(client:get_email_accounts { limit = 1, is_smtp_success = true })[1]
      local a = assert(client:get_email_account_by_email(first.from_email))
      assert.equal(first.id, a.id)
      local req = support.last_request(server)
      assert.equal("/api/v1/email-accounts/fetch-email-account-details", req.path)
      assert.equal(first.from_email, req.query.email)
      local none, err = client:get_email_account_by_email("nobody@nowhere-at-all.com")
      assert.is_nil(none)
      assert.equal(404, err.status)
    end)
  end)

  describe("warmup", function()
    it("updates warmup settings and the account shows them", function()
      local res = assert(client:update_warmup(3001, { warmup_enabled = true, total_warmup_per_day = 25,
                                                       daily_rampup = 3, reply_rate_percentage = 30 }))
      assert.is_true(res.ok)
      local req = support.last_request(server)
      assert.equal("/api/v1/email-accounts/3001/warmup", req.path)
      assert.same({ warmup_enabled = true, total_warmup_per_day = 25, daily_rampup = 3, reply_rate_percentage = 30 },
        req.body)
      local a = assert(client:get_email_account(3001))
      assert.equal("ACTIVE", a.warmup_details.status)
    end)

    it("returns warmup stats with the string counts as integers", function()
      local s = assert(client:get_warmup_stats(3001))
      assert.equal(3001, s.id)
      for _, k in ipairs { "sent_count", "spam_count", "inbox_count", "warmup_email_received_count" } do
        assert.equal("integer", math.type(s[k]), k)
      end
      assert.equal(7, #s.stats_by_date)
      assert.equal("integer", math.type(s.stats_by_date[1].sent_count))
      assert.equal("/api/v1/email-accounts/3001/warmup-stats", support.last_request(server).path)
    end)
  end)

  describe("reconnect_failed_email_accounts", function()
    it("posts {} and then answers the documented 406 when called again too soon", function()
      local res = assert(client:reconnect_failed_email_accounts())
      assert.is_true(res.ok)
      local req = support.last_request(server)
      assert.equal("/api/v1/email-accounts/reconnect-failed-email-accounts", req.path)
      assert.same({}, req.body)
      local again, err = client:reconnect_failed_email_accounts()
      assert.is_nil(again)
      assert.equal(406, err.status)
      assert.equal("NOT_ACCEPTABLE", err.code)
    end)
  end)

  describe("request", function()
    it("reaches any path with the same auth and decoding", function()
      local list = assert(client:request("GET", "/email-accounts/", { query = { limit = 2 } }))
      assert.equal(2, #list)
      assert.same({ api_key = "***", limit = "2" }, support.last_request(server).query)
      local res = assert(client:request("POST", "/email-accounts/3002", { body = { max_email_per_day = 9 } }))
      assert.is_true(res.ok)
      assert.equal(9, server:account(3002).message_per_day)
    end)

    it("maps an unknown path to a 404 error", function()
      local _, err = client:request("GET", "/health-metrics")
      assert.equal(404, err.status)
      assert.equal("/health-metrics", err.path)
    end)
  end)
end)
