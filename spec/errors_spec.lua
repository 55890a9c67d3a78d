-- Every error body and failure the API (and the road to it) can produce, mapped to one err
-- table: kind, status, code, message, method, path (key masked), body, retry_after,
-- email_account_id; and tostring(err) on one line. Faults come from the mock's knobs, one at a
-- time with probability 1.
local support = require "support"
local smartlead = require "smartlead"
local mock_server = require "smartlead.mock.server"
local json = smartlead.json

local SMTP = {
  from_name = "Err Sender", from_email = "err@errdomain.io", user_name = "err@errdomain.io",
  password = "err-Pa55", smtp_host = "smtp.errdomain.io", smtp_port = 587,
  imap_host = "imap.errdomain.io", imap_port = 993, warmup_enabled = false,
}

local function copy(t, changes)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  for k, v in pairs(changes or {}) do out[k] = v end
  return out
end

-- Checks err against the expected fields (nil in `want` is not checked; use false for "absent").
local function check(err, want)
  assert.is_table(err, "expected nil, err")
  assert.equal(smartlead.Error, getmetatable(err))
  for k, v in pairs(want) do
    if v == false then assert.is_nil(err[k], k)
    elseif k == "message" or k == "body" then
      assert.truthy(err[k] and err[k]:find(v, 1, true), ("%s: %q not in %q"):format(k, v, tostring(err[k])))
    else
      assert.equal(v, err[k], k)
    end
  end
  -- tostring: one line with kind, status, code, message and "METHOD path"
  local line = tostring(err)
  assert.is_nil(line:find("\n", 1, true), line)
  assert.truthy(line:find(err.kind, 1, true), line)
  if err.status then assert.truthy(line:find(" " .. err.status .. " ", 1, true), line) end
  assert.truthy(line:find(err.code, 1, true), line)
  assert.truthy(line:find(err.message:gsub("\n", " "), 1, true), line)
  assert.truthy(line:find("(" .. err.method .. " " .. err.path .. ")", 1, true), line)
  assert.is_nil(line:find("api_key", 1, true))
  assert.is_nil(err.path:find("api_key", 1, true))
end

