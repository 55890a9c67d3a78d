-- Validation before sending: every client method refuses bad input with nil, err (kind
-- "validation", a message naming the method and the field, err.field), sends nothing (the mock's
-- log stays empty) and leaves the caller's table as it was. Wrong use (a string where an id
-- belongs, a missing argument table) raises instead.
local support = require "support"
local smartlead = require "smartlead"
local json = smartlead.json

local function smtp_fields()
  return {
    from_name = "Val Sender", from_email = "val@valid-domain.io", user_name = "val@valid-domain.io",
    password = "Val-Pa55", smtp_host = "smtp.valid-domain.io", smtp_port = 587,
    imap_host = "imap.valid-domain.io", imap_port = 993, warmup_enabled = false,
  }
end

local function oauth_fields()
  return {
    from_name = "Val OAuth", from_email = "val@gmail-val.com", username = "val@gmail-val.com", type = "GMAIL",
    token = { token_type = "Bearer", access_token = "ya29.val-access", refresh_token = "1//val-refresh",
              expiry_date = 1767225600000, scope = "https://mail.google.com/" },
    warmup_enabled = false, use_whitelabel_credentials = false,
  }
end

local function with(base, changes)
  for k, v in pairs(changes) do base[k] = v end
  return base
end

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = deep_copy(x) end
  return setmetatable(out, getmetatable(v))
end

