-- `smartlua accounts list|get|update|add`: email accounts from the command line.
local json = require "smartlead.json"
local formats = require "smartlead.formats"
local convert = require "smartlead.convert"
local context = require "smartlead.cli.context"
local options = require "smartlead.cli.options"
local listing = require "smartlead.cli.listing"
local ids = require "smartlead.cli.ids"

local EXIT, usage = context.EXIT, context.usage
local opt, scope = options.opt, options.scope
local plural = require("smartlead.run_cli").plural

---------------------------------------------------------------------------- list and get

-- The list endpoint's filters given, by the API's name; pagination owns offset and limit.
local function list_filters(ctx)
  local filters = {}
  for _, given in ipairs(ctx.order) do
    if given.option.op == "get_email_accounts" then filters[given.option.key] = given.value end
  end
  return filters
end

local function list(ctx)
  local filters = list_filters(ctx)
  return listing.write(ctx, function() return ctx:client():accounts(filters) end)
end

-- One account by id, or by address (get_email_account_by_email). -> account | raises the error
local function fetch_one(ctx, target, query)
  local client = ctx:client()
  local a, err
  if type(target) == "string" then
    a, err = client:get_email_account_by_email(target)
  else
    a, err = client:get_email_account(target, query)
  end
  if not a then error(err, 0) end
  return a
end

local function get(ctx)
  local q = {}
  for _, name in ipairs { "fetch_campaigns", "fetch_tags" } do
    if ctx.opts[name] then q[name] = true end
  end
  if ctx.opts.fields then listing.parse_fields(ctx.opts.fields) end
  local a = fetch_one(ctx, ctx.args[1], q)
  local fmt = ctx:format()
  if not ctx.opts.fields and fmt == "table" and not ctx.multi then
    local show = require "smartlead.show"
    ctx:text(show.format(formats.mask_secrets(a), { color = formats.color_enabled() }) .. "\n")
  elseif not ctx.opts.fields and fmt == "json" and not ctx.multi then
    ctx:text(formats.pretty_json(a) .. "\n")
  else
    local w = listing.writer(ctx, true)
    w:add(a)
    w:close()
  end
  return EXIT.ok
end

---------------------------------------------------------------------------- update

local UPDATE_OPS = { "update_email_account", "update_warmup" }

-- {operation name -> fields} from the flags given.
local function update_fields(ctx)
  local by_op, any = {}, false
  for _, given in ipairs(ctx.order) do
    local op = given.option.op
    if op then
      by_op[op] = by_op[op] or {}
      by_op[op][given.option.key], any = given.value, true
    end
  end
  if not any then usage("needs at least one field to change, e.g. --max-email-per-day 40") end
  return by_op
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- The accounts to update: the ID argument, --ids, or every account --where keeps.
local function update_targets(ctx)
  local o, one = ctx.opts, ctx.args[1]
  local given = (one and 1 or 0) + (o.ids and 1 or 0) + (o.where and 1 or 0)
  if given == 0 then usage("needs the accounts: ID, --ids ID,ID,... (or --ids -), or --where EXPR") end
  if given > 1 then usage("ID, --ids and --where each choose the accounts; give one") end
  if o.ids then return { ids = ids.parse(o.ids, ctx.multi and ctx.profile or nil) } end
  if o.where then return { keep = listing.check(ctx) } end
  return { one = one }
end

-- True when the account already shows every value (daily_rampup cannot be read: never).
local function shows(a, fields)
  if fields.daily_rampup ~= nil then return false end
  return require("smartlead.run.kinds").shows(require("smartlead.plan").account_view(a), fields)
end

-- update_warmup requires warmup_enabled: keep the account's state when not given.
local function warmup_fields(a, fields)
  if fields.warmup_enabled ~= nil then return fields end
  local w = a.warmup_details
  if type(w) ~= "table" or w == json.null then
    return nil, ("account %d has no warmup yet: say --warmup-enabled true (or false) with the warmup settings")
      :format(a.id)
  end
  local f = copy(fields)
  f.warmup_enabled = w.status == "ACTIVE"
  return f
end

