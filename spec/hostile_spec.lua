-- Hostile input is refused before anything is sent. The cases are generated from tables: for
-- every endpoint in smartlead.operations() (its path, its argument kind, its fields) and for
-- client:request, each category of hostile value below is tried in every place it applies.
-- A case passes when the call raises a clear error (wrong use: a Lua type where another
-- belongs) or returns nil, err with err.kind "validation" and a message that names the method,
-- the argument or field and what is wrong, in one printable line; and when the mock's request
-- log did not grow. After each batch a valid call must still succeed. The counts are printed as
-- "[measure] hostile inputs tried: N, rejected before sending: N" on stderr.
local support = require "support"
local smartlead = require "smartlead"
local core = require "smartlead.core"
local json = smartlead.json

local NULL = json.null
local MB5 = ("s"):rep(5 * 1024 * 1024)  -- used a handful of times only (valgrind)
local OVER = ("o"):rep(64 * 1024 + 1)   -- just over the 64 KiB a field may hold
local _ = 9007199254740991               -- MAX_SAFE, 2^53 - 1: above it a JavaScript server rounds ids
local CO = coroutine.create(print)
local UD = io.stdout

local function deep(n, key)
  local top = {}
  local t = top
  for _ = 1, n do t[key or "x"] = {}; t = t[key or "x"] end
  return top
end

local function cyclic(t)
  t = t or {}
  t.self = t
  return t
end

local function count_to(n)
  local t = {}
  for i = 1, n do t[i] = 100000 + i end
  return t
end

local IDS_100K = count_to(100000)

---------------------------------------------------------------------------- valid calls

local function smtp_fields()
  return {
    from_name = "Hostile Test", from_email = "ht@valid-domain.io", user_name = "ht@valid-domain.io",
    password = "Ht-Pa55word", smtp_host = "smtp.valid-domain.io", smtp_port = 587,
    imap_host = "imap.valid-domain.io", imap_port = 993, warmup_enabled = false,
  }
end

local function oauth_fields()
  return {
    from_name = "Hostile OAuth", from_email = "ht@gmail-ht.com", username = "ht@gmail-ht.com", type = "GMAIL",
    token = { token_type = "Bearer", access_token = "ya29.ht-access", refresh_token = "1//ht-refresh",
              expiry_date = 1767225600000, scope = "https://mail.google.com/" },
    warmup_enabled = false, use_whitelabel_credentials = false,
  }
end

-- The payload argument each endpoint is valid with; every endpoint that takes one must be here.
local BASE = {
  get_email_accounts = function() return { limit = 10 } end,
  add_smtp_account = smtp_fields,
  add_oauth_account = oauth_fields,
  update_email_account = function() return { max_email_per_day = 20 } end,
  get_email_account = function() return { fetch_tags = true } end,
  update_warmup = function() return { warmup_enabled = true } end,
  add_campaign_email_accounts = function() return { 3003 } end,
  remove_campaign_email_accounts = function() return { 3003 } end,
  get_email_account_by_email = function() return "ht@valid-domain.io" end,
  get_campaign_email_accounts = function() return { include_tags = true } end,
  get_campaigns = function() return { client_id = 11 } end,
  get_campaign = function() return { include_tags = true } end,
  get_mailbox_statistics = function() return { limit = 5 } end,
  create_tag = function() return { name = "Hostile", color = "#123456" } end,
  update_tag = function() return { id = 501, name = "Primary", color = "#4CAF50" } end,
  update_lead_email_account = function()
    return { email_account_id = 3003, email_campaign_id = 4101, email_lead_id = 1 }
  end,
  add_email_account_tags = function() return { 3003 }, { 501 } end,
  remove_email_account_tags = function() return { 3003 }, { 501 } end,
  get_email_account_tags = function() return { "ht@valid-domain.io" } end,
}
local VALID_ID = { campaign_id = 4104, email_account_id = 3002 }

-- What the registry says about each operation's arguments.
local function shape(e)
  local fields = {}
  for i, f in ipairs(e.fields) do fields[i] = f.name end
  return {
    name = e.name,
    id_name = e.id_name,
    payload = e.arg,
    optional = e.arg == "fields" and not e.payload_required,
    fields = fields,
  }
end

