-- Accounts as the commands print them: field names and aliases, --fields, --where, --limit, --count.
local convert = require "smartlead.convert"
local context = require "smartlead.cli.context"
local options = require "smartlead.cli.options"
local parser = require "smartlead.cli.parser"
local where = require "smartlead.cli.where"

local M = {}

-- The default columns of table and csv output.
local DEFAULT_FIELDS = { "id", "from_email", "type", "max_email_per_day", "warmup_status", "reputation",
  "is_smtp_success" }

-- The fields of an account answer (smartlead-api.md: the list, the single read), and of its
-- warmup_details; --fields names one of these, a request-named alias, or a dotted path into them.
M.ACCOUNT_FIELDS = { "id", "created_at", "updated_at", "user_id", "from_name", "from_email", "username", "password",
  "smtp_host", "smtp_port", "smtp_port_type", "message_per_day", "daily_sent_count", "different_reply_to_address",
  "is_different_imap_account", "imap_username", "imap_password", "imap_host", "imap_port", "imap_port_type",
  "signature", "custom_tracking_domain", "bcc_email", "is_smtp_success", "is_imap_success", "smtp_failure_error",
  "imap_failure_error", "type", "client_id", "expires_at", "minTimeToWaitInMins", "campaign_count",
  "is_connected_to_campaign", "tags", "campaign_ids", "warmup_details", "is_suspended" }
M.WARMUP_FIELDS = { "id", "status", "total_sent_count", "total_spam_count", "warmup_reputation", "warmup_key_id",
  "warmup_created_at", "created_at", "reply_rate", "blocked_reason", "warmup_min_count", "warmup_max_count",
  "max_email_per_day", "is_warmup_blocked" }

local ALIASES = require("smartlead.account").ALIASES

-- Every top-level name --fields takes, sorted (for help, suggestions and shell completion).
function M.field_names()
  local names, seen = {}, {}
  local function add(n)
    if not seen[n] then names[#names + 1], seen[n] = n, true end
  end
  for _, n in ipairs(M.ACCOUNT_FIELDS) do add(n) end
  for n in pairs(ALIASES) do add(n) end
  for _, n in ipairs(M.WARMUP_FIELDS) do add("warmup_details." .. n) end
  table.sort(names)
  return names
end

local function known_set(list)
  local set = {}
  for _, n in ipairs(list) do set[n] = true end
  return set
end
local TOP, WARMUP = known_set(M.ACCOUNT_FIELDS), known_set(M.WARMUP_FIELDS)
for n in pairs(ALIASES) do TOP[n] = true end

-- nil when name is a field an account has, else the usage message (with a suggestion).
local function check_field(name, extra)
  local first, rest = name:match("^([^%.]+)%.?(.*)$")
  if extra and extra[name] then return nil end
  if not first or not TOP[first] then
    return ("--fields: unknown field '%s'%s (see --help for the names)"):format(name,
      parser.suggestion(name, M.field_names()))
  end
  if first == "warmup_details" and rest ~= "" then
    local second = rest:match("^[^%.]+")
    if not WARMUP[second] then
      local candidates = {}
      for _, n in ipairs(M.WARMUP_FIELDS) do candidates[#candidates + 1] = "warmup_details." .. n end
      return ("--fields: unknown field '%s'%s"):format(name, parser.suggestion(name, candidates))
    end
  end
end

-- The names of --fields, each checked: an unknown one is a usage error naming it.
function M.parse_fields(text, extra)
  local list = {}
  for name in (text .. ","):gmatch("([^,]*),") do
    name = name:match("^%s*(.-)%s*$")
    if name == "" then context.usage(("--fields '%s' has an empty name"):format(text)) end
    local bad = check_field(name, extra)
    if bad then context.usage(bad) end
    list[#list + 1] = name
  end
  return list
end

-- An account's value for a field name: the field itself (or a dotted path), else an alias.
M.value = require("smartlead.account").value

-- A writer for accounts: --fields, else the default columns for table and csv.
function M.writer(ctx, single)
  local fields = ctx.opts.fields and M.parse_fields(ctx.opts.fields) or nil
  local fmt = ctx:format()
  if not fields and (fmt == "table" or fmt == "csv") then fields = DEFAULT_FIELDS end
  return ctx:writer { fields = fields, get = M.value, single = single }
end

-- Checks --where and --fields before anything is sent: a mistake there is a usage error (exit 2).
function M.check(ctx)
  local keep = ctx.opts.where and where.compile(ctx.opts.where)
  if ctx.opts.fields then M.parse_fields(ctx.opts.fields) end
  return keep
end

-- The accounts accounts() yields that pass --where, up to --limit, as a list. A failing page or
-- --where raises; nothing is printed.
function M.collect(ctx, accounts, keep)
  local limit, list = ctx.opts.limit, {}
  for a in accounts() do
    if limit and #list >= limit then break end
    if not keep or keep(a) then list[#list + 1] = a end
  end
  return list
end

-- Writes every account accounts() yields that passes --where, up to --limit (or their number,
-- with --count). Decides, then prints: held until every page has come (NDJSON streams).
function M.write(ctx, accounts)
  local keep = M.check(ctx)
  if ctx.opts.count then
    local n = #M.collect(ctx, accounts, keep)
    if ctx.multi then
      ctx:writer({ fields = { "count" } }):add { count = n }
    else
      ctx:text(("%d\n"):format(n))
    end
    return context.EXIT.ok
  end
  local limit, n = ctx.opts.limit, 0
  local w = M.writer(ctx)
  for a in accounts() do
    if limit and n >= limit then break end
    if not keep or keep(a) then
      w:add(a)
      n = n + 1
    end
  end
  w:close()
  return context.EXIT.ok
end

local opt = options.opt

M.FIELDS_OPTION = opt({ "--fields" }, "fields", "value", "a,b,c", "the fields to print, by name or dotted path",
  { complete = "fields" })

-- --where, --fields, --limit, --count.
M.OPTIONS = {
  opt({ "--where" }, "where", "value", "EXPR", "keep the accounts for which the Lua expression EXPR is true"),
  M.FIELDS_OPTION,
  opt({ "--limit" }, "limit", "value", "N", "stop after N accounts", { convert = convert.TYPES.uint }),
  opt({ "--count" }, "count", "flag", nil, "print how many accounts there are (after --where), not the accounts"),
}

M.FIELDS_HELP = [[
--fields a,b,c picks fields by name or dotted path (warmup_details.warmup_reputation); besides the
account's own fields: max_email_per_day, warmup_status, reputation (a number), custom_tracking_url,
bcc, time_to_wait_in_mins. An unknown name is a usage error. Default columns: id, from_email, type,
max_email_per_day, warmup_status, reputation, is_smtp_success (table and csv; json and ndjson give
whole accounts). Passwords and other secrets always print as ********.
]]

M.OUTPUT_HELP = [[
Output is printed once every page has come: a command that fails prints nothing on stdout.
NDJSON is the exception: it streams each account as its page arrives; when a later page fails it
stops there, says why on stderr and exits 1 (so a pipe reading it sees the lines before).
]]

M.WHERE_HELP = where.HELP

return M
