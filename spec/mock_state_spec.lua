-- Drives the mock server's handler directly (no HTTP): values, state changes, error shapes,
-- the request log, fault reproducibility and the rate limit.

local json = require "smartlead.json"
local mock = require "smartlead.mock"

local SEED_PATH = "spec/fixtures/seed.json"
local KEY, OTHER_KEY = "test-key-0001", "test-key-2002"
local OWN, OTHER = 1001, 2002
local T0 = 1717200000 -- 2024-06-01T00:00:00Z

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local SEED = assert(json.decode(read_file(SEED_PATH)))

---------------------------------------------------------------------------- helpers

local function new_server(opts)
  opts = opts or {}
  opts.api_key, opts.other_keys = KEY, { [OTHER_KEY] = OTHER }
  local server = mock.new(SEED, opts)
  server.clock = T0
  server.now = function() return server.clock end
  return server
end

-- Returns status, decoded body (nil when empty or not JSON), raw answer.
local function call(server, method, path, query, body, key)
  local q = {}
  for k, v in pairs(query or {}) do q[k] = v end
  if key ~= false then q.api_key = key or KEY end
  if type(body) == "table" then body = json.encode(body) end
  local r = server:handle({ method = method, path = "/api/v1" .. path, query = q, body = body or "",
    headers = { ["content-type"] = "application/json" } })
  return r.status, r.body ~= "" and json.decode(r.body) or nil, r
end

local function admin(server, method, path, body)
  local r = server:handle({ method = method, path = "/__mock/" .. path, query = {}, body = body or "", headers = {} })
  return r.status, json.decode(r.body), r
end

local function state_account(server, id)
  local _, state = admin(server, "GET", "state")
  for _, a in ipairs(state.accounts) do
    if a.id == id then return a end
  end
end

local function state_campaign(server, id)
  local _, state = admin(server, "GET", "state")
  for _, c in ipairs(state.campaigns) do
    if c.id == id then return c end
  end
end

local function ids_of(list)
  local out = {}
  for i, a in ipairs(list) do out[i] = a.id end
  return out
end