local ENDPOINTS = {}
for _, e in ipairs(smartlead.operations()) do ENDPOINTS[#ENDPOINTS + 1] = shape(e) end

-- Arguments for a valid call of endpoint ep, as {..., n = count}; with has_payload, the payload
-- argument is `payload` (even nil) instead of the valid one.
local function args_for(ep, payload, has_payload)
  local a, n = {}, 0
  if ep.id_name then n = n + 1; a[n] = VALID_ID[ep.id_name] end
  if has_payload then n = n + 1; a[n] = payload
  elseif ep.payload == "id_pairs" then
    a[n + 1], a[n + 2] = BASE[ep.name]()
    n = n + 2
  elseif ep.payload ~= "none" then n = n + 1; a[n] = BASE[ep.name]() end
  a.n = n
  return a
end

-- The arguments of a valid call with the payload replaced.
local function with_payload(ep, payload)
  local a = args_for(ep, payload, true)
  return table.unpack(a, 1, a.n)
end

---------------------------------------------------------------------------- field classes

-- The type of each field, as src/endpoints.c declares it (names checked against the table).
local CLASS = {
  default = {
    from_name = "name", from_email = "email", user_name = "name", password = "secret", smtp_host = "host",
    smtp_port = "port", imap_host = "host", imap_port = "port", warmup_enabled = "bool", type = "enum",
    imap_user_name = "name", imap_password = "secret", different_reply_to_address = "email",
    is_suspended = "bool", id = "id_or_null", max_email_per_day = "uint", custom_tracking_url = "text",
    bcc = "email", signature = "text", time_to_wait_in_mins = "uint", total_warmup_per_day = "uint",
    daily_rampup = "uint", reply_rate_percentage = "percent", client_id = "id_or_null", username = "name",
    token = "token", use_whitelabel_credentials = "bool", warmup_key_id = "key", fetch_campaigns = "bool",
    fetch_tags = "bool", include_tags = "bool", auto_adjust_warmup = "bool", is_rampup_enabled = "bool",
    start_date = "date", end_date = "date", time_zone = "name", name = "name", color = "color",
    email_account_id = "id", email_campaign_id = "id", email_lead_id = "id", override_lead_email_account = "bool",
  },
  get_campaigns = { client_id = "id" },
  get_mailbox_statistics = { offset = "uint", limit = "limit20", client_id = "id" },
  update_tag = { id = "id" },
  get_email_accounts = {
    offset = "uint", limit = "limit", isInUse = "bool", emailWarmupStatus = "enum", isSmtpSuccess = "bool",
    isWarmupBlocked = "bool", esp = "enum", username = "text", client_id = "id",
  },
}

local function class_of(ep, field)
  return (CLASS[ep] and CLASS[ep][field]) or CLASS.default[field]
end

local GROUP = { text = "string", name = "string", secret = "string", host = "string", email = "string",
                uint = "integer", limit = "integer", port = "integer", percent = "integer", id = "integer",
                id_or_null = "integer", bool = "bool", enum = "enum", token = "token", limit20 = "integer",
                date = "date", color = "color", key = "key" }

local INVALID_UTF8 = {
  { "lone continuation byte", "\x80" }, { "continuation inside", "a\xbfb" }, { "overlong /", "\xc0\xaf" },
  { "overlong 3-byte /", "\xe0\x80\xaf" }, { "surrogate D800", "\xed\xa0\x80" }, { "surrogate DFFF", "\xed\xbf\xbf" },
  { "above U+10FFFF", "\xf4\x90\x80\x80" }, { "cut short", "\xe2\x82" }, { "0xFF", "\xff" },
}

local CONTROL = { "\r\n", "\n", "\t", "\27[2J", "\127", "\xc2\x85", "\xc2\x9b" } -- C0, DEL, C1 (NEL, CSI)

-- {label, value, fragment} lists: wrong Lua types, by group.
local function wrong_types(group)
  local common = {
    { "table", {}, nil }, { "cyclic table", cyclic(), nil }, { "table 1000 deep", deep(1000), nil },
    { "function", print, nil }, { "userdata", UD, nil }, { "thread", CO, nil },
  }
  local extra = {
    string = { { "integer", 42 }, { "float", 4.5 }, { "true", true }, { "false", false }, { "json.null", NULL } },
    integer = { { "digits", "5" }, { "hex", "0x10" }, { "boolean", true }, { "json.null", NULL } },
    bool = { { "string true", "true" }, { "1", 1 }, { "0", 0 }, { "string false", "false" }, { "json.null", NULL } },
    enum = { { "number", 1 }, { "boolean", true }, { "json.null", NULL } },
    token = { { "string", "ya29.only-access" }, { "number", 5 }, { "boolean", true }, { "json.null", NULL } },
    date = { { "number", 20260101 }, { "boolean", true }, { "json.null", NULL } },
    color = { { "number", 0x123456 }, { "boolean", true }, { "json.null", NULL } },
    key = { { "boolean", true }, { "json.null", NULL }, { "float", 1.5 }, { "negative", -1 } },
  }
  local out = {}
  for _, c in ipairs(common) do out[#out + 1] = c end
  for _, c in ipairs(extra[group]) do out[#out + 1] = c end
  return out
end

local GROUP_SAYS = { string = "must be a string", integer = "integer", bool = "boolean", enum = "must be one of",
                     token = "must be a table", date = "must be a date YYYY-MM-DD", color = "must be a color #RRGGBB",
                     key = "a non-empty string or an integer >= 0" }

-- Numbers no integer field takes: out of every range, not integers, not finite, or above 2^53 - 1.
local BAD_NUMBERS = {
  { "-1", -1 }, { "1.5", 1.5 }, { "NaN", 0 / 0 }, { "inf", math.huge }, { "-inf", -math.huge },
  { "mininteger", math.mininteger }, { "maxinteger", math.maxinteger }, { "2^53+1 as float", 2 ^ 53 + 1 },
  { "2^53 integer", 1 << 53 }, { "2^63 as float", 2 ^ 63 }, { "1e300", 1e300 },
}

-- What the Lua VM says when C or Lua code trips over a value it did not check.
local RUNTIME_ERRORS = { "attempt to index", "attempt to call", "attempt to perform", "attempt to compare",
                         "attempt to concatenate", "attempt to get length", "stack overflow", "not enough memory" }

---------------------------------------------------------------------------- the checks

describe("hostile input", function()
  local server, client
  local tried, rejected = 0, 0
  local by_method, by_category, categories = {}, {}, {}
  local baseline -- the log's length during a batch, where nothing may be sent

  support.shared_server(function(s, c) server, client = s, c end)

  teardown(function()
    io.stderr:write(("[measure] hostile inputs tried: %d, rejected before sending: %d\n"):format(tried, rejected))
    local parts = {}
    for _, c in ipairs(categories) do parts[#parts + 1] = ("%s %d"):format(c, by_category[c]) end
    io.stderr:write("[measure] hostile inputs by category: " .. table.concat(parts, ", ") .. "\n")
  end)

  -- One case: f(...) must raise a clear error or return nil, validation err, and the mock's log
  -- must not grow. how: "raise", "refuse" or nil (either); says: fragments the message must
  -- hold; field: err.field.
  local function hostile(method, label, how, says, field, f, ...)
    tried = tried + 1
    by_method[method] = (by_method[method] or 0) + 1
    local what = method .. " / " .. label
    local logged = baseline or #server:log()
    local r = table.pack(pcall(f, ...))
    assert(#server:log() == logged, what .. ": reached the server")
    local msg
    if not r[1] then
      msg = tostring(r[2])
      assert(how ~= "refuse", what .. ": raised instead of returning nil, err: " .. msg)
      for _, runtime in ipairs(RUNTIME_ERRORS) do
        assert(not msg:find(runtime, 1, true), what .. ": a Lua runtime error, not a clear message: " .. msg)
      end
    else
      local res, err = r[2], r[3]
      assert(res == nil and type(err) == "table" and err.kind == "validation",
             what .. ": not refused: " .. tostring(res) .. ", " .. tostring(err))
      assert(how ~= "raise", what .. ": returned nil, err instead of raising: " .. tostring(err))
      assert.equal("INVALID_ARGUMENT", err.code)
      assert.equal(smartlead.Error, getmetatable(err))
      assert(err.message:sub(1, #method + 2) == method .. ": ",
             what .. ": message does not name the method: " .. err.message)
      if field ~= nil then assert.equal(field, err.field, what .. ": " .. err.message) end
      assert.is_nil(err.status)
      msg = err.message
      local line = tostring(err)
      assert(#line < 1024, what .. ": error line of " .. #line .. " bytes")
    end
    assert(#msg < 1024, what .. ": message of " .. #msg .. " bytes")
    assert(utf8.len(msg) and not msg:find("[\0-\31\127]") and not msg:find("\xc2[\x80-\x9f]"),
           what .. ": message with control bytes or invalid UTF-8: " .. msg:gsub("[^ -~]", "?"))
    for _, word in ipairs(type(says) == "table" and says or { says }) do
      assert(msg:find(word, 1, true), ("%s: %q not in %q"):format(what, word, msg))
    end
    rejected = rejected + 1
    return msg
  end

  -- Runs fn() and checks the log did not grow, then that a valid call still works.
  local function batch(category, fn)
    local before = #server:log()
    local n0 = tried
    if not by_category[category] then categories[#categories + 1] = category end
    baseline = before
    local ok, e = pcall(fn)
    baseline = nil
    if not ok then error(e, 0) end
    assert.equal(before, #server:log(), "a hostile case reached the server")
    assert.is_true(tried > n0, "the batch tried nothing")
    by_category[category] = (by_category[category] or 0) + tried - n0
    local account, err = client:get_email_account(3001)
    assert(account, "the client no longer works: " .. tostring(err))
    assert.equal(before + 1, #server:log())
  end

  local function call(name)
    return function(c, ...) return c[name](c, ...) end
  end

  it("covers every endpoint the table lists, each with a valid base call", function()
    local names = {}
    for _, ep in ipairs(ENDPOINTS) do
      names[#names + 1] = ep.name
      assert.is_function(client[ep.name], ep.name)
      if ep.payload ~= "none" then assert.is_function(BASE[ep.name], "no BASE payload for " .. ep.name) end
      for _, f in ipairs(ep.fields) do
        assert.is_string(class_of(ep.name, f), "no class for " .. ep.name .. "." .. f)
      end
      local a = args_for(ep)
      assert.is_true(core.validators[ep.name](client, table.unpack(a, 1, a.n)), ep.name .. " base is not valid")
    end
    table.sort(names)
    assert.same({ "add_campaign_email_accounts", "add_email_account_tags", "add_oauth_account", "add_smtp_account",
                  "create_tag", "delete_email_account", "get_campaign", "get_campaign_email_accounts", "get_campaigns",
                  "get_email_account", "get_email_account_by_email", "get_email_account_tags", "get_email_accounts",
                  "get_mailbox_statistics", "get_warmup_stats", "reconnect_failed_email_accounts",
                  "remove_campaign_email_accounts", "remove_email_account_tags", "suspend_email_account",
                  "unsuspend_email_account", "update_email_account", "update_lead_email_account", "update_tag",
                  "update_warmup" }, names)
    assert.equal(0, #server:log())
  end)

  ---------------------------------------------------------------------------- self

  it("refuses a self that is not an open Client, for every method", function()
    local closed = server:client()
    closed:close()
    batch("self", function()
      for _, ep in ipairs(ENDPOINTS) do
        local a = args_for(ep)
        for _, s in ipairs { { "nil", nil, "smartlead.Client expected" }, { "table", {}, "smartlead.Client expected" },
                             { "string", "client", "smartlead.Client expected" },
                             { "file", UD, "smartlead.Client expected" },
                             { "closed", closed, "closed smartlead.Client" } } do
          hostile(ep.name, "self " .. s[1], "raise", s[3], nil, client[ep.name], s[2], table.unpack(a, 1, a.n))
        end
      end
      hostile("request", "self nil", "raise", "smartlead.Client expected", nil, client.request, nil, "GET",
              "/email-accounts/")
      hostile("request", "self closed", "raise", "closed smartlead.Client", nil, client.request, closed, "GET",
              "/email-accounts/")
    end)
  end)

  ---------------------------------------------------------------------------- path parameters

  -- What tries to leave the path or is no id: strings raise (wrong use); numbers that are not
  -- a positive integer up to 2^53 - 1 are refused.
  local PATH_STRINGS = { "1/../../x", "1?x=y", "1#f", "%2e%2e", "1/", " 1", "1\n", "3002", "99999999999999999999",
                         "1\r\nHost: evil.com", "", MB5 }
  local PATH_OTHERS = { { "true", true }, { "false", false }, { "table", {} }, { "list", { 3002 } },
                        { "cyclic", cyclic() }, { "function", print }, { "userdata", UD }, { "thread", CO },
                        { "json.null", NULL } }
  local PATH_NUMBERS = {
    { "-1", -1, "got -1" }, { "0", 0, "got 0" }, { "1.5", 1.5, "got 1.5" }, { "-0.5", -0.5 },
    { "2^53+1 as float", 2 ^ 53 + 1, "at most 2^53 - 1" }, { "2^53 integer", 1 << 53, "at most 2^53 - 1" },
    { "maxinteger", math.maxinteger, "at most 2^53 - 1" }, { "2^63 as float", 2 ^ 63 }, { "2^64 as float", 2 ^ 64 },
    { "1e300", 1e300 }, { "mininteger", math.mininteger }, { "NaN", 0 / 0, "nan" }, { "inf", math.huge },
    { "-inf", -math.huge },
  }

  for _, ep in ipairs(ENDPOINTS) do
    if ep.id_name then
      it(ep.name .. ": path parameter " .. ep.id_name .. " that escapes or is no id", function()
        batch("path parameters", function()
          local rest = args_for(ep)
          local function with_id(id)
            local a = { id, table.unpack(rest, 2, rest.n) }
            return table.unpack(a, 1, rest.n)
          end
          for _, s in ipairs(PATH_STRINGS) do
            hostile(ep.name, ("id %q"):format(#s > 40 and "5 MB" or s), "raise",
                    { ep.id_name .. " must be an integer", "got string" }, nil, call(ep.name), client, with_id(s))
          end
          for _, o in ipairs(PATH_OTHERS) do
            hostile(ep.name, "id " .. o[1], "raise", { ep.id_name .. " must be an integer" }, nil,
                    call(ep.name), client, with_id(o[2]))
          end
          hostile(ep.name, "id nil", "raise", { ep.id_name .. " must be an integer", "got nil" }, nil,
                  call(ep.name), client, with_id(nil))
          hostile(ep.name, "no id", "raise", { ep.id_name .. " must be an integer", "got no value" }, nil,
                  call(ep.name), client)
          for _, n in ipairs(PATH_NUMBERS) do
            hostile(ep.name, "id " .. n[1], "refuse", { ep.id_name .. " must be a positive integer", n[3] },
                    ep.id_name, call(ep.name), client, with_id(n[2]))
          end
        end)
      end)
    end
  end

  ---------------------------------------------------------------------------- fields

  -- Hostile values for one field of a fields endpoint: {label, value, fragments, how}.
  local function field_cases(ep, field)
    local class = class_of(ep.name, field)
    local group = GROUP[class]
    local q = '"' .. field .. '"'
    local cases = {}
    local function add(label, value, says) cases[#cases + 1] = { label, value, { q, says } } end
    for _, w in ipairs(wrong_types(group)) do
      local says = class == "id_or_null" and "positive integer or json.null" or GROUP_SAYS[group]
      if group == "token" and type(w[2]) == "table" then says = ".access_token is required" end
      if not (class == "id_or_null" and w[2] == NULL) then add("wrong type " .. w[1], w[2], says) end
    end
    if group == "string" then
      add("NUL byte", "ab\0cd", "NUL byte")
      for _, u in ipairs(INVALID_UTF8) do add("invalid UTF-8: " .. u[1], "ab" .. u[2], "not valid UTF-8") end
      add("over 64 KiB", OVER, "longer than 65536 bytes")
      if field == "signature" or field == "username" then add("5 MB", MB5, "longer than 65536 bytes") end
      if class ~= "text" then add("empty", "", "must not be empty") end
      for _, ctl in ipairs(CONTROL) do
        if class == "email" then
          add("control " .. ctl:byte(-1), "a" .. ctl .. "b@valid-domain.io", "email address")
          add("control in domain " .. ctl:byte(-1), "ab@valid" .. ctl .. "domain.io", "email address")
        elseif class == "host" then
          add("control " .. ctl:byte(-1), "smtp.valid-domain.io" .. ctl, "host name")
        elseif class == "name" then
          add("control " .. ctl:byte(-1), "Bob" .. ctl .. "Bcc: x@y.io", "control characters")
        end
      end
      if class == "email" then add("header injection", "a@b.io\r\nBcc: victim@c.io", "email address") end
      if class == "host" then add("path in host", "smtp.io/../evil", "host name") end
    elseif group == "integer" then
      for _, n in ipairs(BAD_NUMBERS) do
        add("number " .. n[1], n[2], class == "id_or_null" and "positive integer or json.null" or "integer")
      end
    elseif group == "date" or group == "color" then
      local bad = group == "date" and { "2026-02-30", "2026/01/01", "26-01-01", "", "2026-01-01\n", "2026-13-01", OVER }
        or { "red", "#12345", "#1234567", "#GGGGGG", "", "#123456\n", OVER }
      for _, s in ipairs(bad) do add(("%s %q"):format(group, #s > 20 and "64 KiB" or s), s, GROUP_SAYS[group]) end
    elseif group == "key" then
      add("NUL byte", "ab\0cd", "NUL byte")
      add("empty", "", "must not be empty")
      add("control", "apple\r\njuice", "control characters")
      add("over 64 KiB", OVER, "longer than 65536 bytes")
      add("2^53 integer", 1 << 53, GROUP_SAYS.key)
    elseif group == "enum" then
      for _, s in ipairs { "gmail", "GMAIL\0", " GMAIL", "GMAIL\n", "\xff", "", OVER } do
        add(("enum %q"):format(#s > 20 and "64 KiB" or s), s, "must be one of")
      end
    elseif group == "token" then
      local function token(changes)
        local t = oauth_fields().token
        for k, v in pairs(changes) do t[k] = v end
        return t
      end
      add("token 1000 deep", deep(1000), ".access_token is required")
      add("token with a cycle", cyclic(token {}), 'unknown key "self"')
      add("token 5 MB access_token", token { access_token = MB5 }, ".access_token is longer than 65536")
      add("token NUL refresh_token", token { refresh_token = "a\0b" }, ".refresh_token contains a NUL")
      add("token invalid UTF-8", token { scope = "\xed\xa0\x80" }, ".scope is not valid UTF-8")
      add("token expiry 2^53+1", token { expiry_date = 2 ^ 53 + 1 }, ".expiry_date must be an integer")
      add("token expiry NaN", token { expiry_date = 0 / 0 }, ".expiry_date must be an integer")
      add("token expiry string", token { expiry_date = "soon" }, ".expiry_date must be an integer")
      add("token function member", token { access_token = print }, ".access_token must be a string")
      add("token unknown key", token { ["\27[2J"] = "x" }, "unknown key")
      add("token positional", token { [1] = "x" }, "unknown key")
      add("token control in type", token { token_type = "Bearer\r\nX: 1" }, "control characters")
    end
    return cases
  end

  -- Keys no endpoint has: {label, key, fragment, err.field}
  local UNKNOWN_KEYS = {
    { "__proto__", "__proto__", 'unknown field "__proto__"' },
    { "constructor", "constructor", 'unknown field "constructor"' },
    { "api_key", "api_key", 'unknown field "api_key"' },
    { "made up", "hostile_field", 'unknown field "hostile_field"' },
    { "control in name", "a\27[2Jb", "unknown field" },
    { "CR LF in name", "x\r\nHost: evil.com", "unknown field" },
    { "invalid UTF-8 name", "a\xffb", "unknown field" },
    { "long name", ("k"):rep(5000), "unknown field" },
    { "NUL in name", "limit\0x", "NUL byte" },
    { "positional", 1, "fields must be named" },
    { "boolean key", true, "fields must be named" },
    { "float key", 1.5, "fields must be named" },
    { "table key", {}, "fields must be named" },
    { "function key", print, "fields must be named" },
  }

  for _, ep in ipairs(ENDPOINTS) do
    if ep.payload == "fields" then
      it(ep.name .. ": wrong types and hostile values in every field", function()
        batch("field values", function()
          for _, field in ipairs(ep.fields) do
            for _, c in ipairs(field_cases(ep, field)) do
              local p = BASE[ep.name]()
              p[field] = c[2]
              local msg = hostile(ep.name, field .. ": " .. c[1], "refuse", c[3], field, call(ep.name), client,
                                  with_payload(ep, p))
              if class_of(ep.name, field) == "secret" or field == "token" then
                assert(type(c[2]) ~= "string" or #c[2] < 4 or not msg:find(c[2], 1, true), "a secret echoed")
              end
            end
          end
        end)
      end)

      it(ep.name .. ": unknown fields and keys that are no names", function()
        batch("unknown fields", function()
          for _, u in ipairs(UNKNOWN_KEYS) do
            local p = BASE[ep.name]()
            p[u[2]] = 1
            local printable = type(u[2]) == "string" and #u[2] < 64 and not u[2]:find("[^%w_]")
            hostile(ep.name, "key " .. u[1], "refuse", u[3], printable and u[2] or nil, call(ep.name), client,
                    with_payload(ep, p))
          end
        end)
      end)

      it(ep.name .. ": an argument that is no table of fields", function()
        batch("fields argument", function()
          local list = { { "string", "limit=5" }, { "number", 5 }, { "boolean", true }, { "function", print },
                         { "userdata", UD }, { "thread", CO }, { "json.null", NULL } }
          if not ep.optional then list[#list + 1] = { "nil", nil } end
          for _, w in ipairs(list) do
            hostile(ep.name, "fields " .. w[1], "raise", "table expected", nil, call(ep.name), client,
                    with_payload(ep, w[2]))
          end
          for _, w in ipairs { { "1000 deep", deep(1000), "unknown field" },
                               { "cycle", cyclic(), 'unknown field "self"' },
                               { "list", { 1, 2, 3 }, "fields must be named" } } do
            hostile(ep.name, "fields " .. w[1], "refuse", w[3], nil, call(ep.name), client,
                    with_payload(ep, w[2]))
          end
        end)
      end)
    end
  end

  ---------------------------------------------------------------------------- id lists

  -- The API takes at most 2,500 accounts per campaign: longer lists are refused, as are holes,
  -- mixed tables, duplicates and entries that are no id.
  local function sparse_big()
    local t = { 3003 }
    t[2 ^ 40] = 3005
    return t
  end
  -- values that are no table at all, where a list of ids belongs
  local NOT_LISTS = { { "nil", nil }, { "string", "3003,3005" }, { "number", 3003 }, { "boolean", true },
    { "function", print }, { "userdata", UD } }
  local ID_LISTS = {
    { "empty", {}, "is empty" },
    { "named keys only", { a = 3003 }, "must be a list" },
    { "hole", { 3003, nil, 3005 }, "must be a list" },
    { "starts at 2", { [2] = 3003 }, "must be a list" },
    { "index 0", { [0] = 3003, 3005 }, "must be a list" },
    { "negative index", { [-1] = 3003, 3005 }, "must be a list" },
    { "float index", { [1.5] = 3003, 3005 }, "must be a list" },
    { "huge index", sparse_big(), "must be a list" },
    { "mixed", { 3003, 3005, extra = 1 }, "must be a list" },
    { "cycle", cyclic { 3003 }, "must be a list" },
    { "100k ids", IDS_100K, { "100000 ids", "at most 2500" } },
    { "2501 ids", count_to(2501), { "2501 ids", "at most 2500" } },
    { "duplicate", { 3003, 3005, 3003 }, "3003 twice" },
    { "duplicate as float", { 3003, 3003.0 }, "3003 twice" },
    { "zero", { 0 }, "[1] must be a positive integer" },
    { "negative", { 3003, -3 }, "[2] must be a positive integer" },
    { "fraction", { 2.5 }, "[1] must be a positive integer" },
    { "NaN", { 0 / 0 }, "[1] must be a positive integer" },
    { "inf", { math.huge }, "[1] must be a positive integer" },
    { "2^53+1 as float", { 2 ^ 53 + 1 }, { "[1] must be a positive integer", "at most 2^53 - 1" } },
    { "maxinteger", { math.maxinteger }, { "[1] must be a positive integer", "at most 2^53 - 1" } },
    { "string id", { "3003" }, "got a string" },
    { "path in id", { "1/../../x" }, "got a string" },
    { "boolean id", { true }, "got a boolean" },
    { "table id", { { id = 3003 } }, "got a table" },
    { "self as id", (function() local t = { 3003 }; t[2] = t; return t end)(), "[2] must be a positive integer" },
    { "1000 deep", deep(1000, 1), "[1] must be a positive integer" },
    { "function id", { print }, "got a function" },
    { "json.null id", { NULL }, "[1] must be a positive integer" },
    { "metatable tricks",
      setmetatable({}, { __len = function() return 2 end, __index = function(_, i) return 3000 + i end }),
      "is empty" },
  }

  for _, ep in ipairs(ENDPOINTS) do
    if ep.payload == "ids" then
      it(ep.name .. ": id lists with holes, cycles, duplicates, too many ids", function()
        batch("id lists", function()
          for _, c in ipairs(ID_LISTS) do
            hostile(ep.name, "ids " .. c[1], "refuse", c[3], "email_account_ids", call(ep.name), client, 4104, c[2])
          end
          for _, w in ipairs(NOT_LISTS) do
            hostile(ep.name, "ids " .. w[1], "raise", "table expected", nil, call(ep.name), client, 4104, w[2])
          end
        end)
      end)
    end
  end

  -- Tag mappings: both lists refused as the campaign's are; the account list may be long (it is sent
  -- 25 ids a request), up to 10,000 ids a call.
  for _, ep in ipairs(ENDPOINTS) do
    if ep.payload == "id_pairs" then
      it(ep.name .. ": account and tag id lists with holes, cycles, duplicates, too many ids", function()
        batch("id lists", function()
          for _, c in ipairs(ID_LISTS) do
            local says, ids = c[3], c[2]
            if c[1] == "2501 ids" then ids, says = count_to(10001), { "10001 ids", "at most 10000" } end
            if c[1] == "100k ids" then says = { "100000 ids", "at most 10000" } end
            hostile(ep.name, "ids " .. c[1], "refuse", says, "email_account_ids", call(ep.name), client, ids, { 501 })
            if c[1] ~= "2501 ids" and c[1] ~= "100k ids" then
              hostile(ep.name, "tag ids " .. c[1], "refuse", c[3], "tag_ids", call(ep.name), client, { 3003 }, c[2])
            end
          end
          for _, w in ipairs(NOT_LISTS) do
            hostile(ep.name, "ids " .. w[1], "raise", "table expected", nil, call(ep.name), client, w[2], { 501 })
            hostile(ep.name, "tag ids " .. w[1], "raise", "table expected", nil, call(ep.name), client, { 3003 }, w[2])
          end
        end)
      end)
    end
  end

  for _, ep in ipairs(ENDPOINTS) do
    if ep.payload == "emails" then
      it(ep.name .. ": address lists that are no list, empty, too long, or hold no address", function()
        batch("address lists", function()
          local many = {}
          for i = 1, 1001 do many[i] = ("a%d@b.io"):format(i) end
          for _, c in ipairs { { "empty", {}, "is empty" }, { "named keys", { a = "x@y.io" }, "must be a list" },
                               { "hole", { "x@y.io", nil, "z@y.io" }, "must be a list" },
                               { "1001 addresses", many, "at most 1000" },
                               { "plain", { "plain" }, "is not an email address" },
                               { "NUL", { "a@b.io\0x" }, "must be an email address" },
                               { "number", { 12 }, "must be an email address" },
                               { "CR LF", { "a@b.io\r\nX: 1" }, "must be an email address" },
                               { "5 MB", { MB5 }, "must be an email address" } } do
            hostile(ep.name, "emails " .. c[1], "refuse", c[3], "email_ids", call(ep.name), client, c[2])
          end
          for _, w in ipairs { { "nil", nil }, { "string", "a@b.io" }, { "number", 3 }, { "function", print } } do
            hostile(ep.name, "emails " .. w[1], "raise", "table expected", nil, call(ep.name), client, w[2])
          end
        end)
      end)
    end
  end

  ---------------------------------------------------------------------------- the email argument

  for _, ep in ipairs(ENDPOINTS) do
    if ep.payload == "email" then
      it(ep.name .. ": addresses with control bytes, NUL, invalid UTF-8, 5 MB", function()
        batch("email argument", function()
          local bad = { "", "plain", "a@b", "a@@b.io", "a b@c.io", "a@b.io\0x", "a\0@b.io", MB5, 12,
                        "a@b.io\r\nX-Injected: 1", "a@b.io&api_key=other", "../../x@b.io/..", "1/../../x" }
          for _, ctl in ipairs(CONTROL) do
            bad[#bad + 1] = "a" .. ctl .. "b@valid-domain.io"
            bad[#bad + 1] = "ab@valid" .. ctl .. "domain.io"
          end
          for _, u in ipairs(INVALID_UTF8) do bad[#bad + 1] = "a" .. u[2] .. "@b.io" end
          for _, s in ipairs(bad) do
            hostile(ep.name, ("email %q"):format(type(s) == "string" and #s > 40 and "5 MB" or s), "refuse",
                    "is not an email address", "email", call(ep.name), client, s)
          end
          for _, w in ipairs { { "nil", nil }, { "table", { email = "a@b.io" } }, { "boolean", true },
                               { "function", print }, { "userdata", UD }, { "cycle", cyclic() } } do
            hostile(ep.name, "email " .. w[1], "raise", "string expected", nil, call(ep.name), client, w[2])
          end
        end)
      end)
    end
  end

  ---------------------------------------------------------------------------- request

  describe("request", function()
    local R = "request"
    local function req(...) return client:request(...) end

    it("refuses methods other than GET, POST, PUT, PATCH, DELETE", function()
      batch("request method", function()
        for _, m in ipairs { "get", "Get", "HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "", "GET ", " GET",
                             "GET\r\nX-Evil: 1", "GET\0", "POST\0X", "G\nET", ("A"):rep(1000), "1" } do
          hostile(R, ("method %q"):format(#m > 20 and "long" or m), "raise",
                  "method must be GET, POST, PUT, PATCH or DELETE",
                  nil, req, m, "/email-accounts/")
        end
        for _, w in ipairs { { "nil", nil }, { "table", {} }, { "boolean", true }, { "function", print } } do
          hostile(R, "method " .. w[1], "raise", "string expected", nil, req, w[2], "/email-accounts/")
        end
      end)
    end)

    it("refuses paths that leave the API, absolute URLs, CR/LF", function()
      batch("request path", function()
        local paths = { "/email-accounts/1/../../x", "/email-accounts/1?x=y", "/email-accounts/1#f",
                        "/email-accounts/%2e%2e", "/email-accounts/%2e%2e/x", "/..", "/../x", "/a/./b", "/a//b",
                        "//evil.com/x", "http://evil.com/x", "https://evil.com/x", "evil.com/x", "HTTP://evil.com",
                        "/x\r\nHost: evil.com", "/x\r\n\r\nGET /y", "/x\n", "/x\0y", "/x y", "/x\t", "",
                        "/caf\xc3\xa9", "/\xff", "/x\\..\\y", 5 }
        for _, p in ipairs(paths) do
          hostile(R, ("path %q"):format(p), "refuse", "path ", "path", req, "GET", p)
        end
        hostile(R, "path of 3000 bytes", "refuse", "longer than 2048", "path", req, "GET", "/" .. ("a"):rep(3000))
        for _, w in ipairs { { "nil", nil }, { "table", {} }, { "boolean", true }, { "function", print } } do
          hostile(R, "path " .. w[1], "raise", "string expected", nil, req, "GET", w[2])
        end
      end)
    end)

    it("refuses queries whose values are tables, functions, NaN, control bytes, 5 MB", function()
      batch("request query", function()
        local values = {
          { "table", {}, "got table" }, { "cycle", cyclic(), "got table" }, { "1000 deep", deep(1000), "got table" },
          { "function", print, "got function" }, { "userdata", UD, "got userdata" }, { "thread", CO, "got thread" },
          { "json.null", NULL, "must be a string, number or boolean" }, { "NaN", 0 / 0, "finite" },
          { "inf", math.huge, "finite" }, { "NUL", "a\0b", "without NUL" },
          { "invalid UTF-8", "\xed\xa0\x80", "UTF-8" },
          { "5 MB", MB5, "at most 65536 bytes" }, { "CR LF", "x\r\nX-Injected: 1", "control characters" },
          { "LF", "x\n", "control characters" }, { "ESC", "\27[2J", "control characters" },
          { "C1", "\xc2\x85", "control characters" },
        }
        for _, v in ipairs(values) do
          hostile(R, "query value " .. v[1], "refuse", { 'query value "username"', v[3] }, "query", req, "GET",
                  "/email-accounts/", { query = { username = v[2] } })
        end
        local keys = {
          { "positional", { "x" }, "must be named" }, { "boolean key", { [true] = 1 }, "must be named" },
          { "table key", { [{}] = 1 }, "must be named" }, { "NUL key", { ["a\0b"] = 1 }, "NUL byte" },
          { "CR LF name, bad value", { ["a\r\nX-Injected: 1"] = print }, 'query value "(unprintable name)"' },
          { "ESC name, bad value", { ["\27[2J"] = 0 / 0 }, 'query value "(unprintable name)"' },
          { "api_key", { api_key = "other-key-123" }, "must not carry api_key" },
          { "API_KEY", { API_KEY = "other-key-123" }, "must not carry api_key" },
          { "65 keys", (function() local t = {}; for i = 1, 65 do t["k" .. i] = i end; return t end)(), "at most 64" },
        }
        for _, k in ipairs(keys) do
          hostile(R, "query " .. k[1], "refuse", k[3], "query", req, "GET", "/email-accounts/", { query = k[2] })
        end
        for _, q in ipairs { { "string", "limit=5&api_key=x" }, { "number", 5 }, { "boolean", true },
                             { "function", print } } do
          hostile(R, "query " .. q[1], "refuse", "query must be a table", "query", req, "GET", "/email-accounts/",
                  { query = q[2] })
        end
      end)
    end)

    it("refuses bodies with cycles, 1000-deep nesting, functions, NaN, bad UTF-8, 5 MB", function()
      batch("request body", function()
        local bodies = {
          { "cycle", cyclic(), "contains itself" }, { "1000 deep", deep(1000), "nested more than 100 deep" },
          { "function", { f = print }, "function" }, { "thread", { co = CO }, "thread" },
          { "userdata", { u = UD }, "userdata" },
          { "NaN", { n = 0 / 0 }, "NaN or infinity" }, { "inf", { n = math.huge }, "NaN or infinity" },
          { "invalid UTF-8", { s = "\xc0\xaf" }, "not valid UTF-8" }, { "mixed", { 1, x = 2 }, "mixes array items" },
          { "boolean key", { [true] = 1 }, "non-string keys" },
          { "5 MB", { signature = MB5 }, "at most 1048576 bytes" },
          { "function body", print, "function" },
        }
        for _, b in ipairs(bodies) do
          hostile(R, "body " .. b[1], "refuse", { "body: ", b[3] }, "body", req, "POST", "/email-accounts/3002",
                  { body = b[2] })
        end
      end)
    end)

    it("refuses options that are no table or that it does not know", function()
      batch("request options", function()
        for _, o in ipairs { { "string", "limit=1" }, { "number", 1 }, { "boolean", true }, { "function", print } } do
          hostile(R, "opts " .. o[1], "raise", "table expected", nil, req, "GET", "/email-accounts/", o[2])
        end
        for _, o in ipairs { { "headers", { headers = { ["X-Evil"] = "1" } } }, { "typo", { qeury = { limit = 1 } } },
                             { "url", { url = "http://evil.com/x" } }, { "method", { method = "DELETE" } },
                             { "positional", { { limit = 1 } } }, { "control key", { ["\27[2J"] = 1 } } } do
          hostile(R, "opts " .. o[1], "refuse", "unknown option", "opts", req, "GET", "/email-accounts/", o[2])
        end
      end)
    end)
  end)

  -- A query name travels percent-encoded whatever its bytes (errors_spec sends one with a line
  -- break on purpose), so CR LF in a name cannot split the URL or add a header: it arrives as
  -- one parameter, as do & = # in a value.
  it("request sends CR LF in a query name, and & = # in a value, as one parameter each", function()
    local before = #server:log()
    client:request("GET", "/email-accounts/", { query = { ["a\r\nX-Injected: 1"] = "x&api_key=other#f", limit = 1 } })
    local log = server:log()
    assert.equal(before + 1, #log)
    assert.same({ api_key = "***", ["a\r\nX-Injected: 1"] = "x&api_key=other#f", limit = "1" }, log[#log].query)
  end)

  ---------------------------------------------------------------------------- reconnect

  it("reconnect_failed_email_accounts sends {} and nothing of its arguments", function()
    local before = #server:log()
    assert.is_true(core.validators.reconnect_failed_email_accounts(client, cyclic(), MB5, print))
    client:reconnect_failed_email_accounts(cyclic { api_key = "other-key-123", body = MB5 }, "../../x", print)
    local log = server:log()
    assert.equal(before + 1, #log)
    assert.same({}, log[#log].body)
    assert.equal("/api/v1/email-accounts/reconnect-failed-email-accounts", log[#log].path)
  end)

  ---------------------------------------------------------------------------- afterwards

  it("every method was tried, and each still works with valid input", function()
    for _, ep in ipairs(ENDPOINTS) do
      assert(by_method[ep.name] and by_method[ep.name] > 0, ep.name .. " was not tried")
    end
    assert(by_method.request > 0)
    for _, ep in ipairs(ENDPOINTS) do
      local before = #server:log()
      local a = args_for(ep)
      local res, err = client[ep.name](client, table.unpack(a, 1, a.n))
      assert.equal(before + 1, #server:log(), ep.name .. " valid call was not sent")
      assert(res or err.kind == "http", ep.name .. ": " .. tostring(err))
    end
    assert(client:request("GET", "/email-accounts/", { query = { limit = 1 } }))
  end)
end)