describe("errors", function()
  local server, client

  -- No retries: these specs look at each error as the server sent it (retries have their own spec).
  support.shared_server(function(s, c) server, client = s, c end, nil, { max_retries = 0 })
  after_each(function() server:configure { faults = json.null, rate_limit = json.null, latency_ms = 0 } end)

  local function faults(name, extra)
    local f = { seed = 1, [name] = 1 }
    for k, v in pairs(extra or {}) do f[k] = v end
    server:configure { faults = f }
  end

  describe("error bodies of the API", function()
    it("401 {message} for a wrong key", function()
      local bad = server:client { api_key = "wrong-key-000111" }
      local res, err = bad:get_email_accounts { limit = 1 }
      assert.is_nil(res)
      check(err, { kind = "http", status = 401, code = "UNAUTHORIZED", message = "Invalid API Key", method = "GET",
                   path = "/email-accounts/?limit=1", retry_after = false, email_account_id = false })
      assert.same({ message = "Invalid API Key" }, json.decode(err.body))
      assert.same({ message = "Invalid API Key" }, err.data)
      assert.equal("http 401 UNAUTHORIZED error: Invalid API Key (GET /email-accounts/?limit=1)", tostring(err))
      local log = server:log()
      assert.equal(401, log[1].status)
      assert.is_nil(log[1].user_id)
      bad:close()
    end)

    it("400 Joi validation body for an unknown query parameter", function()
      local res, err = client:request("GET", "/email-accounts/", { query = { foo = 1 } })
      assert.is_nil(res)
      check(err, { kind = "http", status = 400, code = "VALIDATION_ERROR", message = '"foo" is not allowed',
                   method = "GET", path = "/email-accounts/?foo=1", retry_after = false })
      assert.same({ statusCode = 400, error = "Bad Request", message = '"foo" is not allowed',
                    validation = { source = "query", keys = { "foo" } } }, err.data)
      assert.equal('http 400 VALIDATION_ERROR error: "foo" is not allowed (GET /email-accounts/?foo=1)', tostring(err))
    end)

    it("400 Joi validation body for a body field the API does not know, with nothing saved", function()
      local before = #server:state().accounts
      local _, err = client:request("POST", "/email-accounts/save", { body = copy(SMTP, { username = "x" }) })
      check(err, { kind = "http", status = 400, code = "VALIDATION_ERROR", message = '"username" is not allowed',
                   method = "POST", path = "/email-accounts/save" })
      assert.equal("payload", err.data.validation.source)
      assert.equal(before, #server:state().accounts)
    end)

    it("legacy 404 {error} for an unknown campaign, attaching nothing", function()
      local before = server:account(3003).campaign_ids
      local res, err = client:add_campaign_email_accounts(9999, { 3003 })
      assert.is_nil(res)
      check(err, { kind = "http", status = 404, code = "NOT_FOUND",
                   message = "Campaign not found - Invalid campaign_id.",
                   method = "POST", path = "/campaigns/9999/email-accounts", email_account_id = false })
      assert.same({ error = "Campaign not found - Invalid campaign_id." }, err.data)
      assert.same(before, server:account(3003).campaign_ids)
      local _, gerr = client:get_email_account(999999)
      check(gerr, { status = 404, code = "NOT_FOUND", method = "GET", path = "/email-accounts/999999/" })
    end)

    it("400 permission error for another user's account", function()
      local _, err = client:remove_campaign_email_accounts(4101, { 3017 })
      check(err, { kind = "http", status = 400, code = "PERMISSION_DENIED",
                   message = "Email account id - 3017 not allowed. Permission Error.",
                   method = "DELETE", path = "/campaigns/4101/email-accounts" })
    end)

    it("save failures with errorCode and emailAccountId", function()
      local first = assert(client:add_smtp_account(SMTP))
      local _, dup = client:add_smtp_account(SMTP)
      check(dup, { kind = "http", status = 400, code = "ACCOUNT_ALREADY_EXIST", message = "already exist",
                   method = "POST", path = "/email-accounts/save", email_account_id = first.email_account_id })
      assert.is_false(dup.data.ok)

      local _, gone = client:add_smtp_account(copy(SMTP, { id = 999999, from_email = "other@errdomain.io" }))
      check(gone, { status = 404, code = "ACCOUNT_NOT_FOUND", email_account_id = 999999 })

      -- a failed connection check still created the account: its id comes with the error
      local save_row
      for _, row in ipairs(require("smartlead").operations()) do
        if row.name == "add_smtp_account" then save_row = row end
      end
      local _, verify = save_row.call(client,
        copy(SMTP, { from_email = "v@errdomain.io", smtp_host = "invalid.errdomain.io" }))
      check(verify, { status = 400, code = "ACCOUNT_VERIFICATION_FAILED",
                      message = "SMTP connection failed: getaddrinfo ENOTFOUND invalid.errdomain.io" })
      assert.equal("integer", math.type(verify.email_account_id))

      local _, upd = client:update_email_account(999999, { max_email_per_day = 5 })
      check(upd, { status = 404, code = "ACCOUNT_NOT_FOUND", method = "POST", path = "/email-accounts/999999",
                   email_account_id = false })

      local n = 0
      for _, a in ipairs(server:state().accounts) do
        if a.from_email:find("errdomain.io", 1, true) then n = n + 1 end
      end
      assert.equal(2, n) -- the first save, and the one whose connection check failed
    end)

    it("400 {ok:false,message} without errorCode for an expired OAuth token", function()
      local _, err = client:add_oauth_account {
        from_name = "O", from_email = "o@gmail-err.com", username = "o@gmail-err.com", type = "OUTLOOK",
        token = { token_type = "Bearer", scope = "https://outlook.office.com/.default", access_token = "expired",
                  refresh_token = "r-1", expiry_date = 1767225600000 },
        warmup_enabled = false, use_whitelabel_credentials = false,
      }
      check(err, { kind = "http", status = 400, code = "BAD_REQUEST", message = "Invalid or expired OAuth token",
                   path = "/email-accounts/save-oauth", email_account_id = false })
    end)

    it("422 {error} for a value the API refuses, changing nothing", function()
      local before = server:account(3002).message_per_day
      local _, err = client:request("POST", "/email-accounts/3002", { body = { max_email_per_day = -1 } })
      check(err, { kind = "http", status = 422, code = "UNPROCESSABLE",
                   message = "max_email_per_day must be greater than or equal to 0",
                   method = "POST", path = "/email-accounts/3002", retry_after = false })
      assert.same({ error = "max_email_per_day must be greater than or equal to 0" }, err.data)
      assert.equal(before, server:account(3002).message_per_day)
      local _, terr = client:request("POST", "/email-accounts/save-oauth", { body = {
        from_name = "O", from_email = "o@zoho-err.com", username = "o@zoho-err.com", type = "ZOHO",
        token = { access_token = "a", refresh_token = "r", expiry_date = 1767225600000 },
        warmup_enabled = false, use_whitelabel_credentials = false } })
      check(terr, { status = 422, code = "UNPROCESSABLE", message = "type must be one of [GMAIL, OUTLOOK]" })
    end)

    it("406 with ok:true is still an error", function()
      assert(client:reconnect_failed_email_accounts())
      local res, err = client:reconnect_failed_email_accounts()
      assert.is_nil(res)
      check(err, { kind = "http", status = 406, code = "NOT_ACCEPTABLE", message = "Reconnect limit reached",
                   path = "/email-accounts/reconnect-failed-email-accounts" })
      assert.is_true(err.data.ok)
    end)

    it("keeps tostring on one line when the server's message has newlines", function()
      local _, err = client:request("GET", "/email-accounts/", { query = { ["two\nlines"] = 1 } })
      check(err, { status = 400, code = "VALIDATION_ERROR", message = '"two\nlines" is not allowed' })
      assert.truthy(tostring(err):find('"two lines" is not allowed', 1, true))
    end)
  end)

  describe("429", function()
    -- The engine paces itself from x-ratelimit-remaining, so one request after another never
    -- meets a 429; two sent at once into a window of one do, and with no retries it reaches us.
    local function two_at_once(fn)
      local errs = {}
      local report = client:each({ 3002, 3003 }, function(id)
        local res, err = fn(id)
        if not res then errs[#errs + 1] = err end
        return res, err
      end, { concurrency = 2 })
      assert.equal(1, report.ok)
      assert.equal(1, #errs)
      return errs[1], report
    end

    it("reads the newer {error:{code,message,retry_after}} body and the Retry-After header", function()
      server:configure { rate_limit = { requests = 1, per = 60 } }
      local err, report = two_at_once(function(id)
        return client:update_email_account(id, { max_email_per_day = 33 })
      end)
      local refused = report.failed[1].item
      local message = "Too many requests. Please retry after 60 seconds." -- the rate-limit guide's wording
      check(err, { kind = "http", status = 429, code = "RATE_LIMIT_EXCEEDED", message = message,
                   method = "POST", path = "/email-accounts/" .. refused, retry_after = 60 })
      assert.same({ error = { code = "RATE_LIMIT_EXCEEDED", message = message, retry_after = 60 } }, err.data)
      assert.not_equal(33, server:account(refused).message_per_day)
      local log = server:log()
      assert.equal(2, #log)
      assert.same({ 200, 429 }, { math.min(log[1].status, log[2].status), math.max(log[1].status, log[2].status) })
    end)

    it("falls back on the body's retry_after when there is no Retry-After header", function()
      server:configure { rate_limit = { requests = 1, per = 45, retry_after = false } }
      local err = two_at_once(function(id) return client:get_email_account(id) end)
      check(err, { kind = "http", status = 429, code = "RATE_LIMIT_EXCEEDED", retry_after = 45 })
    end)

    it("a stray 429 fault carries the same shape", function()
      faults("p429")
      local _, err = client:get_email_account(3001)
      check(err, { kind = "http", status = 429, code = "RATE_LIMIT_EXCEEDED", retry_after = 1, method = "GET",
                   path = "/email-accounts/3001/" })
    end)
  end)

  describe("server and gateway failures", function()
    it("5xx with a JSON body, changing nothing", function()
      faults("p5xx")
      local before = server:account(3002).message_per_day
      for _ = 1, 4 do
        local _, err = client:update_email_account(3002, { max_email_per_day = 44 })
        assert.truthy(err.status == 500 or err.status == 503, tostring(err.status))
        check(err, { kind = "http", code = "SERVER_ERROR", message = "Internal Server Error", method = "POST",
                     path = "/email-accounts/3002" })
      end
      assert.equal(before, server:account(3002).message_per_day)
    end)

    it("an HTML 502 from the proxy is kind http with a message that says HTML", function()
      faults("html")
      local res, err = client:get_email_accounts { limit = 5 }
      assert.is_nil(res)
      check(err, { kind = "http", status = 502, code = "SERVER_ERROR", message = "HTML page instead of JSON",
                   method = "GET", path = "/email-accounts/?limit=5", body = "<title>502 Bad Gateway</title>",
                   retry_after = false })
      assert.is_nil(err.data)
      assert.is_nil(err.message:find("<html>", 1, true))
    end)

    it("200 with an empty body is an error on a GET and a success on a write", function()
      faults("empty")
      local res, err = client:get_email_account(3001)
      assert.is_nil(res)
      check(err, { kind = "http", status = 200, code = "EMPTY_ANSWER", message = "empty body", method = "GET",
                   path = "/email-accounts/3001/" })
      local ok = assert(client:update_email_account(3002, { max_email_per_day = 21 }))
      assert.is_true(ok.ok)
      assert.equal(21, server:account(3002).message_per_day)
    end)

    it("200 plain-text success is ok=true on a write, not JSON on a GET", function()
      faults("text")
      local ok = assert(client:update_email_account(3002, { max_email_per_day = 22 }))
      assert.same({ ok = true, message = "success" }, ok)
      assert.equal(22, server:account(3002).message_per_day)
      local ok2 = assert(client:add_campaign_email_accounts(4104, { 3003 }))
      assert.is_true(ok2.ok)
      local _, err = client:get_email_account(3001)
      check(err, { kind = "json", status = 200, code = "NOT_JSON", body = "success" })
    end)
  end)

  describe("the network", function()
    it("a truncated answer is kind network, TRUNCATED_ANSWER", function()
      faults("truncate")
      local res, err = client:get_email_accounts { limit = 20 }
      assert.is_nil(res)
      check(err, { kind = "network", code = "TRUNCATED_ANSWER", status = false, method = "GET",
                   path = "/email-accounts/?limit=20", body = false, retry_after = false })
    end)

    it("a dropped connection is kind network, before or after the change was made", function()
      faults("drop")
      local _, err = client:update_email_account(3002, { max_email_per_day = 61 })
      check(err,
        { kind = "network", code = "EMPTY_REPLY", status = false, method = "POST", path = "/email-accounts/3002" })
      assert.not_equal(61, server:account(3002).message_per_day)
      assert.equal(0, support.last_request(server).status)
      -- dropped after the handler ran: same error, yet the change happened (why writes are not retried blindly)
      faults("drop_after")
      local _, err2 = client:update_email_account(3002, { max_email_per_day = 62 })
      check(err2, { kind = "network", status = false })
      assert.equal(62, server:account(3002).message_per_day)
    end)

    it("a stall past the client's timeout is kind timeout", function()
      faults("stall", { stall_ms = 1500 })
      local quick = server:client { timeout = 0.3, max_retries = 0 }
      local res, err = quick:get_email_account(3001)
      assert.is_nil(res)
      check(err, { kind = "timeout", code = "TIMEOUT", status = false, method = "GET", path = "/email-accounts/3001/" })
      quick:close()
    end)

    it("latency past the client's timeout is kind timeout too", function()
      server:configure { latency_ms = 1500 }
      local quick = server:client { timeout = 0.3, max_retries = 0 }
      local _, err = quick:update_email_account(3002, { from_name = "Slow" })
      check(err, { kind = "timeout", code = "TIMEOUT", method = "POST", path = "/email-accounts/3002" })
      quick:close()
    end)

    it("a refused connection is kind network", function()
      local gone = mock_server.start { api_key = support.KEY }
      local url = gone:url()
      gone:stop()
      local c = smartlead.client { api_key = support.KEY, base_url = url, connect_timeout = 2, max_retries = 0 }
      local res, err = c:get_warmup_stats(3001)
      assert.is_nil(res)
      check(err, { kind = "network", code = "COULDNT_CONNECT", status = false, method = "GET",
                   path = "/email-accounts/3001/warmup-stats", body = false })
      c:close()
    end)
  end)
end)
