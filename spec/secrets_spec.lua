-- Keeping secrets secret: the API key never shows in an error, a string form, a traceback, or the
-- mock's log, raw or percent-encoded; passwords and OAuth tokens never reach the log; plain http
-- to anything but loopback is refused before a key could cross a network in clear.
local support = require "support"
local smartlead = require "smartlead"
local mock_server = require "smartlead.mock.server"
local json = smartlead.json

local KEY = "LEAKCHECK-KEY-8c1d0a"
local SPECIAL = "key/with+special=chars&x" -- needs percent-encoding in a URL
local SPECIAL_ENCODED = "key%2Fwith%2Bspecial%3Dchars%26x"
local PASSWORD = "Pw-LEAK-91f2e7"
local IMAP_PASSWORD = "ImapPw-LEAK-33aa"
local ACCESS = "ya29.LEAK-access-5e5e"
local REFRESH = "1//LEAK-refresh-7c7c"
local ID_TOKEN = "LEAK-idtoken-1b1b"
local SECRETS = { KEY, PASSWORD, IMAP_PASSWORD, ACCESS, REFRESH, ID_TOKEN }

-- The first secret found in any string reachable from v, or nil.
local function leaked(v, secrets)
  for _, s in ipairs(support.strings(v)) do
    for _, secret in ipairs(secrets) do
      if s:find(secret, 1, true) then return secret .. " in " .. ("%q"):format(s) end
    end
  end
end

