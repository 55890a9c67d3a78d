-- smartlead.mock.schemas: request validation as SmartLead does it (Joi-style 400s, 422 value errors).
local json = require "smartlead.json"
local util = require "smartlead.mock.util"
local answers = require "smartlead.mock.answers"

local NULL = json.null
local validation_error, value_error = answers.validation_error, answers.value_error

local M = {}

---------------------------------------------------------------------------- field checks

-- Each schema row: { name, kind, required = bool, nullable = bool, values = {...}, min = n }.
-- Kinds: string, email, integer, number, boolean, object, array.

local function check_kind(kind, v)
  if kind == "string" then
    return type(v) == "string", "must be a string", v
  elseif kind == "email" then
    if type(v) ~= "string" then return false, "must be a string" end
    return util.is_email(v), "must be a valid email", v
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
  elseif kind == "key" then -- warmup_key_id: a string ("apple-juice") in one answer, a number in another
    return type(v) == "string" or math.tointeger(v) ~= nil, "must be a string or a number", v
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

-- Unknown keys and wrong types: 400 with the Joi body. Returns an answer or nil.
function M.check_body(body, schema)
  local unknown = find_unknown(body, schema)
  if unknown then return validation_error("payload", unknown, "is not allowed") end
  local field, problem = check_types(body, schema)
  if field then return validation_error("payload", field, problem) end
end

-- Range rows: { name, min, max }; answered with 422 like the documented value errors.
function M.check_ranges(body, ranges)
  for _, r in ipairs(ranges) do
    local v = body[r[1]]
    if type(v) == "number" and (v < r[2] or (r[3] and v > r[3])) then
      if r[3] then return value_error(string.format("%s must be between %d and %d", r[1], r[2], r[3])) end
      return value_error(string.format("%s must be greater than or equal to %d", r[1], r[2]))
    end
  end
end

function M.check_enum(name, v, allowed)
  for _, a in ipairs(allowed) do
    if v == a then return nil end
  end
  return value_error(string.format("%s must be one of [%s]", name, table.concat(allowed, ", ")))
end

---------------------------------------------------------------------------- query strings

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
    if not util.is_email(s) then return nil, "must be a valid email" end
    return s
  end,
  date = function(s)
    local y, m, d = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
    if not y or tonumber(m) < 1 or tonumber(m) > 12 or tonumber(d) < 1 or tonumber(d) > 31 then
      return nil, "must be in YYYY-MM-DD format"
    end
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
  if row.max and v > row.max then return nil, "must be less than or equal to " .. row.max end
  return v
end

-- Query strings arrive as strings; returns the typed table or nil and an error answer.
function M.parse_query(query, schema)
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

