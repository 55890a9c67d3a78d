-- smartlead.mock: request handlers of the mock SmartLead server (pure Lua, stateful).
--
-- The HTTP side (C, libmicrohttpd) calls server:handle(req) once per request, under a lock, and
-- sends back the answer: r.status, r.headers, r.body, after sleeping r.delay_ms outside the lock;
-- r.fault = "drop" closes the connection unanswered, "truncate" sends half the body.
-- The behaviour follows docs/smartlead-api.md; where it had to guess, a comment says so.
--
-- mock.new(seed, opts): seed is the decoded spec/fixtures/seed.json ({accounts=, campaigns=},
-- clear passwords, campaign membership in campaigns[].email_account_ids). opts: api_key (user_id,
-- default 1001), other_keys = {key = user_id}, extra_accounts = N, now = clock function, plus
-- the knobs of KNOBS below, which POST /__mock/config can change later. server.now() is the
-- clock (seconds, default os.time); tests replace it.

local json = require "smartlead.json"

-- When each request arrived (log entries' `at`), on the clock clients use for their own timing.
local has_core, core = pcall(require, "smartlead.core")
local monotime = has_core and core.monotime or os.clock

local M = {}
local Server = {}
Server.__index = Server

local DEFAULT_USER = 1001
local DEFAULT_KEY = "mock-key"
local LINK_ID_BASE = 46000
local CAMPAIGN_LIMIT = 2500
M.DEFAULT_LOG_LIMIT = 20000 -- request-log entries kept (knob log_limit)
local NULL = json.null

---------------------------------------------------------------------------- small utilities

local function is_null(v) return v == nil or v == NULL end
local function or_null(v) if v == nil then return NULL end return v end

-- Copies tables recursively, keeping the array metatable so arrays stay arrays.
local function deep_copy(v)
  if type(v) ~= "table" or v == NULL then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = deep_copy(x) end
  return setmetatable(out, getmetatable(v))
end

local function sorted_keys(set)
  local list = json.array({})
  for k in pairs(set) do list[#list + 1] = k end
  table.sort(list)
  return list
end

local function count_keys(set)
  local n = 0
  for _ in pairs(set) do n = n + 1 end
  return n
end

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%S.000Z", math.floor(t)) end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local chars = {}
    for j = 1, 4 do
      local idx = (n >> (6 * (4 - j))) & 63
      chars[j] = B64:sub(idx + 1, idx + 1)
    end
    if not b then chars[3] = "=" end
    if not c then chars[4] = "=" end
    out[#out + 1] = table.concat(chars)
  end
  return table.concat(out)
end

local function is_email(s)
  return type(s) == "string" and #s <= 254 and not s:find("%.%.")
    and s:match("^[%w._%%+%-]+@[%w%-]+%.[%w.%-]*%a$") ~= nil
end

-- splitmix64: tiny, seedable, same sequence on every platform (Lua integers wrap).
local function new_rng(seed)
  local state = math.tointeger(seed) or 1
  local rng = {}
  function rng.next()
    state = state + 0x9E3779B97F4A7C15
    local z = state
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    return z ~ (z >> 31)
  end
  function rng.float() return (rng.next() >> 11) * (1.0 / 9007199254740992.0) end
  function rng.int(lo, hi) return lo + (rng.next() >> 1) % (hi - lo + 1) end
  return rng
end
M.new_rng = new_rng

local WORDS = { "apple", "keyes", "otter", "maple", "river", "cobalt", "falcon", "juniper",
  "lantern", "meadow", "nimbus", "orchid", "pepper", "quartz", "saffron", "tundra", "velvet",
  "willow", "zephyr", "harbor" }

local function two_words(n)
  return WORDS[n % #WORDS + 1] .. "-" .. WORDS[(n // #WORDS) % #WORDS + 1]
end

---------------------------------------------------------------------------- answers

local function reply(status, value, headers)
  local h = { ["Content-Type"] = "application/json" }
  for k, v in pairs(headers or {}) do h[k] = v end
  return { status = status, headers = h, body = json.encode(value), delay_ms = 0 }
end

local function raw_reply(status, content_type, body)
  return { status = status, headers = { ["Content-Type"] = content_type }, body = body, delay_ms = 0 }
end

-- Joi/celebrate-style validation failure, as the real API sends it.
local function validation_error(source, key, problem)
  return reply(400, {
    statusCode = 400, error = "Bad Request",
    message = string.format('"%s" %s', key, problem),
    validation = { source = source, keys = json.array({ key }) },
  })
end

local function value_error(message) return reply(422, { error = message }) end

local function cannot(method, path)
  return reply(404, { error = string.format("Cannot %s %s", method, path) })
end

local function account_not_found_save(id)
  return reply(404, { ok = false, message = "Email account not found",
    errorCode = "ACCOUNT_NOT_FOUND", emailAccountId = id })
end

local ACCOUNT_NOT_FOUND = { ok = false, message = "Email account not found", errorCode = "ACCOUNT_NOT_FOUND" }
local function account_not_found() return reply(404, ACCOUNT_NOT_FOUND) end
local function account_missing() return reply(404, { error = "Email account not found" }) end
local function campaign_not_found() return reply(404, { error = "Campaign not found - Invalid campaign_id." }) end

local function permission_error(id)
  return reply(400, { error = string.format("Email account id - %d not allowed. Permission Error.", id) })
end

---------------------------------------------------------------------------- field checks

-- Each schema row: { name, kind, required = bool, nullable = bool, values = {...} }.
-- Kinds: string, email, integer, number, boolean, object, array.

local function check_kind(kind, v)
  if kind == "string" then
    return type(v) == "string", "must be a string", v
  elseif kind == "email" then
    if type(v) ~= "string" then return false, "must be a string" end
    return is_email(v), "must be a valid email", v
  elseif kind == "integer" then
    if type(v) ~= "number" then return false, "must be a number" end
    local n = math.tointeger(v)
    return n ~= nil, "must be an integer", n
  elseif kind == "number" then
    return type(v) == "number", "must be a number", v
  elseif kind == "boolean" then
    return type(v) == "boolean", "must be a boolean", v
  elseif kind == "object" then
    return type(v) == "table" and v ~= NULL and not json.is_array(v), "must be of type object", v
  elseif kind == "array" then
    return json.is_array(v), "must be an array", v
  end
  error("unknown kind " .. tostring(kind))
end

-- First unknown key in sorted order (sorted so the answer is deterministic).
local function find_unknown(values, schema)
  local known = {}
  for _, row in ipairs(schema) do known[row[1]] = true end
  local keys = {}
  for k in pairs(values) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if not known[k] then return k end
  end
end

-- Checks presence and JSON types; normalizes integral floats. Returns field, problem on failure.
local function check_types(body, schema)
  for _, row in ipairs(schema) do
    local name, v = row[1], body[row[1]]
    if v == nil then
      if row.required then return name, "is required" end
    elseif v == NULL then
      if not row.nullable then
        local _, problem = check_kind(row[2], {})
        return name, problem
      end
    else
      local ok, problem, normalized = check_kind(row[2], v)
      if not ok then return name, problem end
      if row.required and normalized == "" then return name, "is not allowed to be empty" end
      body[name] = normalized
    end
  end
end

local function check_body(body, schema)
  local unknown = find_unknown(body, schema)
  if unknown then return validation_error("payload", unknown, "is not allowed") end
  local field, problem = check_types(body, schema)
  if field then return validation_error("payload", field, problem) end
end

-- Range rows: { name, min, max }; answered with 422 like the documented value errors.
local function check_ranges(body, ranges)
  for _, r in ipairs(ranges) do
    local v = body[r[1]]
    if type(v) == "number" and (v < r[2] or (r[3] and v > r[3])) then
      if r[3] then return value_error(string.format("%s must be between %d and %d", r[1], r[2], r[3])) end
      return value_error(string.format("%s must be greater than or equal to %d", r[1], r[2]))
    end
  end
end

local QUERY_PARSERS = {
  boolean = function(s)
    if s == "true" then return true elseif s == "false" then return false end
    return nil, "must be a boolean"
  end,
  integer = function(s)
    local n = s:match("^%-?%d+$") and math.tointeger(tonumber(s))
    if not n then return nil, "must be a number" end
    return n
  end,
  string = function(s)
    if s == "" then return nil, "is not allowed to be empty" end
    return s
  end,
  email = function(s)
    if s == "" then return nil, "is not allowed to be empty" end
    if not is_email(s) then return nil, "must be a valid email" end
    return s
  end,
}

local function parse_query_value(row, s)
  local v, problem = QUERY_PARSERS[row[2]](s)
  if v == nil then return nil, problem end
  if row.values then
    for _, allowed in ipairs(row.values) do
      if v == allowed then return v end
    end
    return nil, "must be one of [" .. table.concat(row.values, ", ") .. "]"
  end
  if row.min and v < row.min then return nil, "must be greater than or equal to " .. row.min end
  return v
end

-- Query strings arrive as strings; returns the typed table or an error answer.
local function parse_query(query, schema)
  local out = {}
  for _, row in ipairs(schema) do
    local s = query[row[1]]
    if s == nil then
      if row.required then return nil, validation_error("query", row[1], "is required") end
    else
      local v, problem = parse_query_value(row, tostring(s))
      if v == nil then return nil, validation_error("query", row[1], problem) end
      out[row[1]] = v
    end
  end
  local unknown = find_unknown(query, schema)
  if unknown then return nil, validation_error("query", unknown, "is not allowed") end
  return out
end

---------------------------------------------------------------------------- account records

local WARMUP_FIELDS = { "status", "total_sent_count", "total_spam_count", "warmup_reputation",
  "warmup_key_id", "warmup_created_at", "reply_rate", "blocked_reason", "warmup_min_count",
  "warmup_max_count", "max_email_per_day" }

-- Fields copied as stored into every account answer (passwords and derived ones are added apart).
local PLAIN_FIELDS = { "id", "created_at", "updated_at", "user_id", "from_name", "from_email",
  "username", "smtp_host", "smtp_port", "smtp_port_type", "message_per_day", "daily_sent_count",
  "different_reply_to_address", "is_different_imap_account", "imap_username", "imap_host",
  "imap_port", "imap_port_type", "signature", "custom_tracking_domain", "bcc_email",
  "is_smtp_success", "is_imap_success", "smtp_failure_error", "imap_failure_error", "type",
  "client_id", "expires_at", "minTimeToWaitInMins" }

local function port_type(port, ssl_port)
  if port == ssl_port then return "SSL" end
  return "TLS"
end

-- Defaults for a fresh account; also fills holes in hand-written seeds.
local function account_defaults(id, user_id, stamp)
  return {
    id = id, created_at = stamp, updated_at = stamp, user_id = user_id,
    from_name = "", from_email = "", username = "", password = NULL,
    smtp_host = "", smtp_port = 587, smtp_port_type = "TLS", message_per_day = 50,
    daily_sent_count = 0, different_reply_to_address = "", is_different_imap_account = false,
    imap_username = "", imap_password = NULL, imap_host = "", imap_port = 993,
    imap_port_type = "SSL", signature = NULL, custom_tracking_domain = NULL, bcc_email = NULL,
    is_smtp_success = true, is_imap_success = true, smtp_failure_error = NULL,
    imap_failure_error = NULL, type = "SMTP", client_id = NULL, expires_at = NULL,
    minTimeToWaitInMins = 3, is_suspended = false, tags = json.array({}), warmup_details = NULL,
  }
end

local function normalize_account(rec)
  local acc = deep_copy(rec)
  acc.campaign_ids, acc.campaign_count, acc.is_connected_to_campaign = nil, nil, nil
  for k, v in pairs(account_defaults(acc.id, acc.user_id or DEFAULT_USER, acc.created_at or iso(0))) do
    if acc[k] == nil then acc[k] = v end
  end
  acc.tags = json.array(acc.tags ~= NULL and acc.tags or {})
  return acc
end

-- isWarmupBlocked rule: warmup_details.blocked_reason is not null (the status may say anything).
local function is_warmup_blocked(acc)
  local w = acc.warmup_details
  return not is_null(w) and not is_null(w.blocked_reason)
end

-- emailWarmupStatus: ACTIVE only when warmup_details.status says so; null details are INACTIVE.
local function warmup_status(acc)
  local w = acc.warmup_details
  if not is_null(w) and w.status == "ACTIVE" then return "ACTIVE" end
  return "INACTIVE"
end

local function present_warmup(w)
  if is_null(w) then return NULL end
  local out = {}
  for _, k in ipairs(WARMUP_FIELDS) do out[k] = or_null(w[k]) end
  return out
end

local function present_tags(tags)
  local out = json.array({})
  for i, t in ipairs(tags) do out[i] = { id = t.id, name = t.name, color = t.color } end
  return out
end

local function encoded_secret(v)
  if type(v) == "string" then return base64(v) end
  return NULL
end

---------------------------------------------------------------------------- server state

function Server:iso_now() return iso(self.now()) end

function Server:campaign_set(account_id)
  local set = self.memberships[account_id]
  if not set then
    set = {}
    self.memberships[account_id] = set
  end
  return set
end

function Server:add_account(acc)
  self.accounts[acc.id] = acc
  local ids = self.account_ids
  ids[#ids + 1] = acc.id
  if #ids > 1 and ids[#ids - 1] > acc.id then table.sort(ids) end
  if acc.id >= self.next_account_id then self.next_account_id = acc.id + 1 end
  self.emails[acc.from_email:lower()] = acc.id
end

function Server:link(campaign_id, account_id, stamp)
  local links = self.links[campaign_id]
  local link = links[account_id]
  if link then
    link.updated_at = stamp
    return link, false
  end
  self.next_link_id = self.next_link_id + 1
  link = { id = self.next_link_id, email_campaign_id = campaign_id, email_account_id = account_id, updated_at = stamp }
  links[account_id] = link
  self:campaign_set(account_id)[campaign_id] = true
  return link, true
end

function Server:unlink(campaign_id, account_id)
  local links = self.links[campaign_id]
  if not links[account_id] then return false end
  links[account_id] = nil
  self:campaign_set(account_id)[campaign_id] = nil
  return true
end

function Server:load_campaign(rec)
  local c = deep_copy(rec)
  local member_ids = c.email_account_ids
  c.email_account_ids = nil
  self.campaigns[c.id] = c
  self.links[c.id] = {}
  for _, aid in ipairs(is_null(member_ids) and {} or member_ids) do
    if self.accounts[aid] then self:link(c.id, aid, is_null(c.created_at) and iso(0) or c.created_at) end
  end
end

-- Synthesized accounts for benchmarks: same shape as the fixture, cheap to build.
function Server:synth_account(id, rng)
  local types = { "GMAIL", "OUTLOOK", "SMTP", "SMTP", "ZOHO" }
  local acc = account_defaults(id, self.user_id, iso(1704067200 + id * 60))
  acc.type = types[id % #types + 1]
  acc.from_name = "Bench " .. id
  acc.from_email = string.format("bench%d@bulk%d.example.com", id, id % 50)
  acc.username, acc.imap_username = acc.from_email, acc.from_email
  acc.password = string.format("FAKEPW-%d-bench", id)
  acc.imap_password = acc.password
  acc.smtp_host, acc.imap_host = "mail.bulk.example.com", "mail.bulk.example.com"
  acc.message_per_day = 5 * rng.int(4, 20)
  acc.daily_sent_count = rng.int(0, acc.message_per_day)
  local rep = rng.int(60, 100)
  acc.warmup_details = { status = "ACTIVE", total_sent_count = 500, total_spam_count = 5 * (100 - rep),
    warmup_reputation = rep .. "%", warmup_key_id = two_words(id), warmup_created_at = acc.created_at,
    reply_rate = 30, blocked_reason = NULL, warmup_min_count = 2, warmup_max_count = 20, max_email_per_day = 20 }
  return acc
end

function Server:load_state()
  self.accounts, self.account_ids, self.emails = {}, {}, {}
  self.campaigns, self.links, self.memberships = {}, {}, {}
  self.next_account_id, self.next_link_id = 1, LINK_ID_BASE
  for _, rec in ipairs(self.seed.accounts or {}) do self:add_account(normalize_account(rec)) end
  local rng = new_rng(4242)
  for _ = 1, self.extra_accounts do self:add_account(self:synth_account(self.next_account_id, rng)) end
  for _, rec in ipairs(self.seed.campaigns or {}) do self:load_campaign(rec) end
end

function Server:own_account(user_id, id)
  local acc = self.accounts[id]
  if acc and acc.user_id == user_id then return acc end
end

function Server:own_campaign(user_id, id)
  local c = self.campaigns[id]
  if c and c.user_id == user_id then return c end
end

function Server:present_account(acc, opts)
  opts = opts or {}
  local out = {}
  for _, k in ipairs(PLAIN_FIELDS) do out[k] = or_null(acc[k]) end
  out.password = encoded_secret(acc.password)
  out.imap_password = encoded_secret(acc.imap_password)
  local cset = self:campaign_set(acc.id)
  local count = count_keys(cset)
  out.campaign_count = count
  out.is_connected_to_campaign = count > 0
  if opts.tags ~= false then out.tags = present_tags(acc.tags) end
  out.warmup_details = present_warmup(acc.warmup_details)
  if opts.campaign_ids then out.campaign_ids = sorted_keys(cset) end
  if opts.is_suspended then out.is_suspended = acc.is_suspended == true end
  return out
end

---------------------------------------------------------------------------- list and read

local LIST_QUERY = {
  { "offset", "integer", min = 0 }, { "limit", "integer", min = 1 },
  { "isInUse", "boolean" }, { "emailWarmupStatus", "string", values = { "ACTIVE", "INACTIVE" } },
  { "isSmtpSuccess", "boolean" }, { "isWarmupBlocked", "boolean" },
  { "esp", "string", values = { "GMAIL", "OUTLOOK", "SMTP" } }, { "username", "string" },
  { "client_id", "integer" }, { "fetch_campaigns", "boolean" },
}

local function username_matches(acc, needle)
  return type(acc.username) == "string" and acc.username:lower():find(needle:lower(), 1, true) ~= nil
end

function Server:matches_filters(acc, q)
  if q.isInUse ~= nil and (next(self:campaign_set(acc.id)) ~= nil) ~= q.isInUse then return false end
  if q.emailWarmupStatus and warmup_status(acc) ~= q.emailWarmupStatus then return false end
  if q.isSmtpSuccess ~= nil and acc.is_smtp_success ~= q.isSmtpSuccess then return false end
  if q.isWarmupBlocked ~= nil and is_warmup_blocked(acc) ~= q.isWarmupBlocked then return false end
  if q.esp and acc.type ~= q.esp then return false end
  if q.username and not username_matches(acc, q.username) then return false end
  if q.client_id and acc.client_id ~= q.client_id then return false end
  return true
end

function Server:list_accounts(ctx)
  local q = ctx.query
  local limit, offset = q.limit or 100, q.offset or 0
  if limit > 100 then
    -- the docs say 422; a live client saw an empty page instead (knob limit_over_100)
    if self.config.limit_over_100 == "empty" then return reply(200, json.array({})) end
    return value_error("limit must be less than or equal to 100")
  end
  local page, seen = json.array({}), 0
  for _, id in ipairs(self.account_ids) do
    local acc = self.accounts[id]
    if acc.user_id == ctx.user_id and self:matches_filters(acc, q) then
      seen = seen + 1
      if seen > offset then page[#page + 1] = self:present_account(acc, { campaign_ids = q.fetch_campaigns }) end
      if #page >= limit then break end
    end
  end
  return reply(200, page)
end

function Server:get_account(ctx)
  local acc = self:own_account(ctx.user_id, ctx.id)
  if not acc then return account_missing() end
  return reply(200, self:present_account(acc, {
    campaign_ids = ctx.query.fetch_campaigns, tags = ctx.query.fetch_tags == true, is_suspended = true }))
end

-- 404 also when the account exists but is not connected, as documented.
function Server:fetch_details(ctx)
  local id = self.emails[ctx.query.email:lower()]
  local acc = id and self:own_account(ctx.user_id, id)
  if not acc or not acc.is_smtp_success then return account_missing() end
  return reply(200, self:present_account(acc))
end

function Server:campaign_accounts(ctx)
  if not self:own_campaign(ctx.user_id, ctx.id) then return campaign_not_found() end
  local out = json.array({})
  for _, aid in ipairs(sorted_keys(self.links[ctx.id])) do
    out[#out + 1] = self:present_account(self.accounts[aid])
  end
  return reply(200, out)
end

---------------------------------------------------------------------------- saving accounts

-- Request field name -> stored field name (the API renames several on the way in).
local STORED_AS = {
  from_name = "from_name", from_email = "from_email", user_name = "username", username = "username",
  password = "password", smtp_host = "smtp_host", smtp_port = "smtp_port", imap_host = "imap_host",
  imap_port = "imap_port", type = "type", max_email_per_day = "message_per_day",
  custom_tracking_url = "custom_tracking_domain", bcc = "bcc_email", signature = "signature",
  time_to_wait_in_mins = "minTimeToWaitInMins", client_id = "client_id",
  imap_user_name = "imap_username", imap_password = "imap_password",
  different_reply_to_address = "different_reply_to_address", is_suspended = "is_suspended",
}

local function copy_stored(acc, body)
  for name, stored in pairs(STORED_AS) do
    if body[name] ~= nil then acc[stored] = body[name] end
  end
end

local SAVE_SCHEMA = {
  { "from_name", "string", required = true }, { "from_email", "email", required = true },
  { "user_name", "string", required = true }, { "password", "string", required = true },
  { "smtp_host", "string", required = true }, { "smtp_port", "integer", required = true },
  { "imap_host", "string", required = true }, { "imap_port", "integer", required = true },
  { "warmup_enabled", "boolean", required = true },
  { "id", "integer", nullable = true }, { "type", "string" }, { "token", "object", nullable = true },
  { "max_email_per_day", "integer" }, { "custom_tracking_url", "string", nullable = true },
  { "bcc", "string", nullable = true }, { "signature", "string", nullable = true },
  { "time_to_wait_in_mins", "integer" }, { "total_warmup_per_day", "integer" },
  { "daily_rampup", "integer" }, { "reply_rate_percentage", "number" },
  { "client_id", "integer", nullable = true }, { "imap_user_name", "string" },
  { "imap_password", "string" }, { "different_reply_to_address", "string", nullable = true },
  { "is_suspended", "boolean" },
}

local OAUTH_SCHEMA = {
  { "from_name", "string", required = true }, { "from_email", "email", required = true },
  { "username", "string", required = true }, { "type", "string", required = true },
  { "token", "object", required = true }, { "warmup_enabled", "boolean", required = true },
  { "use_whitelabel_credentials", "boolean", required = true },
  { "id", "integer", nullable = true }, { "max_email_per_day", "integer" },
  { "custom_tracking_url", "string", nullable = true }, { "bcc", "string", nullable = true },
  { "time_to_wait_in_mins", "integer" }, { "signature", "string", nullable = true },
  { "total_warmup_per_day", "integer" }, { "daily_rampup", "integer" },
  { "reply_rate_percentage", "number" }, { "client_id", "integer", nullable = true },
}

local SAVE_RANGES = {
  { "smtp_port", 1, 65535 }, { "imap_port", 1, 65535 }, { "max_email_per_day", 0 },
  { "time_to_wait_in_mins", 0 }, { "total_warmup_per_day", 1, 100 }, { "daily_rampup", 0, 100 },
  { "reply_rate_percentage", 0, 100 }, { "client_id", 1 },
}

local function check_enum(name, v, allowed)
  for _, a in ipairs(allowed) do
    if v == a then return nil end
  end
  return value_error(string.format("%s must be one of [%s]", name, table.concat(allowed, ", ")))
end

-- Hook for tests: a host containing "invalid" fails verification and nothing is saved.
local function verification_failure(body)
  for _, field in ipairs({ "smtp_host", "imap_host" }) do
    if type(body[field]) == "string" and body[field]:lower():find("invalid", 1, true) then
      local what = field == "smtp_host" and "SMTP" or "IMAP"
      return reply(400, { ok = false, errorCode = "ACCOUNT_VERIFICATION_FAILED",
        message = string.format("%s connection failed: getaddrinfo ENOTFOUND %s", what, body[field]) })
    end
  end
end

function Server:new_warmup(acc)
  return { status = "INACTIVE", total_sent_count = 0, total_spam_count = 0, warmup_reputation = "100%",
    warmup_key_id = two_words(acc.id), warmup_created_at = self:iso_now(), reply_rate = 30,
    blocked_reason = NULL, warmup_min_count = 1, warmup_max_count = 20, max_email_per_day = 20,
    daily_rampup = 5 }
end

-- Shared by save, save-oauth and the warmup endpoint.
function Server:apply_warmup(acc, body)
  local w = acc.warmup_details
  if is_null(w) then
    if not body.warmup_enabled then return end
    w = self:new_warmup(acc)
    acc.warmup_details = w
  end
  w.status = body.warmup_enabled and "ACTIVE" or "INACTIVE"
  if body.total_warmup_per_day then
    w.warmup_max_count, w.max_email_per_day = body.total_warmup_per_day, body.total_warmup_per_day
  end
  if body.daily_rampup then w.daily_rampup = body.daily_rampup end
  if body.reply_rate_percentage then w.reply_rate = body.reply_rate_percentage end
  if body.warmup_key_id then w.warmup_key_id = body.warmup_key_id end
end

-- Derived fields that follow from the credentials.
local function refresh_derived(acc)
  acc.smtp_port_type = port_type(acc.smtp_port, 465)
  acc.imap_port_type = port_type(acc.imap_port, 993)
  acc.is_different_imap_account = acc.imap_username ~= acc.username
    or (acc.imap_password ~= acc.password and not is_null(acc.imap_password))
  acc.is_smtp_success, acc.is_imap_success = true, true -- saving verifies the connection
  acc.smtp_failure_error, acc.imap_failure_error = NULL, NULL
end

function Server:save_answer(acc)
  local message = "Email account added/updated successfully!"
  if self.config.save_answer_shape == "data" then
    return reply(200, { ok = true, message = message, data = { id = acc.id } })
  end
  local w = acc.warmup_details
  local key = (not is_null(w) and w.warmup_key_id) or two_words(acc.id)
  return reply(200, { ok = true, message = message, emailAccountId = acc.id, warmupKey = key })
end

-- Addresses are unique across users; the existing id is only revealed to its owner.
function Server:duplicate_of(ctx, email, own_id)
  local id = self.emails[email:lower()]
  if not id or id == own_id then return nil end
  local body = { ok = false, message = "Email account already exists", errorCode = "ACCOUNT_ALREADY_EXIST" }
  if self.accounts[id].user_id == ctx.user_id then body.emailAccountId = id end
  return reply(400, body)
end

function Server:create_account(ctx, body)
  local acc = account_defaults(self.next_account_id, ctx.user_id, self:iso_now())
  copy_stored(acc, body)
  self:add_account(acc)
  return acc
end

function Server:update_credentials(acc, body)
  local old_email = acc.from_email:lower()
  copy_stored(acc, body)
  if self.emails[old_email] == acc.id then self.emails[old_email] = nil end
  self.emails[acc.from_email:lower()] = acc.id
  acc.updated_at = self:iso_now()
end

-- IMAP credentials follow the SMTP ones unless the request or the account says they differ.
local function sync_imap(acc, body, was_different)
  if was_different then return end
  if body.imap_user_name == nil then acc.imap_username = acc.username end
  if body.imap_password == nil then acc.imap_password = acc.password end
end

-- Common tail of save and save-oauth: create or update, then warmup and answer.
function Server:store_account(ctx, body, fill)
  local id = not is_null(body.id) and body.id or nil
  local existing = id and self:own_account(ctx.user_id, id)
  if id and not existing then return account_not_found_save(id) end
  local dup = self:duplicate_of(ctx, body.from_email, id)
  if dup then return dup end
  local acc, was_different = existing, existing and existing.is_different_imap_account
  if acc then self:update_credentials(acc, body) else acc = self:create_account(ctx, body) end
  sync_imap(acc, body, was_different)
  if fill then fill(acc) end
  refresh_derived(acc)
  self:apply_warmup(acc, body)
  return self:save_answer(acc)
end

function Server:save_account(ctx)
  local body = ctx.body
  local err = check_body(body, SAVE_SCHEMA) or check_ranges(body, SAVE_RANGES)
    or (body.type and check_enum("type", body.type, { "GMAIL", "OUTLOOK", "SMTP" }))
    or verification_failure(body)
  if err then return err end
  return self:store_account(ctx, body)
end

local function token_problem(token)
  if type(token.access_token) ~= "string" or token.access_token == "" or token.access_token == "expired"
    or type(token.refresh_token) ~= "string" or token.refresh_token == ""
    or type(token.expiry_date) ~= "number" or token.expiry_date <= 0 or token.expiry_date >= 1e14 then
    return reply(400, { ok = false, message = "Invalid or expired OAuth token" })
  end
end

local OAUTH_SERVERS = {
  GMAIL = { "smtp.gmail.com", "imap.gmail.com" },
  OUTLOOK = { "smtp.office365.com", "outlook.office365.com" },
}

function Server:save_oauth(ctx)
  local body = ctx.body
  local err = check_body(body, OAUTH_SCHEMA) or check_enum("type", body.type, { "GMAIL", "OUTLOOK" })
    or check_ranges(body, SAVE_RANGES) or token_problem(body.token)
  if err then return err end
  return self:store_account(ctx, body, function(acc)
    local servers = OAUTH_SERVERS[acc.type]
    acc.smtp_host, acc.smtp_port, acc.imap_host, acc.imap_port = servers[1], 587, servers[2], 993
    acc.password, acc.imap_password, acc.imap_username = NULL, NULL, acc.username
    acc.expires_at = iso(body.token.expiry_date // 1000)
    acc.oauth_token = deep_copy(body.token) -- kept for /__mock/state; never answered
    acc.use_whitelabel_credentials = body.use_whitelabel_credentials
  end)
end

---------------------------------------------------------------------------- updating

local UPDATE_SCHEMA = {
  { "max_email_per_day", "integer" }, { "from_name", "string" },
  { "custom_tracking_url", "string", nullable = true }, { "bcc", "string", nullable = true },
  { "signature", "string", nullable = true }, { "client_id", "integer", nullable = true },
  { "time_to_wait_in_mins", "integer" }, { "is_suspended", "boolean" },
}

local UPDATE_RANGES = { { "max_email_per_day", 0 }, { "time_to_wait_in_mins", 0 }, { "client_id", 1 } }

-- Unknown fields are schema errors (400); wrong types and values are 422 here, as documented.
local function check_update_body(body)
  local unknown = find_unknown(body, UPDATE_SCHEMA)
  if unknown then return validation_error("payload", unknown, "is not allowed") end
  local field, problem = check_types(body, UPDATE_SCHEMA)
  if field then return value_error(field .. " " .. problem) end
  if body.from_name == "" then return value_error("from_name is not allowed to be empty") end
  if type(body.bcc) == "string" and body.bcc ~= "" and not is_email(body.bcc) then
    return value_error("bcc must be a valid email")
  end
  return check_ranges(body, UPDATE_RANGES)
end

function Server:update_account(ctx)
  local err = check_update_body(ctx.body)
  if err then return err end
  local acc = self:own_account(ctx.user_id, ctx.id)
  if not acc then return account_not_found() end
  copy_stored(acc, ctx.body)
  acc.updated_at = self:iso_now()
  return reply(200, { ok = true, message = "Email account details updated successfully!", emailAccountId = acc.id })
end

---------------------------------------------------------------------------- campaigns

local IDS_SCHEMA = { { "email_account_ids", "array", required = true } }

-- Returns the deduplicated id list (request order) or an error answer.
local function parse_account_ids(body)
  local err = check_body(body, IDS_SCHEMA)
  if err then return nil, err end
  local list = body.email_account_ids
  if #list == 0 then return nil, validation_error("payload", "email_account_ids", "must contain at least 1 items") end
  local ids, seen = {}, {}
  for i, v in ipairs(list) do
    local n = type(v) == "number" and math.tointeger(v)
    if not n or n < 1 then
      local key = string.format("email_account_ids[%d]", i - 1)
      return nil, validation_error("payload", key, "must be a positive integer")
    end
    if not seen[n] then ids[#ids + 1], seen[n] = n, true end
  end
  return ids
end

function Server:first_foreign(user_id, ids)
  for _, id in ipairs(ids) do
    if not self:own_account(user_id, id) then return id end
  end
end

-- The seed docs say attach validates connection status; the error text is a guess.
function Server:first_unusable(ids)
  if self.config.attach_requires_connected == false then return nil end
  for _, id in ipairs(ids) do
    local acc = self.accounts[id]
    if not acc.is_smtp_success or not acc.is_imap_success or acc.is_suspended then return id end
  end
end

-- Shared preamble of attach and detach: body, campaign, ownership.
function Server:campaign_change(ctx)
  local ids, err = parse_account_ids(ctx.body)
  if not ids then return nil, nil, err end
  local campaign = self:own_campaign(ctx.user_id, ctx.id)
  if not campaign then return nil, nil, campaign_not_found() end
  local foreign = self:first_foreign(ctx.user_id, ids)
  if foreign then return nil, nil, permission_error(foreign) end
  return ids, campaign
end

function Server:attach(ctx)
  local ids, campaign, err = self:campaign_change(ctx)
  if err then return err end
  local unusable = self:first_unusable(ids)
  if unusable then
    return reply(400, { error = string.format("Email account id - %d is not connected or is suspended.", unusable) })
  end
  local links, added = self.links[campaign.id], 0
  for _, id in ipairs(ids) do
    if not links[id] then added = added + 1 end
  end
  if count_keys(links) + added > CAMPAIGN_LIMIT then
    return reply(400, { error = "Campaign email account limit exceeded (max 2500)." })
  end
  local result, stamp = json.array({}), self:iso_now()
  for _, id in ipairs(ids) do result[#result + 1] = deep_copy(self:link(campaign.id, id, stamp)) end
  return reply(200, { ok = true, result = result })
end

function Server:detach(ctx)
  local ids, campaign, err = self:campaign_change(ctx)
  if err then return err end
  local links, removing = self.links[campaign.id], 0
  for _, id in ipairs(ids) do
    if links[id] then removing = removing + 1 end
  end
  if campaign.status == "ACTIVE" and removing > 0 and removing == count_keys(links) then
    return reply(400, { error = "Active campaign must have at least one email account." })
  end
  for _, id in ipairs(ids) do self:unlink(campaign.id, id) end
  return reply(200, { ok = true, result = removing })
end

---------------------------------------------------------------------------- warmup

local WARMUP_SCHEMA = {
  { "warmup_enabled", "boolean", required = true }, { "total_warmup_per_day", "integer" },
  { "daily_rampup", "integer" }, { "reply_rate_percentage", "number" }, { "warmup_key_id", "string" },
}

function Server:set_warmup(ctx)
  local err = check_body(ctx.body, WARMUP_SCHEMA) or check_ranges(ctx.body, SAVE_RANGES)
  if err then return err end
  local acc = self:own_account(ctx.user_id, ctx.id)
  if not acc then return account_not_found() end
  self:apply_warmup(acc, ctx.body)
  acc.updated_at = self:iso_now()
  return reply(200, { ok = true, message = "Email warmup settings updated successfully!" })
end

-- Per-day numbers are a pure function of (account id, day index) so repeated reads agree.
local function day_stats(acc, day)
  local w = acc.warmup_details
  if is_null(w) or w.status ~= "ACTIVE" then return 0, 0, 0 end
  local rng = new_rng(acc.id * 31 + day)
  local sent = rng.int(w.warmup_min_count or 1, math.max(w.warmup_min_count or 1, w.warmup_max_count or 20))
  local rep = tonumber(tostring(w.warmup_reputation):match("%d+")) or 100
  local spam = (sent * (100 - rep) + rng.int(0, 99)) // 100
  local replies = sent * math.floor(tonumber(w.reply_rate) or 0) // 100
  return sent, replies, spam
end

function Server:warmup_stats(ctx)
  local acc = self:own_account(ctx.user_id, ctx.id)
  if not acc then return account_missing() end
  local days, total_sent, total_spam, total_replies = json.array({}), 0, 0, 0
  local now = self.now()
  for day = 1, 7 do
    local sent, replies, spam = day_stats(acc, day)
    days[day] = { id = acc.id * 10 + day, date = os.date("!%Y-%m-%d", math.floor(now) - (7 - day) * 86400),
      sent_count = sent, reply_count = replies, save_from_spam_count = spam }
    total_sent, total_spam, total_replies = total_sent + sent, total_spam + spam, total_replies + replies
  end
  return reply(200, { id = acc.id, sent_count = tostring(total_sent), spam_count = tostring(total_spam),
    inbox_count = tostring(total_sent - total_spam), warmup_email_received_count = tostring(total_replies),
    stats_by_date = days })
end

---------------------------------------------------------------------------- reconnect

local PERMANENT_FAILURES = { "invalid credentials", "username and password not accepted", "authenticationfailed" }

local function permanent_failure(err)
  if type(err) ~= "string" then return false end
  local lower = err:lower()
  for _, marker in ipairs(PERMANENT_FAILURES) do
    if lower:find(marker, 1, true) then return true end
  end
  return false
end

-- Accepted calls in the last 24 h; at most 3, at least 30 minutes apart.
function Server:reconnect_allowed(user_id, now)
  local kept = {}
  for _, t in ipairs(self.reconnects[user_id] or {}) do
    if now - t < 86400 then kept[#kept + 1] = t end
  end
  self.reconnects[user_id] = kept
  return #kept < 3 and (#kept == 0 or now - kept[#kept] >= 1800)
end

function Server:reconnect_account(acc, stamp)
  local fixed = false
  if not acc.is_smtp_success and not permanent_failure(acc.smtp_failure_error) then
    acc.is_smtp_success, acc.smtp_failure_error, fixed = true, NULL, true
  end
  if not acc.is_imap_success and not permanent_failure(acc.imap_failure_error) then
    acc.is_imap_success, acc.imap_failure_error, fixed = true, NULL, true
  end
  if fixed then acc.updated_at = stamp end
  return fixed
end

function Server:reconnect(ctx)
  local err = check_body(ctx.body, {})
  if err then return err end
  local now = self.now()
  if not self:reconnect_allowed(ctx.user_id, now) then
    return reply(406, { ok = true, message = "Reconnect limit reached. Failed email accounts can be "
      .. "reconnected 3 times in 24 hours, at least 30 minutes apart." })
  end
  table.insert(self.reconnects[ctx.user_id], now)
  local fixed, stamp = 0, iso(now)
  for _, id in ipairs(self.account_ids) do
    local acc = self.accounts[id]
    if acc.user_id == ctx.user_id and self:reconnect_account(acc, stamp) then fixed = fixed + 1 end
  end
  return reply(200, { ok = true, message = string.format("Reconnect started for %d failed email accounts.", fixed) })
end

---------------------------------------------------------------------------- routing

local NO_QUERY = {}
local ONE_QUERY = { { "fetch_campaigns", "boolean" }, { "fetch_tags", "boolean" } }
local DETAILS_QUERY = { { "email", "email", required = true } }

-- Literal paths first: "save" must not be taken for an account id (ids are digits anyway).
local ROUTES = {
  { "GET", "^/email%-accounts/?$", "list_accounts", LIST_QUERY },
  { "POST", "^/email%-accounts/save/?$", "save_account", NO_QUERY, body = true },
  { "POST", "^/email%-accounts/save%-oauth/?$", "save_oauth", NO_QUERY, body = true },
  { "GET", "^/email%-accounts/fetch%-email%-account%-details/?$", "fetch_details", DETAILS_QUERY },
  { "POST", "^/email%-accounts/reconnect%-failed%-email%-accounts/?$", "reconnect", NO_QUERY, body = true },
  { "GET", "^/email%-accounts/(%d+)/?$", "get_account", ONE_QUERY },
  { "POST", "^/email%-accounts/(%d+)/?$", "update_account", NO_QUERY, body = true },
  { "POST", "^/email%-accounts/(%d+)/warmup/?$", "set_warmup", NO_QUERY, body = true },
  { "GET", "^/email%-accounts/(%d+)/warmup%-stats/?$", "warmup_stats", NO_QUERY },
  { "GET", "^/campaigns/(%d+)/email%-accounts/?$", "campaign_accounts", NO_QUERY },
  { "POST", "^/campaigns/(%d+)/email%-accounts/?$", "attach", NO_QUERY, body = true },
  { "DELETE", "^/campaigns/(%d+)/email%-accounts/?$", "detach", NO_QUERY, body = true },
}

local function find_route(method, rest)
  for _, route in ipairs(ROUTES) do
    if route[1] == method then
      local capture = rest:match(route[2])
      if capture then return route, math.tointeger(tonumber(capture) or 0) end
    end
  end
end

local function bad_json()
  return reply(400, { statusCode = 400, error = "Bad Request", message = "Invalid JSON body" })
end

-- Empty bodies count as {} (what Express' JSON parser hands over).
local function decode_body(raw)
  if raw == nil or raw:match("^%s*$") then return {} end
  local value = json.decode(raw)
  if value == nil then return nil, bad_json() end
  if type(value) ~= "table" or value == NULL or json.is_array(value) then
    return nil, validation_error("payload", "value", "must be of type object")
  end
  return value
end

function Server:dispatch(req, user_id)
  local route, id = find_route(req.method, req.rest)
  if not route then return cannot(req.method, req.path) end
  local ctx = { user_id = user_id, id = id, body = {} }
  local query = {}
  for k, v in pairs(req.query) do
    if k ~= "api_key" then query[k] = v end
  end
  local q, err = parse_query(query, route[4])
  if not q then return err end
  ctx.query = q
  if route.body then
    local body, berr = decode_body(req.body)
    if not body then return berr end
    ctx.body = body
  end
  return self[route[3]](self, ctx)
end

-- A bug in a handler answers 500 with the message (and is still logged), never raises.
function Server:safe_dispatch(req, user_id)
  local ok, r = pcall(self.dispatch, self, req, user_id)
  if ok then return r end
  return reply(500, { error = "Internal Server Error", mock_error = tostring(r) })
end

---------------------------------------------------------------------------- rate limit

-- Fixed window per key; returns allowed?, headers, seconds until the window resets.
function Server:rate_check(key)
  local rl = self.config.rate_limit
  if not rl then return true, {} end
  local now = self.now()
  local w = self.windows[key]
  if not w or now >= w.start + rl.per then
    w = { start = now, count = 0 }
    self.windows[key] = w
  end
  w.count = w.count + 1
  local reset = math.max(1, math.ceil(w.start + rl.per - now))
  local headers = { ["x-ratelimit-limit"] = tostring(rl.requests),
    ["x-ratelimit-remaining"] = tostring(math.max(0, rl.requests - w.count)),
    ["x-ratelimit-reset"] = tostring(reset) }
  return w.count <= rl.requests, headers, reset
end

local function too_many(retry_after, with_header, headers)
  local h = headers or {}
  if with_header then h["Retry-After"] = tostring(retry_after) end
  return reply(429, { error = { code = "RATE_LIMIT_EXCEEDED", message = "Rate limit exceeded",
    retry_after = retry_after } }, h)
end

---------------------------------------------------------------------------- faults

-- Drawn in this order from one uniform number, so the faults are mutually exclusive.
local FAULT_ORDER = { "p5xx", "html", "p429", "drop", "stall", "drop_after", "truncate", "empty", "text" }
-- These answer before the API runs: no auth, no rate-limit count, no state change.
local EARLY_FAULTS = { p5xx = true, html = true, p429 = true, drop = true }

local HTML_502 = [[<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>cloudflare</center>
</body>
</html>
]]

-- Two draws per API request, always, so the sequence depends only on the request count.
function Server:draw_fault()
  local f = self.config.faults
  if not f then return nil end
  local u, v = self.fault_rng.float(), self.fault_rng.float()
  local acc = 0
  for _, name in ipairs(FAULT_ORDER) do
    acc = acc + (f[name] or 0)
    if u < acc then return name, v end
  end
  return nil, v
end

local function early_fault_answer(name, v)
  if name == "p5xx" then return reply(v < 0.5 and 500 or 503, { error = "Internal Server Error" }) end
  if name == "html" then return raw_reply(502, "text/html", HTML_502) end
  if name == "p429" then return too_many(1, v < 0.5) end -- a stray 429, Retry-After only sometimes
  local r = raw_reply(503, "text/plain", "")
  r.fault = "drop"
  return r
end

function Server:late_fault(name, r)
  if name == "stall" then
    r.delay_ms = r.delay_ms + self.config.faults.stall_ms
  elseif name == "drop_after" then
    r.fault = "drop"
  elseif name == "truncate" then
    r.fault = "truncate"
  elseif name == "empty" then
    r.status, r.body = 200, ""
  elseif name == "text" then
    r.status, r.body, r.headers["Content-Type"] = 200, "success", "text/plain"
  end
  return r
end

---------------------------------------------------------------------------- request log

local SECRET_FIELDS = { password = true, imap_password = true, access_token = true,
  refresh_token = true, id_token = true }

function Server:scrub_string(s)
  for key in pairs(self.keys) do
    local i, j = s:find(key, 1, true)
    while i do
      s = s:sub(1, i - 1) .. "***" .. s:sub(j + 1)
      i, j = s:find(key, i + 3, true)
    end
  end
  return s
end

function Server:redact(v)
  if type(v) == "string" then return self:scrub_string(v) end
  if type(v) ~= "table" or v == NULL then return v end
  local out = setmetatable({}, getmetatable(v))
  for k, x in pairs(v) do
    local name = type(k) == "string" and self:scrub_string(k) or k
    out[name] = (type(k) == "string" and SECRET_FIELDS[k:lower()]) and "***" or self:redact(x)
  end
  return out
end

-- End index of the JSON value starting at i (string token, or up to the next , } ]).
local function raw_value_end(s, i)
  if s:sub(i, i) ~= '"' then return (s:find("[,}%]]", i) or #s + 1) - 1 end
  local j = i + 1
  while j <= #s do
    local c = s:sub(j, j)
    if c == "\\" then j = j + 2 elseif c == '"' then return j else j = j + 1 end
  end
  return #s
end

-- For bodies that did not decode: mask the value after each secret key by scanning the text.
function Server:redact_raw(s)
  for name in pairs(SECRET_FIELDS) do
    local out, pos = {}, 1
    while true do
      local _, key_end = s:find('"' .. name .. '"%s*:%s*', pos)
      if not key_end then break end
      out[#out + 1] = s:sub(pos, key_end) .. '"***"'
      pos = raw_value_end(s, key_end + 1) + 1
    end
    out[#out + 1] = s:sub(pos)
    s = table.concat(out)
  end
  return self:scrub_string(s)
end

function Server:log_body(raw)
  if raw == nil or raw == "" then return nil end
  local value = json.decode(raw)
  if value == nil then return self:redact_raw(raw) end
  return self:redact(value)
end

function Server:append_log(req, user_id, status, fault)
  local query = {}
  for k, v in pairs(req.query) do -- names too: a key pasted as a parameter name stays out of the log
    query[self:scrub_string(tostring(k))] = k == "api_key" and "***" or self:scrub_string(tostring(v))
  end
  self.seq = self.seq + 1
  local log = self.log
  log[#log + 1] = { seq = self.seq, method = req.method, path = self:scrub_string(req.path), query = query,
    body = self:log_body(req.body), status = status, fault = fault, user_id = user_id, at = monotime() }
  -- Trimmed in batches (amortised O(1) per request); readers see exactly the last log_limit.
  local limit = self.config.log_limit or M.DEFAULT_LOG_LIMIT
  if #log > limit + math.max(64, limit // 4) then self:trim_log() end
end

-- Keeps only the last log_limit entries (seq keeps counting, so a reader can tell what went).
function Server:trim_log()
  local log, limit = self.log, self.config.log_limit or M.DEFAULT_LOG_LIMIT
  local n = #log
  if n <= limit then return log end
  local kept = json.array({})
  table.move(log, n - limit + 1, n, 1, kept)
  self.log = kept
  return kept
end

---------------------------------------------------------------------------- knobs

local FAULT_KNOBS = { seed = true, stall_ms = true, p5xx = true, drop = true, drop_after = true,
  truncate = true, html = true, p429 = true, stall = true, empty = true, text = true }

local function normalize_faults(f)
  if not f or f == NULL then return nil end
  assert(type(f) == "table", "faults must be an object")
  local out = { seed = 1, stall_ms = 30000 }
  for k, v in pairs(f) do
    assert(FAULT_KNOBS[k], "unknown fault knob " .. tostring(k))
    assert(type(v) == "number" and v >= 0, "faults." .. k .. " must be a non-negative number")
    out[k] = v
  end
  for name in pairs(FAULT_KNOBS) do
    if out[name] == nil then out[name] = 0 end
  end
  return out
end

local function normalize_rate_limit(rl)
  if not rl or rl == NULL then return nil end
  assert(type(rl) == "table", "rate_limit must be an object")
  assert(math.type(rl.requests) == "integer" and rl.requests >= 1, "rate_limit.requests must be an integer >= 1")
  assert(type(rl.per) == "number" and rl.per > 0, "rate_limit.per must be a positive number")
  assert(rl.retry_after == nil or type(rl.retry_after) == "boolean", "rate_limit.retry_after must be a boolean")
  return { requests = rl.requests, per = rl.per, retry_after = rl.retry_after ~= false }
end

local function one_of(allowed)
  return function(v, name)
    for _, a in ipairs(allowed) do
      if v == a then return v end
    end
    error(string.format("%s must be one of [%s]", name, table.concat(allowed, ", ")), 0)
  end
end

local KNOBS = {
  latency_ms = function(v)
    assert(type(v) == "number" and v >= 0, "latency_ms must be a non-negative number")
    return v
  end,
  rate_limit = normalize_rate_limit,
  faults = normalize_faults,
  limit_over_100 = one_of({ "422", "empty" }),
  save_answer_shape = one_of({ "legacy", "data" }),
  attach_requires_connected = function(v)
    assert(type(v) == "boolean", "attach_requires_connected must be a boolean")
    return v
  end,
  -- keep only the last N request-log entries, so long runs stay bounded (null: the default)
  log_limit = function(v)
    assert(math.type(v) == "integer" and v >= 1, "log_limit must be an integer >= 1")
    return v
  end,
}
-- Options of new() that are not knobs.
local NEW_ONLY = { api_key = true, other_keys = true, user_id = true, extra_accounts = true, now = true }

-- Applies knob changes (nil/null resets a knob); raises a plain message on bad input.
function Server:merge_config(changes)
  for k, v in pairs(changes) do
    if not NEW_ONLY[k] then
      if not KNOBS[k] then error("unknown knob " .. tostring(k), 0) end
      if v == NULL then self.config[k] = nil else self.config[k] = KNOBS[k](v, k) end
      if k == "faults" then self.fault_rng = new_rng(self.config.faults and self.config.faults.seed or 1) end
      if k == "rate_limit" then self.windows = {} end
    end
  end
end

function Server:config_view()
  local out = {}
  for k in pairs(KNOBS) do out[k] = or_null(self.config[k]) end
  return out
end

---------------------------------------------------------------------------- admin

function Server:state_view()
  local accounts, campaigns = json.array({}), json.array({})
  for _, id in ipairs(self.account_ids) do
    local acc = deep_copy(self.accounts[id])
    acc.campaign_ids = sorted_keys(self:campaign_set(id))
    accounts[#accounts + 1] = acc
  end
  for _, cid in ipairs(sorted_keys(self.campaigns)) do
    local c = deep_copy(self.campaigns[cid])
    c.email_account_ids = sorted_keys(self.links[cid])
    campaigns[#campaigns + 1] = c
  end
  return { accounts = accounts, campaigns = campaigns }
end

function Server:reset()
  self:load_state()
  self.log, self.seq = json.array({}), 0
  self.windows, self.reconnects = {}, {}
  self.fault_rng = new_rng(self.config.faults and self.config.faults.seed or 1)
end

function Server:admin_config(req)
  local changes = json.decode(req.body ~= "" and req.body or "{}")
  if type(changes) ~= "table" or changes == NULL or json.is_array(changes) then return bad_json() end
  local ok, err = pcall(self.merge_config, self, changes)
  if not ok then return reply(400, { error = tostring(err) }) end
  return reply(200, self:config_view())
end

local ADMIN = {
  ["GET /__mock/log"] = function(self) return reply(200, self:trim_log()) end,
  ["POST /__mock/log/clear"] = function(self)
    self.log = json.array({})
    return reply(200, { ok = true })
  end,
  ["GET /__mock/state"] = function(self) return reply(200, self:state_view()) end,
  ["GET /__mock/config"] = function(self) return reply(200, self:config_view()) end,
  ["POST /__mock/config"] = Server.admin_config,
  ["POST /__mock/reset"] = function(self)
    self:reset()
    return reply(200, { ok = true })
  end,
}

function Server:handle_admin(req)
  local path = req.path:gsub("/+$", "")
  local handler = ADMIN[req.method .. " " .. path]
  if not handler then return cannot(req.method, req.path) end
  return handler(self, req)
end

---------------------------------------------------------------------------- entry points

function Server:handle_api(req)
  local key = req.query.api_key
  local user_id = key and self.keys[key]
  local fault, v = self:draw_fault()
  local r
  if fault and EARLY_FAULTS[fault] then
    r = early_fault_answer(fault, v)
  elseif not user_id then
    r = reply(401, { message = "Invalid API Key" })
  else
    local allowed, headers, reset = self:rate_check(key)
    if allowed then r = self:safe_dispatch(req, user_id)
    else r = too_many(reset, self.config.rate_limit.retry_after) end
    for k, h in pairs(headers) do r.headers[k] = h end
    if fault then r = self:late_fault(fault, r) end
  end
  r.delay_ms = r.delay_ms + (self.config.latency_ms or 0)
  -- a dropped connection answers nothing: logged with status 0
  self:append_log(req, user_id, (fault == "drop") and 0 or r.status, fault)
  return r
end

local function normalize_request(req)
  local path = (req.path or "/"):gsub("%?.*$", "")
  return { method = (req.method or "GET"):upper(), path = path, query = req.query or {},
    body = req.body or "", headers = req.headers or {} }
end

-- server:handle(req) -> r; never raises (a bug answers 500 with the message, for debugging).
function Server:handle(raw_req)
  local req = normalize_request(raw_req)
  local ok, r = pcall(function()
    if req.path:sub(1, 8) == "/__mock/" then return self:handle_admin(req) end
    local rest = req.path:match("^/api/v1(/.*)$")
    if not rest then return cannot(req.method, req.path) end
    req.rest = rest
    return self:handle_api(req)
  end)
  if ok then return r end
  return reply(500, { error = "Internal Server Error", mock_error = tostring(r) })
end

-- mock.new(seed, opts) -> server. seed: decoded seed.json; opts: keys and knobs (see KNOBS).
function M.new(seed, opts)
  opts = opts or {}
  local self = setmetatable({}, Server)
  self.seed = seed or { accounts = {}, campaigns = {} }
  self.user_id = opts.user_id or DEFAULT_USER
  self.keys = { [opts.api_key or DEFAULT_KEY] = self.user_id }
  for k, uid in pairs(opts.other_keys or {}) do self.keys[k] = uid end
  self.extra_accounts = opts.extra_accounts or 0
  self.now = opts.now or os.time
  self.config = { limit_over_100 = "422", save_answer_shape = "legacy", attach_requires_connected = true,
    log_limit = M.DEFAULT_LOG_LIMIT }
  self:merge_config(opts)
  self:reset()
  return self
end

return M