-- Exact equality down to the number subtype (3.0 and 3 differ here; assert.same says equal).
local function identical(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then return math.type(a) == math.type(b) and (a == b or (a ~= a and b ~= b)) end
  if type(a) ~= "table" then return a == b end
  if getmetatable(a) ~= getmetatable(b) then return false end
  for k, v in pairs(a) do
    if not identical(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local BIG = ("x"):rep(64 * 1024 + 1)

describe("validation before sending", function()
  local server, client

  support.shared_server(function(s, c) server, client = s, c end)

  local function nothing_sent()
    assert.equal(0, #server:log(), "the mock received a request")
  end

  -- Asserts a validation refusal: res nil, err fields, message naming method and the given words.
  local function refused(method, field, says, res, err)
    assert.is_nil(res)
    assert.is_table(err, "expected nil, err")
    assert.equal("validation", err.kind, tostring(err))
    assert.equal("INVALID_ARGUMENT", err.code)
    assert.equal(field, err.field, tostring(err))
    assert.equal(method .. ": ", err.message:sub(1, #method + 2), err.message)
    for _, word in ipairs(type(says) == "table" and says or { says }) do
      assert.truthy(err.message:find(word, 1, true), ("%q not in %q"):format(word, err.message))
    end
    assert.is_nil(err.status)
    assert.equal(smartlead.Error, getmetatable(err))
    local line = tostring(err)
    assert.is_nil(line:find("\n"))
    assert.truthy(line:find("validation INVALID_ARGUMENT", 1, true))
    nothing_sent()
  end

  local function raises(pattern, fn, ...)
    local ok, msg = pcall(fn, ...)
    assert.is_false(ok, "expected an error to be raised")
    assert.matches(pattern, tostring(msg))
    nothing_sent()
  end

  ---------------------------------------------------------------------------- ids

  -- Every method whose first argument is an id, with a valid second argument.
  local ID_METHODS = {
    { "update_email_account", "email_account_id", function() return { max_email_per_day = 5 } end },
    { "add_campaign_email_accounts", "campaign_id", function() return { 3003 } end },
    { "get_email_account", "email_account_id", function() return nil end },
    { "get_campaign_email_accounts", "campaign_id", function() return nil end },
    { "remove_campaign_email_accounts", "campaign_id", function() return { 3003 } end },
    { "update_warmup", "email_account_id", function() return { warmup_enabled = true } end },
    { "get_warmup_stats", "email_account_id", function() return nil end },
  }

  describe("ids", function()
    for _, m in ipairs(ID_METHODS) do
      local name, id_name, arg = m[1], m[2], m[3]

      it(name .. " refuses 0, -1, 1.5, -0.5 and huge floats as " .. id_name, function()
        for _, bad in ipairs { 0, -1, 1.5, -0.5, 2 ^ 70, -math.huge } do
          local res, err = client[name](client, bad, arg())
          refused(name, id_name, { id_name, "positive integer" }, res, err)
        end
      end)

      it(name .. " raises on a string, nil, table or boolean " .. id_name, function()
        for _, bad in ipairs { "3002", "abc", {}, true } do
          raises(id_name .. " must be an integer", client[name], client, bad, arg())
        end
        raises(id_name .. " must be an integer, got no value", client[name], client)
      end)
    end

    it("takes an integral float id (3002.0) as the integer", function()
      assert(client:get_email_account(3002.0))
      assert.equal("/api/v1/email-accounts/3002/", support.last_request(server).path)
    end)
  end)

  ---------------------------------------------------------------------------- list

  describe("get_email_accounts", function()
    local M = "get_email_accounts"

    it("refuses limit outside 1..100 and non-integer limits", function()
      for _, bad in ipairs { 0, -1, 101, 1000, 1.5 } do
        refused(M, "limit", { '"limit"', "from 1 to 100" }, client:get_email_accounts { limit = bad })
      end
      refused(M, "limit", { '"limit"', 'got "10"' }, client:get_email_accounts { limit = "10" })
    end)

    it("refuses a negative or fractional offset", function()
      refused(M, "offset", { '"offset"', "from 0 to", "got -1" }, client:get_email_accounts { offset = -1 })
      refused(M, "offset", { '"offset"', "got 0.5" }, client:get_email_accounts { offset = 0.5 })
      refused(M, "offset", '"offset"', client:get_email_accounts { offset = true })
    end)

    it("accepts the bounds: limit 1 and 100, offset 0, integral floats", function()
      assert.equal(1, #assert(client:get_email_accounts { limit = 1, offset = 0 }))
      assert.equal(100, #assert(client:get_email_accounts { limit = 100.0 }))
      local log = server:log()
      assert.equal(2, #log)
      assert.same({ api_key = "***", limit = "1", offset = "0" }, log[1].query)
      assert.same({ api_key = "***", limit = "100" }, log[2].query)
    end)

    it("refuses esp values outside GMAIL/OUTLOOK/SMTP, case included", function()
      for _, bad in ipairs { "ZOHO", "gmail", "", 1 } do
        refused(M, "esp", { '"esp"', "GMAIL, OUTLOOK, SMTP" }, client:get_email_accounts { esp = bad })
      end
    end)

    it("refuses emailWarmupStatus values other than ACTIVE/INACTIVE, under either name", function()
      refused(M, "emailWarmupStatus", { '"emailWarmupStatus"', "ACTIVE, INACTIVE", '"PAUSED"' },
              client:get_email_accounts { emailWarmupStatus = "PAUSED" })
      -- the message uses the name the script used
      refused(M, "emailWarmupStatus", { '"warmup_status"', "ACTIVE, INACTIVE" },
              client:get_email_accounts { warmup_status = "active" })
    end)

    it("refuses non-boolean filters", function()
      refused(M, "isInUse", { '"is_in_use"', "boolean" }, client:get_email_accounts { is_in_use = "true" })
      refused(M, "isSmtpSuccess", { '"isSmtpSuccess"', "boolean" }, client:get_email_accounts { isSmtpSuccess = 1 })
      refused(M, "isWarmupBlocked", "boolean", client:get_email_accounts { is_warmup_blocked = json.null })
      refused(M, "fetch_campaigns", "boolean", client:get_email_accounts { fetch_campaigns = "yes" })
    end)

    it("refuses client_id that is not a positive integer and a username that is not text", function()
      refused(M, "client_id", '"client_id"', client:get_email_accounts { client_id = 0 })
      refused(M, "client_id", '"client_id"', client:get_email_accounts { client_id = "7" })
      refused(M, "username", { '"username"', "string" }, client:get_email_accounts { username = 5 })
      refused(M, "username", "NUL", client:get_email_accounts { username = "a\0b" })
      refused(M, "username", "UTF-8", client:get_email_accounts { username = "caf\xe9" })
      refused(M, "username", "longer than 65536", client:get_email_accounts { username = BIG })
    end)

    it("refuses a filter given under its name and its alias at once", function()
      refused(M, "isInUse", { '"isInUse"', '"is_in_use"', "twice" },
              client:get_email_accounts { isInUse = true, is_in_use = true })
      refused(M, "emailWarmupStatus", { "twice", '"warmup_status"' },
              client:get_email_accounts { emailWarmupStatus = "ACTIVE", warmup_status = "ACTIVE" })
    end)

    it("refuses unknown filters, suggesting the close one", function()
      refused(M, "isinuse", { 'unknown field "isinuse"', 'did you mean "isInUse"' },
              client:get_email_accounts { isinuse = true })
      refused(M, "emailWarmupstatus", 'did you mean "emailWarmupStatus"',
              client:get_email_accounts { emailWarmupstatus = "ACTIVE" })
      local res, err = client:get_email_accounts { page = 2 }
      refused(M, "page", 'unknown field "page"', res, err)
      assert.is_nil(err.message:find("did you mean", 1, true))
    end)

    it("refuses positional entries and raises on a non-table argument", function()
      local res, err = client:get_email_accounts { 1, 2 }
      refused(M, nil, "fields must be named", res, err)
      raises("table expected", client.get_email_accounts, client, "limit=5")
      raises("table expected", client.get_email_accounts, client, 5)
    end)
  end)

  ---------------------------------------------------------------------------- save

  describe("add_smtp_account", function()
    local M = "add_smtp_account"

    it("names every missing required field at once", function()
      local res, err = client:add_smtp_account {}
      refused(M, "from_name", { "missing required fields", '"from_name", "from_email", "user_name", "password", '
        .. '"smtp_host", "smtp_port", "imap_host", "imap_port", "warmup_enabled"' }, res, err)
      local f = smtp_fields()
      f.password, f.imap_port = nil, nil
      res, err = client:add_smtp_account(f)
      refused(M, "password", 'missing required fields "password", "imap_port"', res, err)
      assert.is_nil(err.message:find("from_name", 1, true))
      f = smtp_fields()
      f.warmup_enabled = nil
      refused(M, "warmup_enabled", 'missing required field "warmup_enabled"', client:add_smtp_account(f))
    end)

    it("refuses wrong types field by field", function()
      local cases = {
        { "from_name", 5, "must be a string" }, { "from_name", "", "must not be empty" },
        { "from_email", {}, "must be a string" }, { "user_name", "", "must not be empty" },
        { "password", true, "must be a string" }, { "password", "", "must not be empty" },
        { "smtp_host", 25, "must be a string" }, { "smtp_host", "smtp host.io", "host name" },
        { "smtp_host", "smtp.io/evil", "host name" }, { "smtp_port", "587", "integer" },
        { "imap_port", 993.5, "integer" }, { "warmup_enabled", "yes", "boolean" },
        { "warmup_enabled", 1, "boolean" }, { "max_email_per_day", -1, "from 0 to" },
        { "max_email_per_day", "40", "integer" }, { "reply_rate_percentage", 101, "from 0 to 100" },
        { "time_to_wait_in_mins", 2.5, "integer" }, { "is_suspended", "false", "boolean" },
        { "id", 0, "positive integer or json.null" }, { "id", "12", "positive integer or json.null" },
        { "client_id", -4, "positive integer or json.null" }, { "signature", 7, "must be a string" },
        { "imap_user_name", "", "must not be empty" },
      }
      for _, c in ipairs(cases) do
        refused(M, c[1], { '"' .. c[1] .. '"', c[3] }, client:add_smtp_account(with(smtp_fields(), { [c[1]] = c[2] })))
      end
    end)

    it("refuses ports outside 1..65535", function()
      for _, field in ipairs { "smtp_port", "imap_port" } do
        for _, bad in ipairs { 0, -1, 65536, 100000 } do
          refused(M, field, { '"' .. field .. '"', "from 1 to 65535" },
                  client:add_smtp_account(with(smtp_fields(), { [field] = bad })))
        end
      end
    end)

    it("accepts ports 1 and 65535 and sends them as integers", function()
      assert(client:add_smtp_account(with(smtp_fields(), { smtp_port = 1, imap_port = 65535.0 })))
      local req = support.last_request(server)
      assert.equal(1, req.body.smtp_port)
      assert.equal(65535, req.body.imap_port)
      assert.equal(1, #server:log())
    end)

    it("refuses a type outside GMAIL/OUTLOOK/SMTP", function()
      for _, bad in ipairs { "ZOHO", "smtp", "" } do
        refused(M, "type", { '"type"', "GMAIL, OUTLOOK, SMTP" },
          client:add_smtp_account(with(smtp_fields(), { type = bad })))
      end
    end)

    it("refuses addresses that no mailbox can have", function()
      local bad = { "plain", "a@b", "@domain.io", "user@", "a@@b.io", "a b@c.io", "a@b..io", "a@.b.io",
                    ".a@b.io", "a.@b.io", "a@b.io.", "a@-b.io", "a<b>@c.io", "a@b_c.io",
                    ("x"):rep(250) .. "@b.io" }
      for _, addr in ipairs(bad) do
        refused(M, "from_email", { '"from_email"', "email address" },
                client:add_smtp_account(with(smtp_fields(), { from_email = addr })))
      end
      refused(M, "bcc", { '"bcc"', "email address" },
        client:add_smtp_account(with(smtp_fields(), { bcc = "bcc-at-x.io" })))
      refused(M, "different_reply_to_address", "email address",
              client:add_smtp_account(with(smtp_fields(), { different_reply_to_address = "x@" })))
    end)

    it("refuses strings with NUL bytes, invalid UTF-8 or over 64 KiB, without echoing them", function()
      for _, field in ipairs { "from_name", "password", "signature", "user_name" } do
        local res, err = client:add_smtp_account(with(smtp_fields(), { [field] = "ab\0cd" }))
        refused(M, field, { '"' .. field .. '"', "NUL byte", "a string of 5 bytes" }, res, err)
        res, err = client:add_smtp_account(with(smtp_fields(), { [field] = "ab\xc3\x28" }))
        refused(M, field, { '"' .. field .. '"', "not valid UTF-8" }, res, err)
        res, err = client:add_smtp_account(with(smtp_fields(), { [field] = BIG }))
        refused(M, field, { '"' .. field .. '"', "longer than 65536 bytes" }, res, err)
        assert.is_true(#err.message < 600)
      end
      -- overlong encodings and UTF-16 surrogates are not UTF-8 either
      for _, bad in ipairs { "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82" } do
        refused(M, "from_name", "not valid UTF-8", client:add_smtp_account(with(smtp_fields(), { from_name = bad })))
      end
      -- exactly 64 KiB is still fine
      assert(client:add_smtp_account(with(smtp_fields(), { signature = ("s"):rep(65536) })))
    end)

    it("refuses unknown fields with the request name to use", function()
      local cases = {
        { "username", '"user_name"' },              -- the list's name, not save's
        { "max_emails_per_day", '"max_email_per_day"' }, -- a typo
        { "message_per_day", '"max_email_per_day"' },    -- the answer's name
        { "custom_tracking_domain", '"custom_tracking_url"' },
        { "bcc_email", '"bcc"' },
        { "minTimeToWaitInMins", '"time_to_wait_in_mins"' },
        { "imap_username", '"imap_user_name"' },
        { "smtp_prot", '"smtp_port"' },
      }
      for _, c in ipairs(cases) do
        local f = smtp_fields()
        f[c[1]] = f.user_name
        refused(M, c[1], { 'unknown field "' .. c[1] .. '"', "did you mean " .. c[2] }, client:add_smtp_account(f))
      end
    end)

    it("raises when the fields table is missing or not a table", function()
      raises("table expected", client.add_smtp_account, client)
      raises("table expected", client.add_smtp_account, client, "fields")
    end)
  end)

  describe("add_oauth_account", function()
    local M = "add_oauth_account"

    it("names every missing required field at once", function()
      refused(M, "from_name", '"from_name", "from_email", "username", "type", "token", "warmup_enabled", '
        .. '"use_whitelabel_credentials"', client:add_oauth_account {})
      local f = oauth_fields()
      f.token, f.use_whitelabel_credentials = nil, nil
      refused(M, "token", 'missing required fields "token", "use_whitelabel_credentials"', client:add_oauth_account(f))
    end)

    it("accepts only GMAIL and OUTLOOK as type", function()
      for _, bad in ipairs { "SMTP", "ZOHO", "gmail", 1 } do
        local res, err = client:add_oauth_account(with(oauth_fields(), { type = bad }))
        refused(M, "type", { '"type"', "must be one of GMAIL, OUTLOOK," }, res, err)
        assert.is_nil(err.message:find("SMTP,", 1, true))
      end
    end)

    it("refuses a token without token_type, scope or access_token", function()
      for _, missing in ipairs { "access_token", "token_type", "scope" } do
        local f = oauth_fields()
        f.token[missing] = nil
        refused(M, "token", { '"token"', "." .. missing .. " is required" }, client:add_oauth_account(f))
      end
    end)

    it("refuses token members of the wrong type", function()
      local cases = {
        { "access_token", 5, "must be a string" }, { "access_token", "", "must not be empty" },
        { "refresh_token", false, "must be a string" }, { "expiry_date", "tomorrow", "integer" },
        { "expiry_date", 0, "integer" }, { "expiry_date", 1.5, "integer" }, { "token_type", "", "must not be empty" },
        { "scope", {}, "must be a string" }, { "id_token", 3, "must be a string" },
      }
      for _, c in ipairs(cases) do
        local f = oauth_fields()
        f.token[c[1]] = c[2]
        refused(M, "token", { '"token"', "." .. c[1], c[3] }, client:add_oauth_account(f))
      end
    end)

    it("refuses unknown token keys, suggesting the close one", function()
      local f = oauth_fields()
      f.token.accessToken = "x"
      refused(M, "token", { 'unknown key "accessToken"', 'did you mean "access_token"' }, client:add_oauth_account(f))
      f = oauth_fields()
      f.token[1] = "positional"
      refused(M, "token", "unknown key", client:add_oauth_account(f))
    end)

    it("refuses a token that is not a table, without echoing it", function()
      local res, err = client:add_oauth_account(with(oauth_fields(), { token = "ya29.only-the-access" }))
      refused(M, "token", { '"token"', "must be a table" }, res, err)
      assert.is_nil(err.message:find("ya29", 1, true))
    end)

    it("refuses user_name here (save-oauth spells it username) and other names from the list", function()
      local f = oauth_fields()
      f.user_name, f.username = f.username, nil
      refused(M, "user_name", { 'unknown field "user_name"', 'did you mean "username"' }, client:add_oauth_account(f))
      refused(M, "message_per_day", 'did you mean "max_email_per_day"',
              client:add_oauth_account(with(oauth_fields(), { message_per_day = 20 })))
      -- save-oauth has no password: it is not silently sent
      refused(M, "password", 'unknown field "password"',
        client:add_oauth_account(with(oauth_fields(), { password = "pw-x" })))
    end)

    it("refuses non-boolean flags and bad addresses", function()
      refused(M, "use_whitelabel_credentials", "boolean",
              client:add_oauth_account(with(oauth_fields(), { use_whitelabel_credentials = "no" })))
      refused(M, "from_email", "email address", client:add_oauth_account(with(oauth_fields(), { from_email = "bo@" })))
      refused(M, "from_name", "NUL byte", client:add_oauth_account(with(oauth_fields(), { from_name = "\0" })))
    end)
  end)

  ---------------------------------------------------------------------------- update

  describe("update_email_account", function()
    local M = "update_email_account"

    it("refuses wrong values field by field", function()
      local cases = {
        { "max_email_per_day", -1, "from 0 to" }, { "max_email_per_day", 2.5, "integer" },
        { "max_email_per_day", "40", 'got "40"' }, { "from_name", "", "must not be empty" },
        { "from_name", false, "must be a string" }, { "bcc", "not-an-address", "email address" },
        { "client_id", 0, "positive integer or json.null" }, { "time_to_wait_in_mins", -3, "from 0 to" },
        { "is_suspended", "no", "boolean" }, { "custom_tracking_url", 80, "must be a string" },
        { "signature", BIG, "longer than 65536" }, { "signature", "x\0y", "NUL" },
        { "signature", "\xff\xfe", "UTF-8" },
      }
      for _, c in ipairs(cases) do
        refused(M, c[1], { '"' .. c[1] .. '"', c[3] }, client:update_email_account(3002, { [c[1]] = c[2] }))
      end
    end)

    it("refuses unknown fields with a suggestion", function()
      refused(M, "max_emails_per_day", { 'unknown field "max_emails_per_day"', 'did you mean "max_email_per_day"' },
              client:update_email_account(3002, { max_emails_per_day = 30 }))
      refused(M, "message_per_day", 'did you mean "max_email_per_day"? the API spells it so in requests',
              client:update_email_account(3002, { message_per_day = 30 }))
      refused(M, "custom_tracking_domain", 'did you mean "custom_tracking_url"',
              client:update_email_account(3002, { custom_tracking_domain = "t.example.com" }))
      -- credentials change through save with id, not here
      refused(M, "password", 'unknown field "password"', client:update_email_account(3002, { password = "x" }))
    end)

    it("raises when the fields are missing and refuses nothing valid", function()
      raises("table expected", client.update_email_account, client, 3002)
      raises("table expected", client.update_email_account, client, 3002, "max=5")
      -- json.null clears client_id: allowed and sent as null
      assert(client:update_email_account(3002, { client_id = json.null }))
      assert.equal(json.null, support.last_request(server).body.client_id)
    end)
  end)

  ---------------------------------------------------------------------------- id lists

  for _, M in ipairs { "add_campaign_email_accounts", "remove_campaign_email_accounts" } do
    describe(M, function()
      local F = "email_account_ids"

      it("refuses an empty list and a table that is not a list", function()
        refused(M, F, { F, "is empty" }, client[M](client, 4104, {}))
        for _, bad in ipairs { { a = 3003 }, { 3003, nil, 3005 }, { 3003, 3005, extra = 1 }, { [2] = 3003 } } do
          refused(M, F, { F, "must be a list" }, client[M](client, 4104, bad))
        end
      end)

      it("refuses duplicates, zero, negatives, fractions and strings", function()
        refused(M, F, { F, "3003 twice" }, client[M](client, 4104, { 3003, 3005, 3003.0 }))
        refused(M, F, { F .. "[2]", "positive integer", "got 2.5" }, client[M](client, 4104, { 3003, 2.5 }))
        refused(M, F, { F .. "[1]", "got 0" }, client[M](client, 4104, { 0 }))
        refused(M, F, { F .. "[1]", "got -3" }, client[M](client, 4104, { -3 }))
        refused(M, F, { F .. "[2]", "got a string" }, client[M](client, 4104, { 3003, "3005" }))
        refused(M, F, { F .. "[1]", "got a table" }, client[M](client, 4104, { { id = 3003 } }))
        refused(M, F, { F .. "[1]", "got a boolean" }, client[M](client, 4104, { true }))
      end)

      it("refuses more than 2,500 ids", function()
        local ids = {}
        for i = 1, 2501 do ids[i] = 100000 + i end
        refused(M, F, { F, "2501 ids", "at most 2500" }, client[M](client, 4104, ids))
      end)

      it("sends 2,500 ids (the limit) as integers", function()
        local ids = {}
        for i = 1, 2500 do ids[i] = (100000 + i) * 1.0 end
        local res, err = client[M](client, 4104, ids)
        assert.is_nil(res)
        assert.equal("http", err.kind) -- the mock refuses ids that are not ours: what matters is it was sent
        local req = support.last_request(server)
        assert.equal(2500, #req.body.email_account_ids)
        assert.equal("integer", math.type(req.body.email_account_ids[2500]))
        assert.equal(1, #server:log())
      end)

      it("raises when the ids are missing or not a table", function()
        raises("table expected", client[M], client, 4104)
        raises("table expected", client[M], client, 4104, "3003,3005")
        raises("table expected", client[M], client, 4104, 3003)
      end)
    end)
  end

  ---------------------------------------------------------------------------- one account

  describe("get_email_account", function()
    local M = "get_email_account"

    it("refuses unknown or mistyped options", function()
      refused(M, "fetch_campaign", { 'unknown field "fetch_campaign"', 'did you mean "fetch_campaigns"' },
              client:get_email_account(3001, { fetch_campaign = true }))
      refused(M, "fetch_tags", { '"fetch_tags"', "boolean" }, client:get_email_account(3001, { fetch_tags = "yes" }))
      refused(M, "limit", 'unknown field "limit"', client:get_email_account(3001, { limit = 5 }))
      raises("table expected", client.get_email_account, client, 3001, "fetch_tags")
    end)
  end)

  describe("get_email_account_by_email", function()
    local M = "get_email_account_by_email"

    it("refuses what is not an address, without sending it", function()
      for _, bad in ipairs { "", "plain", "a@b", "a@@b.io", "a b@c.io", "a@b..io", "a@b.io\0x", "caf\xe9@b.io", 12 } do
        refused(M, "email", { "is not an email address" }, client:get_email_account_by_email(bad))
      end
      local res, err = client:get_email_account_by_email("x\0@b.io")
      refused(M, "email", "(unprintable)", res, err)
    end)

    it("raises when the address is missing or a table", function()
      raises("string expected", client.get_email_account_by_email, client)
      raises("string expected", client.get_email_account_by_email, client, { email = "a@b.io" })
    end)
  end)

  describe("get_campaign_email_accounts and get_warmup_stats", function()
    it("take only the id", function()
      refused("get_campaign_email_accounts", "campaign_id", "campaign_id must be a positive integer, got 0",
              client:get_campaign_email_accounts(0))
      refused("get_warmup_stats", "email_account_id", "email_account_id must be a positive integer, got -7",
              client:get_warmup_stats(-7))
    end)
  end)

  ---------------------------------------------------------------------------- warmup

  describe("update_warmup", function()
    local M = "update_warmup"

    it("requires warmup_enabled as a boolean", function()
      refused(M, "warmup_enabled", 'missing required field "warmup_enabled"', client:update_warmup(3001, {}))
      refused(M, "warmup_enabled", 'missing required field "warmup_enabled"',
              client:update_warmup(3001, { total_warmup_per_day = 10 }))
      refused(M, "warmup_enabled", { '"warmup_enabled"', "boolean", 'got "yes"' },
              client:update_warmup(3001, { warmup_enabled = "yes" }))
    end)

    it("refuses out-of-range and mistyped settings", function()
      local cases = {
        { "reply_rate_percentage", 101, "from 0 to 100" }, { "reply_rate_percentage", -1, "from 0 to 100" },
        { "total_warmup_per_day", -1, "from 0 to" }, { "daily_rampup", 1.5, "integer" },
        { "warmup_key_id", "", "must not be empty" }, { "warmup_key_id", -7, "integer >= 0" },
        { "warmup_key_id", true, "string or an integer" }, { "auto_adjust_warmup", "yes", "boolean" },
        { "is_rampup_enabled", 1, "boolean" },
      }
      for _, c in ipairs(cases) do
        refused(M, c[1], { '"' .. c[1] .. '"', c[3] },
          client:update_warmup(3001, { warmup_enabled = true, [c[1]] = c[2] }))
      end
    end)

    it("refuses unknown settings with a suggestion", function()
      refused(M, "warmup_enable", 'did you mean "warmup_enabled"', client:update_warmup(3001, { warmup_enable = true }))
      refused(M, "reply_rate", { 'unknown field "reply_rate"', 'did you mean "reply_rate_percentage"' },
              client:update_warmup(3001, { warmup_enabled = true, reply_rate = 30 }))
      raises("table expected", client.update_warmup, client, 3001)
    end)
  end)

  ---------------------------------------------------------------------------- reconnect

  describe("reconnect_failed_email_accounts", function()
    it("has no input to refuse: it posts {} and never forwards an argument", function()
      assert(client:reconnect_failed_email_accounts { force = true })
      local log = server:log()
      assert.equal(1, #log)
      assert.same({}, log[1].body)
    end)
  end)

  describe("a closed client", function()
    it("raises for every method and sends nothing", function()
      local c = server:client()
      c:close()
      c:close() -- twice is fine
      local calls = {
        { "get_email_accounts", {} }, { "add_smtp_account", smtp_fields() }, { "add_oauth_account", oauth_fields() },
        { "update_email_account", 3002, { from_name = "x" } }, { "add_campaign_email_accounts", 4104, { 3003 } },
        { "get_email_account", 3001 }, { "get_email_account_by_email", "a@b.io" },
        { "get_campaign_email_accounts", 4104 }, { "remove_campaign_email_accounts", 4104, { 3003 } },
        { "update_warmup", 3001, { warmup_enabled = true } }, { "get_warmup_stats", 3001 },
        { "reconnect_failed_email_accounts" }, { "request", "GET", "/email-accounts/" },
      }
      for _, call in ipairs(calls) do
        raises("closed smartlead.Client", c[call[1]], c, table.unpack(call, 2))
      end
      assert.equal("smartlead.Client(closed)", tostring(c))
    end)
  end)

  ---------------------------------------------------------------------------- request

  describe("request", function()
    local M = "request"

    it("refuses paths that try to leave the API or carry a query", function()
      local bad = { "/x/../y", "/..", "/a/..", "/a/./b", "/a/.", "/.", "/a//b", "//evil.example.com/x",
                    "/a?b=c", "/a#frag", "/a%2e%2e/b", "/a b", "/a\\b", "/a\nb", "/caf\xc3\xa9",
                    "relative", "email-accounts/", "", "http://evil.example.com/x" }
      for _, path in ipairs(bad) do
        local res, err = client:request("GET", path)
        refused(M, "path", "path ", res, err)
        assert.equal("(refused)", err.path)
      end
    end)

    it("refuses api_key in the query, in any case", function()
      for _, name in ipairs { "api_key", "API_KEY", "Api_Key" } do
        local res, err = client:request("GET", "/email-accounts/", { query = { limit = 1, [name] = "other-key-123" } })
        refused(M, "query", "must not carry api_key", res, err)
        assert.is_nil(tostring(err):find("other-key-123", 1, true))
      end
    end)

    it("refuses queries that cannot be a query string", function()
      refused(M, "query", "must be a string, number or boolean",
        client:request("GET", "/email-accounts/", { query = { x = {} } }))
      refused(M, "query", "must be named", client:request("GET", "/email-accounts/", { query = { "positional" } }))
      refused(M, "query", "without NUL", client:request("GET", "/email-accounts/", { query = { username = "a\0b" } }))
      refused(M, "query", "must be a table", client:request("GET", "/email-accounts/", { query = "limit=5" }))
    end)

    it("refuses hostile bodies: cycles, functions, threads, userdata, NaN, deep nesting", function()
      local direct = {}
      direct.self = direct
      local a, b = {}, {}
      a.b, b.a = b, a
      local list = { 1, 2 }
      list[3] = list
      local deep = {}
      local t = deep
      for _ = 1, 150 do t.x = {}; t = t.x end
      local cases = {
        { direct, "contains itself" }, { a, "contains itself" }, { { items = list }, "contains itself" },
        { { f = print }, "function" }, { { co = coroutine.create(print) }, "thread" },
        { { out = io.stdout }, "userdata" }, { { n = 0 / 0 }, "NaN or infinity" },
        { { n = -math.huge }, "NaN or infinity" }, { deep, "nested more than 100 deep" },
        { { 1, x = 2 }, "mixes array items" }, { { [true] = 1 }, "non-string keys" },
        { { s = "\xff" }, "not valid UTF-8" },
      }
      for _, c in ipairs(cases) do
        refused(M, "body", { "body: ", c[2] }, client:request("POST", "/email-accounts/3002", { body = c[1] }))
      end
    end)

    it("raises on a bad method or options that are not a table", function()
      raises("method must be GET, POST", client.request, client, "FETCH", "/email-accounts/")
      raises("method must be GET, POST", client.request, client, "get", "/email-accounts/")
      raises("table expected", client.request, client, "GET", "/email-accounts/", "limit=1")
      raises("string expected", client.request, client, "GET")
    end)
  end)

  ---------------------------------------------------------------------------- the caller's tables

  describe("the tables passed in", function()
    it("are left as they were, whether the call is refused or sent", function()
      local inputs = {
        { "add_smtp_account", with(smtp_fields(), { smtp_port = 587.0, max_email_per_day = 40.0 }) },
        { "add_smtp_account", with(smtp_fields(), { smtp_port = 70000 }) },
        { "add_oauth_account", oauth_fields() },
        { "get_email_accounts", { is_in_use = true, warmup_status = "ACTIVE", limit = 10.0 } },
        { "get_email_accounts", { is_in_use = true, isInUse = false } },
        { "update_email_account", 3002, { max_email_per_day = 12.0, client_id = json.null } },
        { "update_email_account", 3002, { max_emails_per_day = 12 } },
        { "add_campaign_email_accounts", 4104, { 3003.0, 3005 } },
        { "remove_campaign_email_accounts", 4104, { 3003, 3003 } },
        { "update_warmup", 3001, { warmup_enabled = true, daily_rampup = 2.0 } },
        { "get_email_account", 3001, { fetch_tags = true } },
      }
      for _, call in ipairs(inputs) do
        local arg = call[#call]
        local before = deep_copy(arg)
        local mt = getmetatable(arg)
        client[call[1]](client, table.unpack(call, 2))
        assert.is_true(identical(before, arg), call[1] .. " changed its argument")
        assert.equal(mt, getmetatable(arg))
      end
      local opts = { query = { limit = 2.0 }, body = { max_email_per_day = 3.0 } }
      local before = deep_copy(opts)
      client:request("POST", "/email-accounts/3002", opts)
      assert.is_true(identical(before, opts))
    end)
  end)
end)