-- Empty bodies count as {} (what Express' JSON parser hands over).
function M.decode_body(raw)
  if raw == nil or raw:match("^%s*$") then return {} end
  local value = json.decode(raw)
  if value == nil then return nil, answers.bad_json() end
  if type(value) ~= "table" or value == NULL or json.is_array(value) then
    return nil, validation_error("payload", "value", "must be of type object")
  end
  return value
end

---------------------------------------------------------------------------- the endpoints' schemas

M.NO_QUERY = {}
M.ONE_QUERY = { { "fetch_campaigns", "boolean" }, { "fetch_tags", "boolean" } }
M.DETAILS_QUERY = { { "email", "email", required = true } }
M.INCLUDE_TAGS_QUERY = { { "include_tags", "boolean" } }
M.CAMPAIGNS_QUERY = { { "client_id", "integer" }, { "include_tags", "boolean" } }
M.STATS_QUERY = {
  { "offset", "integer", min = 0 }, { "limit", "integer", min = 1, max = 20 },
  { "start_date", "date" }, { "end_date", "date" }, { "time_zone", "string" }, { "client_id", "integer" },
}

M.LIST_QUERY = {
  { "offset", "integer", min = 0 }, { "limit", "integer", min = 1 },
  { "isInUse", "boolean" }, { "emailWarmupStatus", "string", values = { "ACTIVE", "INACTIVE" } },
  { "isSmtpSuccess", "boolean" }, { "isWarmupBlocked", "boolean" },
  { "esp", "string", values = { "GMAIL", "OUTLOOK", "SMTP" } }, { "username", "string" },
  { "client_id", "integer" }, { "fetch_campaigns", "boolean" },
}

M.SAVE_SCHEMA = {
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

M.OAUTH_SCHEMA = {
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

-- Also the warmup endpoint's ranges.
M.SAVE_RANGES = {
  { "smtp_port", 1, 65535 }, { "imap_port", 1, 65535 }, { "max_email_per_day", 0 },
  { "time_to_wait_in_mins", 0 }, { "total_warmup_per_day", 1, 100 }, { "daily_rampup", 0, 100 },
  { "reply_rate_percentage", 0, 100 }, { "client_id", 1 },
}

M.WARMUP_SCHEMA = {
  { "warmup_enabled", "boolean", required = true }, { "total_warmup_per_day", "integer" },
  { "daily_rampup", "integer" }, { "reply_rate_percentage", "number" }, { "warmup_key_id", "key" },
  { "auto_adjust_warmup", "boolean" }, { "is_rampup_enabled", "boolean" },
}

local function text(v) return type(v) == "string" and v ~= "" end

-- The OAuth token as the newest docs require it: token_type, scope and access_token; the rest
-- of a provider's answer (refresh_token, expiry_date, expires_in, ...) is taken as it comes.
function M.token_problem(token)
  if not text(token.token_type) then return value_error('"token.token_type" is required') end
  if not text(token.scope) then return value_error('"token.scope" is required') end
  local bad_expiry = token.expiry_date ~= nil and (type(token.expiry_date) ~= "number" or token.expiry_date <= 0
    or token.expiry_date >= 1e14)
  if not text(token.access_token) or token.access_token == "expired" or bad_expiry then
    return answers.reply(400, { ok = false, message = "Invalid or expired OAuth token" })
  end
end

local UPDATE_SCHEMA = {
  { "max_email_per_day", "integer" }, { "from_name", "string" },
  { "custom_tracking_url", "string", nullable = true }, { "bcc", "string", nullable = true },
  { "signature", "string", nullable = true }, { "client_id", "integer", nullable = true },
  { "time_to_wait_in_mins", "integer" }, { "is_suspended", "boolean" },
}

local UPDATE_RANGES = { { "max_email_per_day", 0 }, { "time_to_wait_in_mins", 0 }, { "client_id", 1 } }

-- Update: unknown fields are schema errors (400); wrong types and values are 422, as documented.
function M.check_update_body(body)
  local unknown = find_unknown(body, UPDATE_SCHEMA)
  if unknown then return validation_error("payload", unknown, "is not allowed") end
  local field, problem = check_types(body, UPDATE_SCHEMA)
  if field then return value_error(field .. " " .. problem) end
  if body.from_name == "" then return value_error("from_name is not allowed to be empty") end
  if type(body.bcc) == "string" and body.bcc ~= "" and not util.is_email(body.bcc) then
    return value_error("bcc must be a valid email")
  end
  return M.check_ranges(body, UPDATE_RANGES)
end

local IDS_SCHEMA = { { "email_account_ids", "array", required = true } }
local ATTACH_SCHEMA = { { "email_account_ids", "array", required = true }, { "auto_adjust_warmup", "boolean" } }

-- Attach and detach: returns the deduplicated id list (request order) or nil and an error answer.
function M.parse_account_ids(body, attach)
  local err = M.check_body(body, attach and ATTACH_SCHEMA or IDS_SCHEMA)
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

-- A list of distinct positive integers (ids) at body[name]: the list, or nil and a 400 answer.
function M.id_list(body, name, max)
  local list = body[name]
  if list == nil then return nil, validation_error("payload", name, "is required") end
  if not json.is_array(list) then return nil, validation_error("payload", name, "must be an array") end
  if #list == 0 then return nil, validation_error("payload", name, "must contain at least 1 items") end
  if max and #list > max then
    return nil, validation_error("payload", name, ("must contain less than or equal to %d items"):format(max))
  end
  local ids, seen = {}, {}
  for i, v in ipairs(list) do
    local n = type(v) == "number" and math.tointeger(v)
    if not n or n < 1 then
      return nil, validation_error("payload", ("%s[%d]"):format(name, i - 1), "must be a positive integer")
    end
    if not seen[n] then ids[#ids + 1], seen[n] = n, true end
  end
  return ids
end

-- Tag bodies: POST /tags {name, color?}, tag-manager {id, name, color}; 422 {"error": ...} as documented.
function M.check_tag_body(body, update)
  local allowed = { id = update, name = true, color = true }
  for k in pairs(body) do
    if not allowed[k] then return validation_error("payload", tostring(k), "is not allowed") end
  end
  if update and math.tointeger(body.id) == nil then return value_error('"id" is required') end
  if not text(body.name) then return value_error('"name" is required') end
  if body.color == nil and update then return value_error('"color" is required') end
  if body.color ~= nil and not (type(body.color) == "string" and body.color:match("^#%x%x%x%x%x%x$")) then
    return value_error('"color" must be a valid hex color (#RRGGBB)')
  end
end

return M
