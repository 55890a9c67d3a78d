-- `smartlua accounts list|get|update|add`: email accounts from the command line.
local json = require "smartlead.json"
local formats = require "smartlead.formats"
local convert = require "smartlead.convert"
local context = require "smartlead.cli.context"
local options = require "smartlead.cli.options"
local listing = require "smartlead.cli.listing"

local EXIT, usage = context.EXIT, context.usage
local opt, scope = options.opt, options.scope

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

local function get(ctx)
  local id = ctx.args[1]
  local q = {}
  for _, name in ipairs { "fetch_campaigns", "fetch_tags" } do
    if ctx.opts[name] then q[name] = true end
  end
  local a, err = ctx:client():get_email_account(id, q)
  if not a then error(err, 0) end
  local fmt = ctx:format()
  if not ctx.opts.fields and fmt == "table" then
    local show = require "smartlead.show"
    io.stdout:write(show.format(formats.mask_secrets(a), { color = formats.color_enabled() }), "\n")
  elseif not ctx.opts.fields and fmt == "json" then
    io.stdout:write(formats.pretty_json(a), "\n")
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

-- update_warmup requires warmup_enabled: keep the account's current state when not given.
local function complete_warmup(client, id, warmup)
  if warmup.warmup_enabled ~= nil then return end
  local a, err = client:get_email_account(id)
  if not a then error(err, 0) end
  local w = a.warmup_details
  if type(w) ~= "table" or w == json.null then
    usage(("account %d has no warmup yet: say --warmup-enabled true (or false) with the warmup settings"):format(id))
  end
  warmup.warmup_enabled = w.status == "ACTIVE"
end

local function send_update(w, client, id, op, fields)
  local answer, err = client[op](client, id, fields)
  if not answer then
    context.err_line(("account %d: %s"):format(id, tostring(err)))
    return false
  end
  if not context.planned(answer) then w:add { id = id, op = op, ok = true, message = answer.message } end
  return true
end

local function update(ctx)
  local id = ctx.args[1]
  local by_op = update_fields(ctx)
  return ctx:with_run_layer(function()
    local client = ctx:client()
    local w = ctx:result_writer { "id", "op", "ok", "message" }
    local ok = true
    for _, op in ipairs(UPDATE_OPS) do
      if ok and by_op[op] then
        if op == "update_warmup" then complete_warmup(client, id, by_op[op]) end
        ok = send_update(w, client, id, op, by_op[op])
      end
    end
    w:close()
    return ok and EXIT.ok or EXIT.error
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
    local session = require("smartlead.run").current()
    local planning = session and session.mode == "plan" -- stdout carries the plan: problems go to stderr
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
        context.err_line(("line %d %s: %s: %s"):format(r.line, tostring(r.from_email), r.status, tostring(r.error)))
      elseif r then
        w:add(r)
      end
    end
    w:close()
    return bad > 0 and EXIT.partial or EXIT.ok
  end)
end

---------------------------------------------------------------------------- the definition

local ID = { name = "ID", convert = convert.TYPES.id, what = "account id" }

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

local NODE = {
  node = {
    summary = "list, show, change, add, suspend and delete email accounts",
    order = { "list", "get", "update", "add" },
    subs = {
      list = {
        summary = "every account (all pages), streamed as pages arrive", run = list,
        options = options.join(listing.OPTIONS,
          options.field_options("get_email_accounts", { offset = true, limit = true })),
        globals = scope("client", "output"),
        help = "Filters take the API's spelling or snake_case too (--isInUse, --is_in_use).\n\n"
          .. listing.WHERE_HELP .. "\n" .. listing.FIELDS_HELP,
      },
      get = {
        summary = "one account, every field (secrets masked)", run = get, args = { ID },
        options = options.join(options.field_options("get_email_account"), { listing.FIELDS_OPTION }),
        globals = scope("client", "output"), help = listing.FIELDS_HELP,
      },
      update = {
        summary = "change an account's settings (update_email_account, then update_warmup)", run = update,
        args = { ID },
        options = options.join(options.field_options("update_email_account"), options.field_options("update_warmup")),
        globals = scope("client", "output", "write"),
        help = "Fields of update_warmup keep warmup_enabled as the account has it unless --warmup-enabled is given.\n",
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