-- Updates one account (its record known, or read now): one row per operation in `rows`.
local function update_one(ctx, a, by_op, rows, counts)
  local client = ctx:client()
  for _, op in ipairs(UPDATE_OPS) do
    local fields = by_op[op]
    if fields then
      local send, why = fields, nil
      if op == "update_warmup" then send, why = warmup_fields(a, fields) end
      if not send then
        counts.failed = counts.failed + 1
        rows[#rows + 1] = { id = a.id, op = op, ok = false, message = why }
        ctx:err(why)
        return false
      end
      if shows(a, send) then
        counts.already = counts.already + 1
        rows[#rows + 1] = { id = a.id, op = op, ok = true, message = "already set; not sent" }
      else
        local answer, err = client[op](client, a.id, copy(send))
        if not answer then
          counts.failed = counts.failed + 1
          rows[#rows + 1] = { id = a.id, op = op, ok = false, message = tostring(err) }
          ctx:err(("account %d: %s"):format(a.id, tostring(err)))
          return false
        end
        counts.sent = counts.sent + 1
        rows[#rows + 1] = { id = a.id, op = op, ok = true, message = answer.message }
      end
    end
  end
  return true
end

local function writes_of(by_op)
  local n = 0
  for _ in pairs(by_op) do n = n + 1 end
  return n
end

-- update ID | --ids | --where: every account read (or listed) first, then updated concurrently
-- (client:each); one plan, one journal. A value the account already has is not sent.
local function update(ctx)
  local target = update_targets(ctx)
  local by_op = update_fields(ctx)
  return ctx:with_run_layer(function()
    local client = ctx:client()
    local accounts
    if target.keep then
      accounts = listing.collect(ctx, function() return client:accounts() end, target.keep)
      if #accounts == 0 then
        ctx:err("no account matches --where; nothing to update")
        return EXIT.ok
      end
    else
      accounts = target.ids or { target.one }
    end
    local rows, counts, by_index = {}, { sent = 0, already = 0, failed = 0 }, {}
    local report = client:each(accounts, function(item)
      local a = item
      if type(item) ~= "table" then
        local err
        local read = type(item) == "string" and client.get_email_account_by_email or client.get_email_account
        a, err = read(client, item)
        if not a then
          local id = type(item) == "string" and item or ("%d"):format(item)
          counts.failed = counts.failed + writes_of(by_op)
          ctx:err(("account %s: %s"):format(id, tostring(err)))
          by_index[item] = { { id = item, op = "get_email_account", ok = false, message = tostring(err) } }
          return nil, err
        end
      end
      local mine = {}
      by_index[item] = mine
      if not update_one(ctx, a, by_op, mine, counts) then return nil, "failed" end
      return true
    end, { label = "update", progress = #accounts > 1 })
    for _, item in ipairs(accounts) do
      for _, r in ipairs(by_index[item] or {}) do rows[#rows + 1] = r end
    end
    if ctx:planning() then return #report.failed > 0 and (target.one and EXIT.error or EXIT.partial) or EXIT.ok end
    local w = ctx:result_writer { "id", "op", "ok", "message" }
    for _, r in ipairs(rows) do w:add(r) end
    w:close()
    if not target.one then
      local planned = #accounts * writes_of(by_op)
      ctx:err(("update: %s planned: %d sent, %d already set, %d failed (%s)"):format(plural(planned, "write"),
        counts.sent, counts.already, planned - counts.sent - counts.already, plural(#accounts, "account")))
    end
    if #report.failed == 0 then return EXIT.ok end
    return target.one and EXIT.error or EXIT.partial
  end)
end

---------------------------------------------------------------------------- add --csv

-- Checks every row first (smartlead.import); rows with problems are reported and not sent.
local function add(ctx)
  local path = ctx.opts.csv
  if not path then usage("needs --csv FILE (or --csv - for stdin); passwords come only from the file") end
  local import = require "smartlead.import"
  local rows, err = import.smtp_file(path)
  if not rows then context.fail(EXIT.error, err) end
  return ctx:with_run_layer(function()
    local client = ctx:client()
    local w = ctx:result_writer { "line", "from_email", "status", "id", "error" }
    local planning = ctx:planning() -- stdout carries the plan: problems go to stderr
    local bad = 0
    for _, row in ipairs(rows) do
      local r
      if row.fields then
        local answer, save_err = client:add_smtp_account(row.fields)
        if not context.planned(answer) then r = import.row_result(row, answer, save_err) end
      else
        r = import.row_result(row)
      end
      if r and r.status ~= "added" and r.status ~= "exists" then bad = bad + 1 end
      if r and planning then
        ctx:err(("line %d %s: %s: %s"):format(r.line, tostring(r.from_email), r.status, tostring(r.error)))
      elseif r then
        w:add(r)
      end
    end
    w:close()
    return bad > 0 and EXIT.partial or EXIT.ok
  end)
end

---------------------------------------------------------------------------- the definition

-- An account id, or an address (looked up with get_email_account_by_email).
local function id_or_email(s)
  if s:find("@", 1, true) then return convert.TYPES.email(s) end
  local id = convert.TYPES.id(s)
  if id then return id end
  return nil, "a positive whole number or an email address"
end

local ID_OR_EMAIL = { name = "ID|EMAIL", convert = id_or_email, what = "account" }
local TARGET = { name = "ID|EMAIL", convert = id_or_email, what = "account", optional = true }

local function save_columns()
  local names, required = {}, require("smartlead.import").REQUIRED
  for _, f in ipairs(require("smartlead.operations").get("add_smtp_account").fields) do
    if f.name ~= "id" then names[#names + 1] = required[f.name] and f.name .. "*" or f.name end
  end
  return require("smartlead.cli.help").wrap(names, ", ", 96) .. "."
end

local ADD_HELP = [[
The header names the save fields of add_smtp_account (* required; warmup_enabled is true unless said):
%s
Every row is checked first; bad rows are reported and not sent. Passwords come only from the file
(--csv - reads stdin) and are never printed. Each row's outcome is printed: added (with its id),
exists (already in SmartLead), invalid or failed (with why).
]]

local UPDATE_HELP = [[
The accounts: one ID (or address), --ids ID,ID,... (--ids - reads them from stdin, e.g. from
`accounts list --fields id`), or --where EXPR over every account. One plan, one journal: every
account is read first (its values before go into the journal), values it already has are not sent,
and the rest are sent concurrently. Each write's outcome is printed, and a summary on stderr:
planned = sent + already set + failed. Fields of update_warmup keep warmup_enabled as the account
has it unless --warmup-enabled is given.
]]

local NODE = {
  node = {
    summary = "list, show, change, add, suspend and delete email accounts",
    order = { "list", "get", "update", "add" },
    subs = {
      list = {
        summary = "every account (all pages); --count for how many", run = list,
        options = options.join(listing.OPTIONS,
          options.field_options("get_email_accounts", { offset = true, limit = true })),
        globals = scope("client", "output"),
        help = "Filters take the API's spelling or snake_case too (--isInUse, --is_in_use).\n\n"
          .. listing.WHERE_HELP .. "\n" .. listing.FIELDS_HELP .. "\n" .. listing.OUTPUT_HELP,
      },
      get = {
        summary = "one account by id or address, every field (secrets masked)", run = get, args = { ID_OR_EMAIL },
        options = options.join(options.field_options("get_email_account"), { listing.FIELDS_OPTION }),
        globals = scope("client", "output"),
        help = "An address is looked up with get_email_account_by_email.\n\n" .. listing.FIELDS_HELP,
      },
      update = {
        summary = "change the settings of one account, a list, or every account --where keeps", run = update,
        args = { TARGET },
        options = options.join({
          opt({ "--ids" }, "ids", "value", "ID,ID,...|-", "the accounts: ids separated by commas, or - for stdin"),
          opt({ "--where" }, "where", "value", "EXPR", "the accounts: every account for which EXPR is true"),
        }, options.field_options("update_email_account"), options.field_options("update_warmup")),
        globals = scope("client", "output", "write"),
        help = UPDATE_HELP .. "\n" .. listing.WHERE_HELP,
      },
      add = {
        summary = "add SMTP accounts from a CSV file, one per row", run = add,
        options = { opt({ "--csv" }, "csv", "value", "FILE|-", "the CSV file (- reads stdin)") },
        globals = scope("client", "output", "write"),
        help = function() return ADD_HELP:format(save_columns()) end,
      },
    },
  },
}

-- delete, suspend and unsuspend (cli/account_state.lua)
for _, name in ipairs { "suspend", "unsuspend", "delete" } do
  NODE.node.order[#NODE.node.order + 1], NODE.node.subs[name] = name, require("smartlead.cli.account_state")[name]
end

return NODE