local function seed_accounts(pred, user)
  local out = {}
  for _, a in ipairs(SEED.accounts) do
    if a.user_id == (user or OWN) and (not pred or pred(a)) then out[#out + 1] = a end
  end
  return out
end

local function seed_membership()
  local count = {}
  for _, c in ipairs(SEED.campaigns) do
    for _, id in ipairs(c.email_account_ids) do count[id] = (count[id] or 0) + 1 end
  end
  return count
end

local function seed_campaign(id)
  for _, c in ipairs(SEED.campaigns) do
    if c.id == id then return c end
  end
end

-- Lists everything matching the query by paging (limit 100).
local function list_all(server, query, key)
  local all, offset = {}, 0
  while true do
    local q = { limit = "100", offset = tostring(offset) }
    for k, v in pairs(query or {}) do q[k] = v end
    local status, page = call(server, "GET", "/email-accounts/", q, nil, key)
    assert.equals(200, status)
    for _, a in ipairs(page) do all[#all + 1] = a end
    if #page < 100 then return all end
    offset = offset + 100
  end
end

local function b64decode(s)
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local bits = s:gsub("=", ""):gsub(".", function(c)
    local n, t = alphabet:find(c, 1, true) - 1, {}
    for i = 5, 0, -1 do t[#t + 1] = (n >> i) & 1 end
    return table.concat(t)
  end)
  bits = bits:sub(1, #bits - #bits % 8)
  return (bits:gsub("%d%d%d%d%d%d%d%d", function(b) return string.char(tonumber(b, 2)) end))
end

local function validation(source, key, message)
  return { statusCode = 400, error = "Bad Request", message = message,
    validation = { source = source, keys = { key } } }
end

local function smtp_body(overrides)
  local b = { from_name = "New Sender", from_email = "new.sender@example-new.com",
    user_name = "new.sender@example-new.com", password = "FAKEPW-NEW-SECRET", smtp_host = "smtp.example-new.com",
    smtp_port = 587, imap_host = "imap.example-new.com", imap_port = 993, warmup_enabled = false }
  for k, v in pairs(overrides or {}) do b[k] = v end
  return b
end

local function oauth_body(overrides)
  local b = { from_name = "OAuth Sender", from_email = "oauth.sender@example-new.com",
    username = "oauth.sender@example-new.com", type = "GMAIL", warmup_enabled = true,
    use_whitelabel_credentials = false,
    token = { token_type = "Bearer", access_token = "ya29.FAKE-ACCESS", refresh_token = "1//FAKE-REFRESH",
      expiry_date = 1893456000000, scope = "https://mail.google.com/", id_token = "FAKE-ID-TOKEN" } }
  for k, v in pairs(overrides or {}) do b[k] = v end
  return b
end

local function find_healthy(exclude_campaign)
  local members = {}
  for _, id in ipairs(exclude_campaign and seed_campaign(exclude_campaign).email_account_ids or {}) do
    members[id] = true
  end
  return seed_accounts(function(a)
    return a.is_smtp_success and a.is_imap_success and not a.is_suspended and not members[a.id]
  end)
end

---------------------------------------------------------------------------- fixtures

describe("fixture seed.json", function()
  it("has enough own accounts, a few foreign ones and stays small", function()
    assert.is_true(#seed_accounts() >= 250)
    assert.equals(5, #seed_accounts(nil, OTHER))
    assert.is_true(#read_file(SEED_PATH) < 400 * 1024)
  end)

  it("covers every account variant", function()
    local seen, membership = {}, seed_membership()
    for _, a in ipairs(seed_accounts()) do
      local w = a.warmup_details
      seen[a.type] = true
      if w == json.null then seen.warmup_null = true
      else
        if tonumber(w.warmup_reputation:match("^(%d+)%%$")) < 70 then seen.rep_60s = true end
        if w.warmup_reputation == "100%" then seen.rep_100 = true end
        if w.blocked_reason ~= json.null then seen.blocked = true end
      end
      if not a.is_smtp_success and a.smtp_failure_error ~= json.null then seen.smtp_failed = true end
      if not a.is_imap_success and a.imap_failure_error ~= json.null then seen.imap_failed = true end
      seen[a.client_id == json.null and "client_null" or "client_set"] = true
      seen["tags" .. #a.tags] = true
      seen["campaigns" .. math.min(membership[a.id] or 0, 2)] = true
      if a.daily_sent_count > a.message_per_day then seen.over_limit = true end
      if a.is_suspended then seen.suspended = true end
      if type(a.password) == "string" then assert.matches("^FAKE", a.password) end
    end
    for _, want in ipairs({ "GMAIL", "OUTLOOK", "SMTP", "ZOHO", "warmup_null", "rep_60s", "rep_100",
      "blocked", "smtp_failed", "imap_failed", "client_null", "client_set", "tags0", "tags1", "tags2",
      "campaigns0", "campaigns1", "campaigns2", "over_limit", "suspended" }) do
      assert.is_true(seen[want] == true, "missing variant " .. want)
    end
  end)

  it("has campaigns of every status, an empty one and an ACTIVE one with one account", function()
    local statuses, empty, single = {}, false, false
    for _, c in ipairs(SEED.campaigns) do
      statuses[c.status] = true
      if #c.email_account_ids == 0 then empty = true end
      if c.status == "ACTIVE" and #c.email_account_ids == 1 then single = true end
    end
    assert.same({ ACTIVE = true, PAUSED = true, DRAFTED = true, COMPLETED = true, STOPPED = true, ARCHIVED = true },
      statuses)
    assert.is_true(empty and single)
  end)

  it("is reproduced byte for byte by the generator", function()
    local tmp = os.tmpname()
    assert.is_true(os.execute("lua5.4 spec/fixtures/generate.lua " .. tmp .. " 2>/dev/null"))
    local again = read_file(tmp)
    os.remove(tmp)
    assert.equals(read_file(SEED_PATH), again)
  end)
end)

---------------------------------------------------------------------------- auth and routing

describe("auth and routing", function()
  local server
  before_each(function() server = new_server() end)

  it("answers 401 for a missing or wrong key", function()
    local status, body = call(server, "GET", "/email-accounts/", {}, nil, false)
    assert.equals(401, status)
    assert.same({ message = "Invalid API Key" }, body)
    status = call(server, "GET", "/email-accounts/", {}, nil, "nope")
    assert.equals(401, status)
  end)

  it("shows another key only its own accounts", function()
    local list = list_all(server, {}, OTHER_KEY)
    assert.same(ids_of(seed_accounts(nil, OTHER)), ids_of(list))
    assert.equals(404, (call(server, "GET", "/email-accounts/" .. list[1].id)))
    assert.equals(200, (call(server, "GET", "/email-accounts/" .. list[1].id, {}, nil, OTHER_KEY)))
  end)

  it("answers 404 with Express's Cannot METHOD page for unknown paths and wrong methods", function()
    local status, _, r = call(server, "GET", "/xyz")
    assert.equals(404, status)
    assert.matches("^text/html", r.headers["Content-Type"])
    assert.matches("<pre>Cannot GET /api/v1/xyz</pre>", r.body, 1, true)
    _, _, r = call(server, "PATCH", "/email-accounts/3001")
    assert.matches("<pre>Cannot PATCH /api/v1/email-accounts/3001</pre>", r.body, 1, true)
    status = call(server, "GET", "/email-accounts/save")
    assert.equals(404, status)
    _, _, r = call(server, "POST", "/email-accounts/create", {}, {})
    assert.matches("<pre>Cannot POST /api/v1/email-accounts/create</pre>", r.body, 1, true)
  end)

  it("answers 400 for a body that is not JSON", function()
    local status, body = call(server, "POST", "/email-accounts/3001", {}, "{not json")
    assert.equals(400, status)
    assert.same({ statusCode = 400, error = "Bad Request", message = "Invalid JSON body" }, body)
  end)

  it("rejects unknown query parameters on any endpoint", function()
    local status, body = call(server, "GET", "/campaigns/4101/email-accounts", { foo = "1" })
    assert.equals(400, status)
    assert.same(validation("query", "foo", '"foo" is not allowed'), body)
  end)
end)

---------------------------------------------------------------------------- list

describe("GET /email-accounts/", function()
  local server
  before_each(function() server = new_server() end)

  it("pages through own accounts sorted by id, 100 by default", function()
    local status, first, r = call(server, "GET", "/email-accounts/")
    assert.equals(200, status)
    assert.equals("application/json", r.headers["Content-Type"])
    assert.equals(100, #first)
    local all = list_all(server)
    assert.same(ids_of(seed_accounts()), ids_of(all))
    local _, last = call(server, "GET", "/email-accounts", { offset = "200", limit = "100" })
    assert.equals(#seed_accounts() - 200, #last)
    local _, beyond = call(server, "GET", "/email-accounts", { offset = "100000" })
    assert.equals("[]", select(3, call(server, "GET", "/email-accounts", { offset = "100000" })).body)
    assert.same({}, beyond)
  end)

  it("answers every documented field with base64 passwords", function()
    local _, page, r = call(server, "GET", "/email-accounts/", { limit = "1" })
    local a, s = page[1], SEED.accounts[1]
    for _, f in ipairs({ "id", "created_at", "updated_at", "user_id", "from_name", "from_email", "username",
      "password", "smtp_host", "smtp_port", "smtp_port_type", "message_per_day", "daily_sent_count",
      "different_reply_to_address", "is_different_imap_account", "imap_username", "imap_password",
      "imap_host", "imap_port", "imap_port_type", "signature", "custom_tracking_domain", "bcc_email",
      "is_smtp_success", "is_imap_success", "smtp_failure_error", "imap_failure_error", "type",
      "client_id", "expires_at", "minTimeToWaitInMins", "campaign_count", "is_connected_to_campaign",
      "tags", "warmup_details" }) do
      assert.is_not_nil(a[f], "missing " .. f)
    end
    assert.equals(s.password, b64decode(a.password))
    assert.is_nil(r.body:find(s.password, 1, true))
    assert.is_nil(a.campaign_ids)
    assert.is_nil(a.is_suspended)
    assert.matches("^%d+%%$", a.warmup_details.warmup_reputation)
    assert.is_true(json.is_array(a.tags))
  end)

  it("always sends tags as an array, [] when empty", function()
    local untagged = seed_accounts(function(a) return #a.tags == 0 end)[1]
    local _, _, r = call(server, "GET", "/email-accounts/", { username = untagged.username })
    assert.truthy(r.body:find('"tags":[]', 1, true))
  end)

  it("counts campaigns and adds campaign_ids with fetch_campaigns", function()
    local membership = seed_membership()
    for _, a in ipairs(list_all(server, { fetch_campaigns = "true" })) do
      assert.equals(membership[a.id] or 0, a.campaign_count)
      assert.equals(a.campaign_count > 0, a.is_connected_to_campaign)
      assert.equals(a.campaign_count, #a.campaign_ids)
    end
  end)

  it("applies each filter as documented", function()
    local membership = seed_membership()
    local function expect(query, pred)
      assert.same(ids_of(seed_accounts(pred)), ids_of(list_all(server, query)))
    end
    expect({ isInUse = "true" }, function(a) return (membership[a.id] or 0) > 0 end)
    expect({ isInUse = "false" }, function(a) return not membership[a.id] end)
    expect({ emailWarmupStatus = "ACTIVE" }, function(a)
      return a.warmup_details ~= json.null and a.warmup_details.status == "ACTIVE" end)
    expect({ emailWarmupStatus = "INACTIVE" }, function(a)
      return a.warmup_details == json.null or a.warmup_details.status ~= "ACTIVE" end)
    expect({ isSmtpSuccess = "false" }, function(a) return not a.is_smtp_success end)
    expect({ isWarmupBlocked = "true" }, function(a)
      return a.warmup_details ~= json.null and a.warmup_details.is_warmup_blocked end)
    expect({ esp = "SMTP" }, function(a) return a.type == "SMTP" end)
    expect({ esp = "OUTLOOK" }, function(a) return a.type == "OUTLOOK" end)
    expect({ client_id = "12" }, function(a) return a.client_id == 12 end)
    expect({ username = "OLIVIA" }, function(a) return a.username:lower():find("olivia", 1, true) end)
    expect({ esp = "GMAIL", isSmtpSuccess = "true" }, function(a) return a.type == "GMAIL" and a.is_smtp_success end)
  end)

  it("returns ZOHO accounts only unfiltered", function()
    local zoho = seed_accounts(function(a) return a.type == "ZOHO" end)
    assert.is_true(#zoho > 0)
    local seen = {}
    for _, esp in ipairs({ "GMAIL", "OUTLOOK", "SMTP" }) do
      for _, a in ipairs(list_all(server, { esp = esp })) do seen[a.type] = true end
    end
    assert.is_nil(seen.ZOHO)
  end)

  it("rejects bad query values with the validation body", function()
    local cases = {
      { { isInUse = "yes" }, "isInUse", '"isInUse" must be a boolean' },
      { { isSmtpSuccess = "1" }, "isSmtpSuccess", '"isSmtpSuccess" must be a boolean' },
      { { limit = "0" }, "limit", '"limit" must be greater than or equal to 1' },
      { { limit = "ten" }, "limit", '"limit" must be a number' },
      { { offset = "-1" }, "offset", '"offset" must be greater than or equal to 0' },
      { { esp = "ZOHO" }, "esp", '"esp" must be one of [GMAIL, OUTLOOK, SMTP]' },
      { { emailWarmupStatus = "active" }, "emailWarmupStatus",
        '"emailWarmupStatus" must be one of [ACTIVE, INACTIVE]' },
      { { client_id = "x" }, "client_id", '"client_id" must be a number' },
      { { foo = "bar" }, "foo", '"foo" is not allowed' },
    }
    for _, case in ipairs(cases) do
      local status, body = call(server, "GET", "/email-accounts/", case[1])
      assert.equals(400, status)
      assert.same(validation("query", case[2], case[3]), body)
    end
  end)

  it("answers 422 for limit over 100, or [] with the knob", function()
    local status, body = call(server, "GET", "/email-accounts/", { limit = "101" })
    assert.equals(422, status)
    assert.same({ error = "limit must be less than or equal to 100" }, body)
    admin(server, "POST", "config", '{"limit_over_100":"empty"}')
    local _, r
    status, _, r = call(server, "GET", "/email-accounts/", { limit = "500" })
    assert.equals(200, status)
    assert.equals("[]", r.body)
  end)
end)

---------------------------------------------------------------------------- single account

describe("single account reads", function()
  local server
  before_each(function() server = new_server() end)

  it("GET /email-accounts/{id}/ adds is_suspended and campaigns on request; tags always", function()
    local suspended = seed_accounts(function(a) return a.is_suspended and #a.tags > 0 end)[1]
      or seed_accounts(function(a) return a.is_suspended end)[1]
    local status, a = call(server, "GET", "/email-accounts/" .. suspended.id .. "/")
    assert.equals(200, status)
    assert.is_true(a.is_suspended)
    assert.equals(#suspended.tags, #a.tags)
    local _, b = call(server, "GET", "/email-accounts/" .. suspended.id,
      { fetch_tags = "true", fetch_campaigns = "true" })
    assert.equals(#suspended.tags, #b.tags)
    assert.is_true(json.is_array(b.campaign_ids))
    local _, c = call(server, "GET", "/email-accounts/" .. SEED.accounts[1].id)
    assert.is_false(c.is_suspended)
  end)

  it("GET one answers 404 for unknown and foreign ids", function()
    local foreign = seed_accounts(nil, OTHER)[1]
    for _, id in ipairs({ 999999, foreign.id }) do
      local status, body = call(server, "GET", "/email-accounts/" .. id)
      assert.equals(404, status)
      assert.same({ error = "Email account not found" }, body)
    end
  end)

  it("fetch-email-account-details finds connected accounts by address", function()
    local good = seed_accounts(function(a) return a.is_smtp_success end)[1]
    local status, a = call(server, "GET", "/email-accounts/fetch-email-account-details",
      { email = good.from_email:upper() })
    assert.equals(200, status)
    assert.equals(good.id, a.id)
    assert.is_nil(a.is_suspended)
    local failed = seed_accounts(function(x) return not x.is_smtp_success end)[1]
    status = call(server, "GET", "/email-accounts/fetch-email-account-details", { email = failed.from_email })
    assert.equals(404, status)
    local _, body = call(server, "GET", "/email-accounts/fetch-email-account-details", { email = "nobody@nowhere.io" })
    assert.same({ error = "Email account not found" }, body)
  end)

  it("fetch-email-account-details validates the email parameter", function()
    local status, body = call(server, "GET", "/email-accounts/fetch-email-account-details")
    assert.equals(400, status)
    assert.same(validation("query", "email", '"email" is required'), body)
    body = select(2, call(server, "GET", "/email-accounts/fetch-email-account-details", { email = "not-an-email" }))
    assert.same(validation("query", "email", '"email" must be a valid email'), body)
  end)
end)

---------------------------------------------------------------------------- save

describe("POST /email-accounts/save", function()
  local server
  before_each(function() server = new_server() end)

  local function max_id()
    local m = 0
    for _, a in ipairs(SEED.accounts) do m = math.max(m, a.id) end
    return m
  end

  it("creates an SMTP account with the next id and stores the clear password", function()
    local status, body = call(server, "POST", "/email-accounts/save", {}, smtp_body({ max_email_per_day = 40,
      bcc = "bcc@example-new.com", time_to_wait_in_mins = 7, custom_tracking_url = "trk.example-new.com" }))
    assert.equals(200, status)
    assert.equals(true, body.ok)
    assert.equals("Email account added/updated successfully!", body.message)
    assert.equals(max_id() + 1, body.emailAccountId)
    assert.matches("^%l+%-%l+$", body.warmupKey)
    local a = state_account(server, body.emailAccountId)
    assert.equals("FAKEPW-NEW-SECRET", a.password)
    assert.equals("SMTP", a.type)
    assert.equals("new.sender@example-new.com", a.username)
    assert.equals(40, a.message_per_day)
    assert.equals("bcc@example-new.com", a.bcc_email)
    assert.equals(7, a.minTimeToWaitInMins)
    assert.equals("trk.example-new.com", a.custom_tracking_domain)
    assert.equals(json.null, a.warmup_details)
    local _, second = call(server, "POST", "/email-accounts/save", {},
      smtp_body({ from_email = "second@example-new.com", warmup_enabled = true, type = "OUTLOOK" }))
    assert.equals(max_id() + 2, second.emailAccountId)
    local b = state_account(server, second.emailAccountId)
    assert.equals("OUTLOOK", b.type)
    assert.equals("ACTIVE", b.warmup_details.status)
  end)

  it("keeps IMAP credentials apart only when they differ", function()
    local _, body = call(server, "POST", "/email-accounts/save", {},
      smtp_body({ imap_user_name = "imap-user", imap_password = "FAKEIMAP-X", smtp_port = 465 }))
    local a = state_account(server, body.emailAccountId)
    assert.same({ "imap-user", "FAKEIMAP-X", true, "SSL" },
      { a.imap_username, a.imap_password, a.is_different_imap_account, a.smtp_port_type })
    call(server, "POST", "/email-accounts/save", {}, smtp_body({ id = a.id, password = "FAKEPW-2" }))
    a = state_account(server, a.id)
    assert.same({ "FAKEPW-2", "FAKEIMAP-X", true }, { a.password, a.imap_password, a.is_different_imap_account })
    _, body = call(server, "POST", "/email-accounts/save", {}, smtp_body({ from_email = "plain@example-new.com" }))
    a = state_account(server, body.emailAccountId)
    assert.same({ "FAKEPW-NEW-SECRET", false }, { a.imap_password, a.is_different_imap_account })
  end)

  it("answers ACCOUNT_ALREADY_EXIST for an existing address, case-insensitively", function()
    local existing = SEED.accounts[1]
    local status, body = call(server, "POST", "/email-accounts/save", {},
      smtp_body({ from_email = existing.from_email:upper() }))
    assert.equals(400, status)
    assert.same({ ok = false, message = "Email account already exist. Please pass id to update it",
      errorCode = "ACCOUNT_ALREADY_EXIST", emailAccountId = existing.id }, body)
    local foreign = seed_accounts(nil, OTHER)[1]
    status, body = call(server, "POST", "/email-accounts/save", {}, smtp_body({ from_email = foreign.from_email }))
    assert.equals(400, status)
    assert.same({ ok = false, message = "Email account already added by other user",
      errorCode = "ACCOUNT_ALREADY_EXIST", emailAccountId = json.null }, body)
  end)

  it("updates credentials when given an own id and answers 404 for an unknown one", function()
    local failed = seed_accounts(function(a) return not a.is_smtp_success end)[1]
    local status, body = call(server, "POST", "/email-accounts/save", {}, smtp_body({ id = failed.id,
      from_email = failed.from_email, password = "FAKEPW-ROTATED" }))
    assert.equals(200, status)
    assert.equals(failed.id, body.emailAccountId)
    local a = state_account(server, failed.id)
    assert.equals("FAKEPW-ROTATED", a.password)
    assert.is_true(a.is_smtp_success)
    status, body = call(server, "POST", "/email-accounts/save", {}, smtp_body({ id = 987654 }))
    assert.equals(404, status)
    assert.equals("ACCOUNT_NOT_FOUND", body.errorCode)
    local foreign = seed_accounts(nil, OTHER)[1]
    status = call(server, "POST", "/email-accounts/save", {}, smtp_body({ id = foreign.id }))
    assert.equals(404, status)
  end)

  it("validates required fields, types and unknown fields", function()
    local missing = smtp_body()
    missing.smtp_port = nil
    local status, body = call(server, "POST", "/email-accounts/save", {}, missing)
    assert.equals(400, status)
    assert.same(validation("payload", "smtp_port", '"smtp_port" is required'), body)
    body = select(2, call(server, "POST", "/email-accounts/save", {}, smtp_body({ warmup_enabled = "yes" })))
    assert.same(validation("payload", "warmup_enabled", '"warmup_enabled" must be a boolean'), body)
    body = select(2, call(server, "POST", "/email-accounts/save", {}, smtp_body({ username = "x" })))
    assert.same(validation("payload", "username", '"username" is not allowed'), body)
    body = select(2, call(server, "POST", "/email-accounts/save", {}, smtp_body({ from_email = "nope" })))
    assert.same(validation("payload", "from_email", '"from_email" must be a valid email'), body)
    status, body = call(server, "POST", "/email-accounts/save", {}, smtp_body({ type = "ZOHO" }))
    assert.equals(422, status)
    assert.same({ error = "type must be one of [GMAIL, OUTLOOK, SMTP]" }, body)
    status = call(server, "POST", "/email-accounts/save", {}, smtp_body({ smtp_port = 70000 }))
    assert.equals(422, status)
    body = select(2, call(server, "POST", "/email-accounts/save", {}, "[1,2]"))
    assert.same(validation("payload", "value", '"value" must be of type object'), body)
    assert.equals(#SEED.accounts, #select(2, admin(server, "GET", "state")).accounts)
  end)

  it("fails verification for hosts containing 'invalid' but still creates the account, marked failing", function()
    local status, body = call(server, "POST", "/email-accounts/save", {},
      smtp_body({ smtp_host = "smtp.invalid.test" }))
    assert.equals(400, status)
    assert.equals(false, body.ok)
    assert.equals("ACCOUNT_VERIFICATION_FAILED", body.errorCode)
    assert.equals("SMTP connection failed", body.message)
    assert.equals("getaddrinfo ENOTFOUND smtp.invalid.test", body.error)
    assert.equals(#SEED.accounts + 1, #select(2, admin(server, "GET", "state")).accounts)
    local a = state_account(server, body.emailAccountId)
    assert.same({ false, "getaddrinfo ENOTFOUND smtp.invalid.test", true },
      { a.is_smtp_success, a.smtp_failure_error, a.is_imap_success })
    -- the same address again is a duplicate, not a second account
    body = select(2, call(server, "POST", "/email-accounts/save", {}, smtp_body({ smtp_host = "smtp.invalid.test" })))
    assert.equals("ACCOUNT_ALREADY_EXIST", body.errorCode)
    assert.equals(#SEED.accounts + 1, #select(2, admin(server, "GET", "state")).accounts)
    -- the newest docs' shape: no code, no id
    admin(server, "POST", "config", '{"verification_answer_shape":"newest"}')
    status, body = call(server, "POST", "/email-accounts/save", {},
      smtp_body({ from_email = "other@example-new.com", imap_host = "imap.invalid.test" }))
    assert.equals(400, status)
    assert.same({ ok = false, message = "IMAP connection failed", error = "getaddrinfo ENOTFOUND imap.invalid.test" },
      body)
    assert.equals(#SEED.accounts + 2, #select(2, admin(server, "GET", "state")).accounts)
  end)

  it("answers the newer data shape with the knob", function()
    admin(server, "POST", "config", '{"save_answer_shape":"data"}')
    local _, body = call(server, "POST", "/email-accounts/save", {}, smtp_body())
    assert.same({ ok = true, message = "Email account added/updated successfully!", data = { id = max_id() + 1 } },
      body)
  end)
end)

describe("POST /email-accounts/save-oauth", function()
  local server
  before_each(function() server = new_server() end)

  it("creates an OAuth account without a password", function()
    local status, body = call(server, "POST", "/email-accounts/save-oauth", {}, oauth_body())
    assert.equals(200, status)
    local a = state_account(server, body.emailAccountId)
    assert.equals("GMAIL", a.type)
    assert.equals("smtp.gmail.com", a.smtp_host)
    assert.equals(json.null, a.password)
    assert.equals("ACTIVE", a.warmup_details.status)
    assert.equals("2030-01-01T00:00:00.000Z", a.expires_at)
  end)

  it("rejects user_name, bad types and bad tokens", function()
    local body = select(2, call(server, "POST", "/email-accounts/save-oauth", {}, oauth_body({ user_name = "x" })))
    assert.same(validation("payload", "user_name", '"user_name" is not allowed'), body)
    local status
    status, body = call(server, "POST", "/email-accounts/save-oauth", {}, oauth_body({ type = "SMTP" }))
    assert.equals(422, status)
    assert.same({ error = "type must be one of [GMAIL, OUTLOOK]" }, body)
    local no_scope = oauth_body()
    no_scope.token.scope = nil
    status, body = call(server, "POST", "/email-accounts/save-oauth", {}, no_scope)
    assert.equals(422, status)
    assert.same({ error = '"token.scope" is required' }, body)
    -- a provider's answer as it comes: no refresh_token, no expiry_date, Microsoft's expires_in
    local ms = oauth_body({ from_email = "ms@outlook-user.com", username = "ms@outlook-user.com", type = "OUTLOOK" })
    ms.token = { token_type = "Bearer", scope = "https://outlook.office.com/.default", access_token = "eyJ0-access",
      expires_in = 3599, ext_expires_in = 3599, id_token = "eyJ0-id" }
    status = call(server, "POST", "/email-accounts/save-oauth", {}, ms)
    assert.equals(200, status)
    local expired = oauth_body()
    expired.token.access_token = "expired"
    body = select(2, call(server, "POST", "/email-accounts/save-oauth", {}, expired))
    assert.same({ ok = false, message = "Invalid or expired OAuth token" }, body)
    body = select(2, call(server, "POST", "/email-accounts/save-oauth", {},
      oauth_body({ use_whitelabel_credentials = "no" })))
    assert.same(validation("payload", "use_whitelabel_credentials",
      '"use_whitelabel_credentials" must be a boolean'), body)
  end)
end)

---------------------------------------------------------------------------- update

describe("POST /email-accounts/{id}", function()
  local server
  before_each(function() server = new_server() end)

  it("updates the mapped fields and updated_at", function()
    local id = SEED.accounts[1].id
    server.clock = T0 + 3600
    local status, body = call(server, "POST", "/email-accounts/" .. id, {}, { max_email_per_day = 77,
      from_name = "Renamed", custom_tracking_url = "t.example.org", bcc = json.null, signature = "<p>x</p>",
      client_id = 13, time_to_wait_in_mins = 9, is_suspended = true })
    assert.equals(200, status)
    assert.same({ ok = true, message = "Email account details updated successfully!", emailAccountId = id }, body)
    local a = state_account(server, id)
    assert.equals(77, a.message_per_day)
    assert.equals("Renamed", a.from_name)
    assert.equals("t.example.org", a.custom_tracking_domain)
    assert.equals(json.null, a.bcc_email)
    assert.equals(13, a.client_id)
    assert.equals(9, a.minTimeToWaitInMins)
    assert.is_true(a.is_suspended)
    assert.equals("2024-06-01T01:00:00.000Z", a.updated_at)
    assert.equals(SEED.accounts[1].password, a.password)
  end)

  it("answers 422 for bad values, 400 for unknown fields, 404 for unknown or foreign ids", function()
    local id = SEED.accounts[1].id
    local status, body = call(server, "POST", "/email-accounts/" .. id, {}, { max_email_per_day = -5 })
    assert.equals(422, status)
    assert.same({ error = "max_email_per_day must be greater than or equal to 0" }, body)
    status, body = call(server, "POST", "/email-accounts/" .. id, {}, { is_suspended = "yes" })
    assert.equals(422, status)
    assert.same({ error = "is_suspended must be a boolean" }, body)
    status, body = call(server, "POST", "/email-accounts/" .. id, {}, { password = "x" })
    assert.equals(400, status)
    assert.same(validation("payload", "password", '"password" is not allowed'), body)
    local not_found = { ok = false, message = "Email account not found", errorCode = "ACCOUNT_NOT_FOUND" }
    for _, bad in ipairs({ 999999, seed_accounts(nil, OTHER)[1].id }) do
      status, body = call(server, "POST", "/email-accounts/" .. bad, {}, { max_email_per_day = 10 })
      assert.equals(404, status)
      assert.same(not_found, body)
    end
    assert.equals(SEED.accounts[1].message_per_day, state_account(server, id).message_per_day)
  end)
end)

---------------------------------------------------------------------------- campaigns

describe("campaign email accounts", function()
  local server
  before_each(function() server = new_server() end)

  it("lists a campaign's accounts, [] when none, 404 when unknown or foreign", function()
    local seeded = seed_campaign(4101)
    local status, list = call(server, "GET", "/campaigns/4101/email-accounts")
    assert.equals(200, status)
    assert.same(seeded.email_account_ids, ids_of(list))
    assert.is_not_nil(list[1].warmup_details)
    local _, _, r = call(server, "GET", "/campaigns/4104/email-accounts")
    assert.equals("[]", r.body)
    for _, cid in ipairs({ 999, 4190 }) do
      local s, body = call(server, "GET", "/campaigns/" .. cid .. "/email-accounts")
      assert.equals(404, s)
      assert.same({ error = "Campaign not found - Invalid campaign_id." }, body)
    end
  end)

  it("attaches accounts, updates counts and ignores repeats", function()
    local healthy = find_healthy(4104)
    local a, b = healthy[1].id, healthy[2].id
    local before = state_account(server, a).campaign_ids
    local status, body = call(server, "POST", "/campaigns/4104/email-accounts", {},
      { email_account_ids = json.array({ a, b, a }) })
    assert.equals(200, status)
    assert.is_true(body.ok)
    assert.equals(2, #body.result)
    assert.equals(4104, body.result[1].email_campaign_id)
    assert.equals(a, body.result[1].email_account_id)
    assert.is_number(body.result[1].id)
    assert.equals("2024-06-01T00:00:00.000Z", body.result[1].updated_at)
    assert.same({ a, b }, state_campaign(server, 4104).email_account_ids)
    assert.equals(#before + 1, #state_account(server, a).campaign_ids)
    local _, again = call(server, "POST", "/campaigns/4104/email-accounts", {},
      { email_account_ids = json.array({ a }) })
    assert.equals(body.result[1].id, again.result[1].id)
    assert.same({ a, b }, state_campaign(server, 4104).email_account_ids)
    local _, one = call(server, "GET", "/email-accounts/" .. a, { fetch_campaigns = "true" })
    assert.is_true(one.is_connected_to_campaign)
    assert.truthy(#one.campaign_ids >= 1)
  end)

  it("refuses foreign or unknown accounts naming the first, changing nothing", function()
    local own = find_healthy(4104)[1].id
    local foreign = seed_accounts(nil, OTHER)[1].id
    local status, body = call(server, "POST", "/campaigns/4104/email-accounts", {},
      { email_account_ids = json.array({ own, foreign, 999999 }) })
    assert.equals(400, status)
    assert.same({ error = "Email account id - " .. foreign .. " not allowed. Permission Error." }, body)
    assert.same({}, state_campaign(server, 4104).email_account_ids)
    body = select(2, call(server, "DELETE", "/campaigns/4101/email-accounts", {},
      { email_account_ids = json.array({ 999999 }) }))
    assert.same({ error = "Email account id - 999999 not allowed. Permission Error." }, body)
  end)

  it("refuses disconnected or suspended accounts unless the knob allows them", function()
    local broken = seed_accounts(function(a) return not a.is_smtp_success end)[1].id
    local status, body = call(server, "POST", "/campaigns/4104/email-accounts", {},
      { email_account_ids = json.array({ broken }) })
    assert.equals(400, status)
    assert.matches("Email account id %- " .. broken, body.error)
    admin(server, "POST", "config", '{"attach_requires_connected":false}')
    status = call(server, "POST", "/campaigns/4104/email-accounts", {}, { email_account_ids = json.array({ broken }) })
    assert.equals(200, status)
  end)

  it("validates the body", function()
    local cases = {
      { {}, '"email_account_ids" is required', "email_account_ids" },
      { { email_account_ids = json.array({}) }, '"email_account_ids" must contain at least 1 items',
        "email_account_ids" },
      { { email_account_ids = 5 }, '"email_account_ids" must be an array', "email_account_ids" },
      { { email_account_id = json.array({ 5 }) }, '"email_account_id" is not allowed', "email_account_id" },
      { { email_account_ids = json.array({ "x" }) }, '"email_account_ids[0]" must be a positive integer',
        "email_account_ids[0]" },
    }
    for _, case in ipairs(cases) do
      local status, body = call(server, "POST", "/campaigns/4101/email-accounts", {}, case[1])
      assert.equals(400, status)
      assert.same(validation("payload", case[3], case[2]), body)
    end
  end)

  it("detaches, counting what was removed", function()
    local members = seed_campaign(4103).email_account_ids
    local status, body = call(server, "DELETE", "/campaigns/4103/email-accounts", {},
      { email_account_ids = json.array({ members[1], members[2], find_healthy(4103)[1].id }) })
    assert.equals(200, status)
    assert.same({ ok = true, result = 2 }, body)
    assert.equals(#members - 2, #state_campaign(server, 4103).email_account_ids)
  end)

  it("keeps at least one account on an ACTIVE campaign; others may empty", function()
    local only = seed_campaign(4102).email_account_ids[1]
    local status, body = call(server, "DELETE", "/campaigns/4102/email-accounts", {},
      { email_account_ids = json.array({ only }) })
    assert.equals(400, status)
    assert.same({ error = "Active campaign must have at least one email account." }, body)
    assert.same({ only }, state_campaign(server, 4102).email_account_ids)
    local members = seed_campaign(4105).email_account_ids
    body = select(2, call(server, "DELETE", "/campaigns/4105/email-accounts", {},
      { email_account_ids = json.array(members) }))
    assert.same({ ok = true, result = #members }, body)
  end)

  it("caps a campaign at 2,500 accounts", function()
    local big = new_server({ extra_accounts = 2600 })
    local ids = json.array({})
    for _, a in ipairs(select(2, admin(big, "GET", "state")).accounts) do
      if a.from_email:match("^bench") then ids[#ids + 1] = a.id end
    end
    local first = json.array({ table.unpack(ids, 1, 2500) })
    assert.equals(200, (call(big, "POST", "/campaigns/4104/email-accounts", {}, { email_account_ids = first })))
    local status, body = call(big, "POST", "/campaigns/4104/email-accounts", {},
      { email_account_ids = json.array({ ids[2501] }) })
    assert.equals(400, status)
    assert.same({ error = "Campaign email account limit exceeded (max 2500)." }, body)
    assert.equals(200, (call(big, "POST", "/campaigns/4104/email-accounts", {},
      { email_account_ids = json.array({ ids[1] }) })))
  end)
end)

---------------------------------------------------------------------------- warmup

describe("warmup", function()
  local server
  before_each(function() server = new_server() end)

  it("creates warmup details for an account that had none", function()
    local cold = seed_accounts(function(a) return a.warmup_details == json.null end)[1]
    local status, body = call(server, "POST", "/email-accounts/" .. cold.id .. "/warmup", {},
      { warmup_enabled = true, total_warmup_per_day = 25, daily_rampup = 3, reply_rate_percentage = 35,
        warmup_key_id = "blue-fox" })
    assert.equals(200, status)
    assert.is_true(body.ok)
    local w = state_account(server, cold.id).warmup_details
    assert.equals("ACTIVE", w.status)
    assert.equals(25, w.max_email_per_day)
    assert.equals(35, w.reply_rate)
    assert.equals("blue-fox", w.warmup_key_id)
    call(server, "POST", "/email-accounts/" .. cold.id .. "/warmup", {}, { warmup_enabled = false })
    assert.equals("INACTIVE", state_account(server, cold.id).warmup_details.status)
  end)

  it("validates the warmup body and the id", function()
    local id = SEED.accounts[1].id
    local status, body = call(server, "POST", "/email-accounts/" .. id .. "/warmup", {}, { total_warmup_per_day = 5 })
    assert.equals(400, status)
    assert.same(validation("payload", "warmup_enabled", '"warmup_enabled" is required'), body)
    status, body = call(server, "POST", "/email-accounts/" .. id .. "/warmup", {},
      { warmup_enabled = true, reply_rate_percentage = 150 })
    assert.equals(422, status)
    assert.same({ error = "reply_rate_percentage must be between 0 and 100" }, body)
    status = call(server, "POST", "/email-accounts/999999/warmup", {}, { warmup_enabled = true })
    assert.equals(404, status)
  end)

  it("answers 7 days of stats with string totals, the same on every read", function()
    local warm = seed_accounts(function(a)
      return a.warmup_details ~= json.null and a.warmup_details.status == "ACTIVE" end)[1]
    local status, s = call(server, "GET", "/email-accounts/" .. warm.id .. "/warmup-stats")
    assert.equals(200, status)
    assert.equals(warm.id, s.id)
    assert.equals(7, #s.stats_by_date)
    local sent, spam, replies = 0, 0, 0
    for _, d in ipairs(s.stats_by_date) do
      assert.equals("integer", math.type(d.sent_count))
      sent, spam, replies = sent + d.sent_count, spam + d.save_from_spam_count, replies + d.reply_count
    end
    assert.equals(tostring(sent), s.sent_count)
    assert.equals(tostring(spam), s.spam_count)
    assert.equals(tostring(sent - spam), s.inbox_count)
    assert.equals(tostring(replies), s.warmup_email_received_count)
    assert.equals("2024-06-01", s.stats_by_date[7].date)
    assert.equals("2024-05-26", s.stats_by_date[1].date)
    assert.same(s, select(2, call(server, "GET", "/email-accounts/" .. warm.id .. "/warmup-stats")))
    assert.equals(404, (call(server, "GET", "/email-accounts/999999/warmup-stats")))
  end)
end)

---------------------------------------------------------------------------- reconnect

describe("reconnect-failed-email-accounts", function()
  local server
  local path = "/email-accounts/reconnect-failed-email-accounts"
  before_each(function() server = new_server() end)

  local function permanent(err)
    return err ~= json.null and (err:find("Invalid credentials", 1, true) or err:find("not accepted", 1, true)) ~= nil
  end

  it("reconnects transient failures and leaves bad credentials failed", function()
    local status, body = call(server, "POST", path, {}, {})
    assert.equals(200, status)
    assert.is_true(body.ok)
    for _, seeded in ipairs(seed_accounts(function(a) return not a.is_smtp_success end)) do
      local a = state_account(server, seeded.id)
      assert.equals(not permanent(seeded.smtp_failure_error), a.is_smtp_success)
    end
    assert.is_true(#list_all(server, { isSmtpSuccess = "false" }) > 0)
  end)

  it("allows 3 calls per 24 h, 30 minutes apart, answering 406 with ok:true", function()
    local function try() return call(server, "POST", path, {}, {}) end
    assert.equals(200, (try()))
    server.clock = T0 + 600
    local status, body = try()
    assert.equals(406, status)
    assert.is_true(body.ok)
    assert.matches("^Reconnect limit reached", body.message)
    server.clock = T0 + 1800
    assert.equals(200, (try()))
    server.clock = T0 + 3600
    assert.equals(200, (try()))
    server.clock = T0 + 7200
    assert.equals(406, (try()))
    server.clock = T0 + 86400 + 1
    assert.equals(200, (try()))
  end)

  it("rejects unknown body fields", function()
    local status, body = call(server, "POST", path, {}, { all = true })
    assert.equals(400, status)
    assert.same(validation("payload", "all", '"all" is not allowed'), body)
  end)
end)

---------------------------------------------------------------------------- log

describe("request log", function()
  local server
  before_each(function() server = new_server() end)

  it("records each API request with the key masked", function()
    call(server, "GET", "/email-accounts/", { limit = "5" })
    call(server, "GET", "/email-accounts/", {}, nil, "wrong-key")
    local _, log = admin(server, "GET", "log")
    assert.equals(2, #log)
    assert.is_number(log[1].at) -- arrival time, for rate checks
    assert.is_true(log[2].at >= log[1].at)
    log[1].at = nil
    assert.same({ seq = 1, method = "GET", path = "/api/v1/email-accounts/", query = { limit = "5", api_key = "***" },
      status = 200, user_id = OWN }, log[1])
    assert.equals(401, log[2].status)
    assert.is_nil(log[2].user_id)
  end)

  it("never contains the key or a password", function()
    call(server, "POST", "/email-accounts/save", { extra = KEY }, smtp_body())
    call(server, "POST", "/email-accounts/save", {},
      smtp_body({ from_email = "x2@example-new.com", imap_password = "FAKEIMAP-SECRET" }))
    call(server, "POST", "/email-accounts/save-oauth", {}, oauth_body())
    call(server, "POST", "/email-accounts/save", {}, '{"password":"FAKEPW-RAW\\"-TAIL","note":"' .. KEY .. '", broken')
    local _, log, r = admin(server, "GET", "log")
    assert.equals(4, #log)
    for _, secret in ipairs({ KEY, "FAKEPW-NEW-SECRET", "FAKEIMAP-SECRET", "FAKE-ACCESS", "FAKE-REFRESH",
      "FAKE-ID-TOKEN", "FAKEPW-RAW", "TAIL" }) do
      assert.is_nil(r.body:find(secret, 1, true), "log leaks " .. secret)
    end
    assert.equals("***", log[2].body.password)
    assert.equals("***", log[3].body.token.access_token)
    assert.equals("GMAIL", log[3].body.type)
    assert.equals("string", type(log[4].body))
    assert.equals(400, log[4].status)
  end)

  it("is cleared by log/clear while seq keeps counting, and reset restarts it", function()
    call(server, "GET", "/email-accounts/")
    admin(server, "POST", "log/clear")
    call(server, "GET", "/email-accounts/")
    local _, log = admin(server, "GET", "log")
    assert.equals(1, #log)
    assert.equals(2, log[1].seq)
    admin(server, "POST", "reset")
    assert.same({}, select(2, admin(server, "GET", "log")))
  end)
end)

---------------------------------------------------------------------------- admin

describe("admin endpoints", function()
  local server
  before_each(function() server = new_server() end)

  it("reset restores the seed state", function()
    call(server, "POST", "/email-accounts/save", {}, smtp_body())
    call(server, "POST", "/email-accounts/" .. SEED.accounts[1].id, {}, { max_email_per_day = 1 })
    admin(server, "POST", "reset")
    local _, state = admin(server, "GET", "state")
    assert.equals(#SEED.accounts, #state.accounts)
    assert.equals(SEED.accounts[1].message_per_day, state.accounts[1].message_per_day)
    assert.same(seed_campaign(4101).email_account_ids, state_campaign(server, 4101).email_account_ids)
  end)

  it("merges config knobs and rejects unknown ones", function()
    local status, cfg = admin(server, "POST", "config", '{"latency_ms":25,"rate_limit":{"requests":5,"per":2}}')
    assert.equals(200, status)
    assert.equals(25, cfg.latency_ms)
    assert.same({ requests = 5, per = 2, retry_after = true }, cfg.rate_limit)
    assert.equals("422", cfg.limit_over_100)
    local _, again = admin(server, "GET", "config")
    assert.same(cfg, again)
    status = admin(server, "POST", "config", '{"colour":"red"}')
    assert.equals(400, status)
    status = admin(server, "POST", "config", '{"faults":{"p5xx":"lots"}}')
    assert.equals(400, status)
    admin(server, "POST", "config", '{"rate_limit":null}')
    assert.equals(json.null, select(2, admin(server, "GET", "config")).rate_limit)
  end)

  it("answers 404 for unknown admin paths", function()
    local status, body = admin(server, "GET", "nothing")
    assert.equals(404, status)
    assert.same({ error = "Cannot GET /__mock/nothing" }, body)
  end)
end)

---------------------------------------------------------------------------- faults

describe("faults", function()
  local ALL = { seed = 7, p5xx = 0.1, html = 0.05, p429 = 0.05, drop = 0.05, stall = 0.05, stall_ms = 1234,
    drop_after = 0.05, truncate = 0.05, empty = 0.05, text = 0.05 }

  local function run(faults, n)
    local server = new_server({ faults = faults })
    local seen = {}
    for i = 1, n do
      local _, _, r = call(server, "GET", "/email-accounts/", { limit = "1", offset = tostring(i % 50) })
      seen[i] = string.format("%d:%s:%s:%d", r.status, tostring(r.fault), r.headers["Content-Type"], r.delay_ms)
    end
    return seen, server
  end

  it("are the same for the same seed and request sequence", function()
    local a = run(ALL, 300)
    local b = run(ALL, 300)
    assert.same(a, b)
    local other = {}
    for k, v in pairs(ALL) do other[k] = v end
    other.seed = 8
    assert.are_not.same(a, run(other, 300))
  end)

  it("produce every kind in roughly the configured share", function()
    local _, server = run(ALL, 2000)
    local _, log = admin(server, "GET", "log")
    local count = {}
    for _, e in ipairs(log) do
      if e.fault then count[e.fault] = (count[e.fault] or 0) + 1 end
    end
    for name, p in pairs(ALL) do
      if name ~= "seed" and name ~= "stall_ms" then
        assert.is_true(math.abs(count[name] / 2000 - p) < 0.03, name .. " share off: " .. tostring(count[name]))
      end
    end
  end)

  it("shape each answer as documented", function()
    local _, server = run(ALL, 400)
    local _, log = admin(server, "GET", "log")
    local replay = new_server({ faults = ALL })
    for i = 1, 400 do
      local _, _, r = call(replay, "GET", "/email-accounts/", { limit = "1", offset = tostring(i % 50) })
      local f = log[i].fault
      if f == "p5xx" then
        assert.is_true(r.status == 500 or r.status == 503)
        assert.same({ error = "Internal Server Error" }, json.decode(r.body))
      elseif f == "html" then
        assert.equals(502, r.status)
        assert.equals("text/html", r.headers["Content-Type"])
        assert.matches("<html>", r.body)
      elseif f == "p429" then
        assert.equals(429, r.status)
        assert.equals("RATE_LIMIT_EXCEEDED", json.decode(r.body).error.code)
      elseif f == "drop" or f == "drop_after" then
        assert.equals("drop", r.fault)
      elseif f == "truncate" then
        assert.equals("truncate", r.fault)
        assert.equals(200, r.status)
      elseif f == "empty" then
        assert.same({ 200, "" }, { r.status, r.body })
      elseif f == "text" then
        assert.same({ 200, "success", "text/plain" }, { r.status, r.body, r.headers["Content-Type"] })
      elseif f == "stall" then
        assert.equals(1234, r.delay_ms)
      else
        assert.equals(200, r.status)
        assert.is_nil(r.fault)
      end
    end
  end)

  it("drop_after changes state before dropping; early faults change nothing", function()
    local id = SEED.accounts[1].id
    local server = new_server({ faults = { drop_after = 1 } })
    local _, _, r = call(server, "POST", "/email-accounts/" .. id, {}, { max_email_per_day = 11 })
    assert.equals("drop", r.fault)
    assert.equals(11, state_account(server, id).message_per_day)
    server = new_server({ faults = { p5xx = 1 } })
    call(server, "POST", "/email-accounts/" .. id, {}, { max_email_per_day = 11 })
    assert.equals(SEED.accounts[1].message_per_day, state_account(server, id).message_per_day)
  end)

  it("never touch admin paths", function()
    local server = new_server({ faults = { p5xx = 1 } })
    for _ = 1, 20 do assert.equals(200, (admin(server, "GET", "config"))) end
  end)
end)

---------------------------------------------------------------------------- rate limit and latency

describe("rate limit", function()
  it("counts a fixed window per key and answers 429 with headers", function()
    local server = new_server({ rate_limit = { requests = 3, per = 10, retry_after = true } })
    for i = 1, 3 do
      local status, _, r = call(server, "GET", "/email-accounts/", { limit = "1" })
      assert.equals(200, status)
      assert.equals("3", r.headers["X-RateLimit-Limit"])
      assert.equals(tostring(3 - i), r.headers["X-RateLimit-Remaining"])
      assert.equals(tostring(T0 + 10), r.headers["X-RateLimit-Reset"]) -- a Unix time by default
    end
    server.clock = T0 + 4
    local status, body, r = call(server, "GET", "/email-accounts/", { limit = "1" })
    assert.equals(429, status)
    assert.same({ error = { code = "RATE_LIMIT_EXCEEDED", message = "Too many requests. Please retry after 6 seconds.",
      retry_after = 6 } }, body)
    assert.equals("6", r.headers["Retry-After"])
    assert.equals("0", r.headers["X-RateLimit-Remaining"])
    assert.equals(200, (call(server, "GET", "/email-accounts/", { limit = "1" }, nil, OTHER_KEY)))
    server.clock = T0 + 10
    assert.equals(200, (call(server, "GET", "/email-accounts/", { limit = "1" })))
  end)

  it("omits Retry-After when configured so and reports reset >= 1 in seconds", function()
    local server = new_server({ rate_limit = { requests = 1, per = 1, retry_after = false }, rate_reset = "seconds" })
    call(server, "GET", "/email-accounts/", { limit = "1" })
    server.clock = T0 + 0.9
    local status, body, r = call(server, "GET", "/email-accounts/", { limit = "1" })
    assert.equals(429, status)
    assert.is_nil(r.headers["Retry-After"])
    assert.equals("1", r.headers["X-RateLimit-Reset"])
    assert.equals(1, body.error.retry_after)
  end)

  it("adds latency_ms to every API answer but not to admin ones", function()
    local server = new_server({ latency_ms = 40 })
    assert.equals(40, select(3, call(server, "GET", "/email-accounts/", { limit = "1" })).delay_ms)
    assert.equals(40, select(3, call(server, "GET", "/nope")).delay_ms)
    assert.equals(0, select(3, admin(server, "GET", "log")).delay_ms)
  end)
end)

---------------------------------------------------------------------------- extra accounts

describe("extra_accounts", function()
  it("synthesizes thousands of own accounts deterministically", function()
    local server = new_server({ extra_accounts = 5000 })
    local all = list_all(server, { esp = "SMTP" })
    local total = #list_all(server)
    assert.equals(#seed_accounts() + 5000, total)
    local other = new_server({ extra_accounts = 5000 })
    assert.same(all, list_all(other, { esp = "SMTP" }))
  end)
end)