-- The forms the key may take in a URL or a log: raw, percent-encoded in either case, and the
-- tail after a separator that a naive api_key= mask would stop at.
local function key_forms(key)
  local upper = key:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end)
  local lower = key:gsub("[^%w%-%._~]", function(c) return ("%%%02x"):format(c:byte()) end)
  local forms = { key, upper, lower }
  local tail = key:match("&(.+)$")
  if tail then forms[#forms + 1] = "&" .. tail end
  return forms
end

local function assert_clean(v, secrets, what)
  local hit = leaked(v, secrets)
  assert.is_nil(hit, (what or "value") .. ": " .. tostring(hit))
end

local function smtp(changes)
  local f = {
    from_name = "Leak Sender", from_email = "leak@leakdomain.io", user_name = "leak@leakdomain.io",
    password = PASSWORD, imap_password = IMAP_PASSWORD, imap_user_name = "imap-leak@leakdomain.io",
    smtp_host = "smtp.leakdomain.io", smtp_port = 587, imap_host = "imap.leakdomain.io", imap_port = 993,
    warmup_enabled = true,
  }
  for k, v in pairs(changes or {}) do f[k] = v end
  return f
end

local function oauth(changes)
  local f = {
    from_name = "Leak OAuth", from_email = "leak@gmail-leak.com", username = "leak@gmail-leak.com", type = "GMAIL",
    token = { token_type = "Bearer", access_token = ACCESS, refresh_token = REFRESH, id_token = ID_TOKEN,
              expiry_date = 1767225600000, scope = "https://mail.google.com/" },
    warmup_enabled = false, use_whitelabel_credentials = false,
  }
  for k, v in pairs(changes or {}) do f[k] = v end
  return f
end

describe("secrets", function()
  local server, client

  support.shared_server(function(s, c) server, client = s, c end, { api_key = KEY })
  after_each(function() server:configure { faults = json.null } end)

  -- Calls that make errors whose text would carry the key if nothing masked it.
  local function errors_echoing_the_key()
    local errs = {}
    local function add(res, err)
      assert.is_nil(res)
      errs[#errs + 1] = err
    end
    add(client:update_email_account(3002, { [KEY] = 1 }))                   -- unknown field named KEY
    add(client:get_email_accounts { esp = KEY })                              -- value echoed in the message
    add(client:get_email_account_by_email(KEY))                               -- not an address
    add(client:request("GET", "/" .. KEY))                                    -- 404 "Cannot GET /api/v1/KEY"
    add(client:request("GET", "/email-accounts/", { query = { [KEY] = 1 } })) -- Joi '"KEY" is not allowed'
    add(client:request("GET", "/email-accounts/", { query = { foo = KEY } })) -- in err.path's query
    add(client:request("GET", "/email-accounts/", { query = { api_key = KEY } }))
    add(client:request("POST", "/" .. KEY, { body = { f = print } }))
    add(client:request("POST", "/email-accounts/3002", { body = { [KEY] = true } }))
    return errs
  end

  it("appears in no field of any error, and in no tostring(err)", function()
    local errs = errors_echoing_the_key()
    for _, fault in ipairs { "html", "truncate", "drop", "p5xx", "p429", "empty", "text" } do
      server:configure { faults = { seed = 1, [fault] = 1 } }
      local _, err = client:request("GET", "/" .. KEY, { query = { q = KEY } })
      errs[#errs + 1] = err
    end
    server:configure { faults = { seed = 1, stall = 1, stall_ms = 1000 } }
    local quick = server:client { timeout = 0.2 }
    local _, terr = quick:request("GET", "/" .. KEY, { query = { q = KEY } })
    assert.equal("timeout", terr.kind)
    errs[#errs + 1] = terr
    quick:close()

    local masked = 0
    for i, err in ipairs(errs) do
      assert.is_table(err, "call " .. i)
      assert_clean(err, key_forms(KEY), "err #" .. i)
      assert_clean(tostring(err), key_forms(KEY), "tostring(err #" .. i .. ")")
      if tostring(err):find("***", 1, true) then masked = masked + 1 end
    end
    assert.is_true(masked >= #errs - 2, "the key was not there to mask: " .. masked) -- the checks had something to find
  end)

  it("does not show in tostring(client), base_url() or a refused base_url", function()
    for _, s in ipairs { tostring(client), client:base_url() } do
      assert.is_nil(s:find(KEY, 1, true))
    end
    assert.matches("key=%*%*%*", tostring(client))
    local odd = smartlead.client { api_key = KEY, base_url = "https://proxy.example/" .. KEY .. "/api/v1" }
    assert.is_nil(tostring(odd):find(KEY, 1, true))
    odd:close()
    local ok, msg = pcall(smartlead.client, { api_key = KEY, base_url = "http://evil.example/?api_key=" .. KEY })
    assert.is_false(ok)
    assert.is_nil(msg:find(KEY, 1, true))
  end)

  it("is masked in the traceback of an error raised in a smartlua script", function()
    local dead = mock_server.start { api_key = KEY }
    local dead_url = dead:url()
    dead:stop()
    local scripts = {
      -- a plain error carrying the key, raw and in a URL
      'local k = os.getenv("SMARTLEAD_API_KEY"); '
        .. 'local function f() error("failed for " .. k .. " at https://x/?api_key=" .. k) end; f()',
      -- the key percent-encoded, over-encoded and lower-case
      'local k = os.getenv("SMARTLEAD_API_KEY"); error(k:gsub("%-", "%%2D") .. " " .. k:gsub("%-", "%%2d"))',
      -- an err from a failed call, printed and raised
      'local sl = require "smartlead"; local c = sl.client { base_url = "' .. dead_url .. '" }; '
        .. 'local r, e = c:request("GET", "/" .. os.getenv("SMARTLEAD_API_KEY")); '
        .. 'print(e); print(tostring(c)); error(e)',
      -- an error object whose __tostring shows the key
      'error(setmetatable({}, { __tostring = function() return "object " .. os.getenv("SMARTLEAD_API_KEY") end }))',
      -- misuse raised from C, with the key in the argument
      'local sl = require "smartlead"; '
        .. 'sl.client { base_url = "http://evil.example/" .. os.getenv("SMARTLEAD_API_KEY") }',
      -- a runtime error in a function that holds the key
      'local function use(key) return key + 1 end; use(os.getenv("SMARTLEAD_API_KEY"))',
    }
    for i, chunk in ipairs(scripts) do
      local cmd = ("env -u SMARTLEAD_BASE_URL SMARTLEAD_API_KEY='%s' build/smartlua -e '%s' 2>&1"):format(KEY, chunk)
      local p = assert(io.popen(cmd, "r"))
      local out = p:read("a")
      local ok = p:close()
      assert.is_falsy(ok, "script " .. i .. " should fail:\n" .. out)
      assert.truthy(out:find("stack traceback", 1, true), "script " .. i .. ":\n" .. out)
      assert_clean(out, key_forms(KEY), "script " .. i)
      assert_clean(out, { "LEAKCHECK%2DKEY", "LEAKCHECK%2dKEY" }, "script " .. i)
      if i <= 5 then assert.truthy(out:find("***", 1, true), "script " .. i .. " masked nothing:\n" .. out) end
    end
  end)

  it("never puts the key, passwords or OAuth tokens in the mock's log", function()
    local saved = assert(client:add_smtp_account(smtp()))
    assert(client:add_smtp_account(smtp { id = saved.email_account_id, password = PASSWORD .. "2" }))
    assert(client:add_oauth_account(oauth()))
    assert(client:request("POST", "/email-accounts/save", { body = smtp { from_email = "raw@leakdomain.io" } }))
    client:add_smtp_account(smtp())                        -- a refused duplicate is logged too
    client:add_oauth_account(oauth { type = "OUTLOOK" })   -- and another refusal
    errors_echoing_the_key()
    server:configure { faults = { seed = 1, truncate = 1 } }
    client:add_smtp_account(smtp { from_email = "cut@leakdomain.io" })
    server:configure { faults = json.null }

    -- they were sent: the server stored them
    local stored = server:account(saved.email_account_id)
    assert.equal(PASSWORD .. "2", stored.password)
    assert.equal(IMAP_PASSWORD, stored.imap_password)
    local found_token = false
    for _, a in ipairs(server:state().accounts) do
      if type(a.oauth_token) == "table" and a.oauth_token.refresh_token == REFRESH then found_token = true end
    end
    assert.is_true(found_token)

    local log = server:log()
    assert.is_true(#log >= 10)
    assert_clean(log, SECRETS, "mock log")
    assert_clean(log, key_forms(KEY), "mock log")
    assert.equal("***", log[1].body.password)
    assert.equal("***", log[1].body.imap_password)
    assert.equal("***", log[3].body.token.access_token)
    assert.equal("***", log[3].body.token.refresh_token)
    assert.equal("***", log[3].body.token.id_token)
    for _, entry in ipairs(log) do assert.equal("***", entry.query.api_key) end
  end)

  it("does not echo a password or token given with the wrong type", function()
    local _, err = client:add_smtp_account(smtp { password = 987654321 })
    assert.equal("password", err.field)
    assert.is_nil(tostring(err):find("987654321", 1, true))
    _, err = client:add_smtp_account(smtp { imap_password = PASSWORD .. "\0" })
    assert.equal("imap_password", err.field)
    assert_clean(err, { PASSWORD }, "imap_password with NUL")
    _, err = client:add_oauth_account(oauth { token = ACCESS })
    assert.equal("token", err.field)
    assert_clean(err, { ACCESS }, "token as a string")
    local bad = oauth()
    bad.token.refresh_token = 12345678901
    _, err = client:add_oauth_account(bad)
    assert.is_nil(tostring(err):find("12345678901", 1, true))
    assert.equal(0, #server:log())
  end)

  describe("plain http", function()
    it("is refused at client creation for any host but loopback", function()
      local refused = {
        "http://server.smartlead.ai/api/v1", "http://10.0.0.7:8080", "http://0.0.0.0:8080",
        "http://127.evil.example", "http://127.0.0.1.nip.io/api/v1", "http://localhost.evil.example",
        "http://localhost@evil.example", "http://localhost:80@evil.example/api/v1", "http://127.0.0.1:1@evil.example",
        "http://[::1].evil.example", "http://[::2]:80", "http://1270.0.0.1", "http://127.0.0.1.", "http://",
        "ftp://server.smartlead.ai", "server.smartlead.ai/api/v1", "HTTP://evil.example",
      }
      for _, url in ipairs(refused) do
        local ok, msg = pcall(smartlead.client, { api_key = KEY, base_url = url })
        assert.is_false(ok, url .. " was accepted")
        assert.matches("refusing base_url", msg)
        assert.is_nil(msg:find(KEY, 1, true))
      end
    end)

    it("is allowed to loopback, and https anywhere", function()
      for _, url in ipairs { "http://127.0.0.1:8080/api/v1", "http://127.1.2.3", "http://localhost:9/api",
                             "http://localhost", "http://LOCALHOST:9", "http://[::1]:9/api/v1", "http://[::1]",
                             "https://server.smartlead.ai/api/v1", "https://10.0.0.7" } do
        local c = smartlead.client { api_key = KEY, base_url = url }
        c:close()
      end
    end)
  end)

  describe("mask", function()
    it("client:mask and smartlead.mask mask the key raw and percent-encoded", function()
      local text = ("a %s b api_key=%s c"):format(KEY, KEY)
      assert.equal("a *** b api_key=*** c", client:mask(text))
      assert.equal("a *** b api_key=*** c", smartlead.mask(text))
      assert.equal("nothing secret here", client:mask("nothing secret here"))
      assert.equal("x=***&y=1", client:mask("x=" .. KEY .. "&y=1"))
      assert.equal("******", client:mask(KEY .. KEY))
      -- any api_key= value, even of a key this process never saw, in any case
      assert.equal("u?api_key=***&n=1 API_KEY=***", smartlead.mask("u?api_key=some-other-key&n=1 API_KEY=zzz"))
    end)

    it("masks a key with characters that need encoding in every form a URL or log may hold", function()
      local c = smartlead.client { api_key = SPECIAL, base_url = "https://server.smartlead.ai/api/v1" }
      local forms = {
        SPECIAL, SPECIAL_ENCODED, SPECIAL_ENCODED:lower(), "key/with%2Bspecial%3Dchars%26x", -- '/' left alone
        "%6Bey%2Fwith%2Bspecial%3Dchars%26x",                                                  -- over-encoded
      }
      for _, form in ipairs(forms) do
        assert.equal("<***>", c:mask("<" .. form .. ">"), form)
        assert.equal("<***>", smartlead.mask("<" .. form .. ">"), form)
        assert.equal("https://h/p?api_key=***&limit=1", c:mask("https://h/p?api_key=" .. form .. "&limit=1"), form)
      end
      c:close()
    end)
  end)

  describe("a key that needs percent-encoding", function()
    local special_server, special_client

    setup(function()
      special_server = mock_server.start { api_key = SPECIAL }
      special_client = special_server:client()
    end)
    teardown(function()
      special_client:close()
      special_server:stop()
    end)

    it("authenticates, and never shows in err.path, tostring(err) or the log", function()
      assert.equal(2, #assert(special_client:get_email_accounts { limit = 2 }))
      local errs = {}
      local function add(_, err) errs[#errs + 1] = err end
      add(special_client:request("GET", "/email-accounts/", { query = { foo = SPECIAL } }))
      add(special_client:request("GET", "/email-accounts/", { query = { [SPECIAL] = "v" } }))
      add(special_client:request("GET", "/" .. SPECIAL))
      add(special_client:request("POST", "/" .. SPECIAL, { query = { q = SPECIAL }, body = { n = 0 / 0 } }))
      add(special_client:update_email_account(0, { from_name = SPECIAL }))
      add(special_client:get_email_account_by_email(SPECIAL .. "@x.io"))
      special_server:configure { faults = { seed = 1, drop = 1 } }
      add(special_client:request("GET", "/email-accounts/", { query = { username = SPECIAL } }))
      special_server:configure { faults = json.null }
      local forms = key_forms(SPECIAL)
      for i, err in ipairs(errs) do
        assert.is_table(err, "call " .. i)
        assert_clean(err.path, forms, "err.path #" .. i)
        assert_clean(err, forms, "err #" .. i)
        assert_clean(tostring(err), forms, "tostring(err #" .. i .. ")")
      end
      assert.equal("/email-accounts/?foo=***", errs[1].path)
      assert.equal("/email-accounts/?***=v", errs[2].path)
      assert.equal("/***", errs[3].path)
      assert.equal("/email-accounts/?username=***", errs[7].path)
      local log = special_server:log()
      assert.is_true(#log >= 5)
      assert_clean(log, forms, "special mock log")
    end)
  end)
end)
