-- Accounts as the commands print them: field names and aliases, --fields, --where, --limit.
local convert = require "smartlead.convert"
local context = require "smartlead.cli.context"
local options = require "smartlead.cli.options"
local where = require "smartlead.cli.where"

local M = {}

-- The default columns of table and csv output.
local DEFAULT_FIELDS = { "id", "from_email", "type", "max_email_per_day", "warmup_status", "reputation",
  "is_smtp_success" }

-- An account's value for a field name: the field itself (or a dotted path), else an alias.
M.value = require("smartlead.account").value

local function parse_fields(text)
  local list = {}
  for name in (text .. ","):gmatch("([^,]*),") do
    name = name:match("^%s*(.-)%s*$")
    if name == "" then context.usage(("--fields '%s' has an empty name"):format(text)) end
    list[#list + 1] = name
  end
  return list
end

-- A writer for accounts: --fields, else the default columns for table and csv.
function M.writer(ctx, single)
  local fields = ctx.opts.fields and parse_fields(ctx.opts.fields) or nil
  local fmt = ctx:format()
  if not fields and (fmt == "table" or fmt == "csv") then fields = DEFAULT_FIELDS end
  return ctx:writer { fields = fields, get = M.value, single = single }
end

-- Writes every account accounts() yields that passes --where, up to --limit. The output stays
-- valid when a page fails half-way (the error is raised after closing it); --where is compiled
-- before accounts() makes the client.
function M.write(ctx, accounts)
  local keep = ctx.opts.where and where.compile(ctx.opts.where)
  local limit = ctx.opts.limit
  local w = M.writer(ctx)
  local ok, err = pcall(function()
    for a in accounts() do
      if limit and w.count >= limit then break end
      if not keep or keep(a) then w:add(a) end
    end
  end)
  w:close()
  if not ok then error(err, 0) end
  return context.EXIT.ok
end

local opt = options.opt

M.FIELDS_OPTION = opt({ "--fields" }, "fields", "value", "a,b,c", "the fields to print, by name or dotted path")

-- --where, --fields, --limit.
M.OPTIONS = {
  opt({ "--where" }, "where", "value", "EXPR", "keep the accounts for which the Lua expression EXPR is true"),
  M.FIELDS_OPTION,
  opt({ "--limit" }, "limit", "value", "N", "stop after N accounts", { convert = convert.TYPES.uint }),
}

M.FIELDS_HELP = [[
--fields a,b,c picks fields by name or dotted path (warmup_details.warmup_reputation); besides the
account's own fields: max_email_per_day, warmup_status, reputation (a number), custom_tracking_url,
bcc, time_to_wait_in_mins. Default columns: id, from_email, type, max_email_per_day,
warmup_status, reputation, is_smtp_success (table and csv; json and ndjson give whole accounts).
Passwords and other secrets always print as ********.
]]

M.WHERE_HELP = where.HELP

return M
