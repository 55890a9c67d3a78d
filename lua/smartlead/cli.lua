-- The command line over the module: `smartlua accounts|campaigns|api|config ...`.
-- The host calls cli.main(arg) with arg[0] = the command ("accounts") and arg[1..n] = the words
-- after it; every option is parsed here, the global ones (--mock, --profile, -v, --format and
-- the run-layer flags) in any position. Writes go through the run layer (run_cli) exactly as a
-- script's do: --plan, --max-changes, --yes and the journal apply. Output goes through
-- smartlead.formats (table on a terminal, JSON in a pipe, or --format).
-- Exit codes: 0 ok, 1 error, 2 usage, 3 refused, 4 some writes failed or were skipped.
local core = require "smartlead.core"
local json = require "smartlead.json"
local formats = require "smartlead.formats"

local M = {}

M.EXIT = { ok = 0, error = 1, usage = 2, refused = 3, partial = 4 }

---------------------------------------------------------------------------- failures

-- A failure the command line reports in one line, with its exit code: {code=, message=}.
local Failure = {}
Failure.__tostring = function(f) return f.message end

local function fail(code, message) error(setmetatable({ code = code, message = message }, Failure), 0) end
local function usage(message) fail(M.EXIT.usage, message) end

local function is_api_error(e)
  return type(e) == "table" and getmetatable(e) ~= Failure and e.kind ~= nil and e.message ~= nil
end

-- An error message without the "file.lua:12: " a raise puts in front.
local function clean(msg)
  return (tostring(msg):gsub("^[^\n]-%.lua:%d+: ", ""):gsub("^%(command line%):%d+: ", ""))
end

local function err_line(...)
  io.stderr:write("smartlua: ", core.mask(table.concat({ ... })), "\n")
  io.stderr:flush()
end

---------------------------------------------------------------------------- value types

local BOOLS = { ["true"] = true, yes = true, on = true, ["1"] = true, ["false"] = false, no = false, off = false, ["0"] = false }

local to_integer = require("smartlead.convert").whole_number

local function to_enum(values)
  return function(s)
    local u = s:upper()
    for _, v in ipairs(values) do
      if v == u then return v end
    end
    return nil, "one of " .. table.concat(values, ", ")
  end
end

-- type name -> function(text) -> value | nil, "what it must be"
local TYPES = {
  bool = function(s)
    local b = BOOLS[s:lower()]
    if b == nil then return nil, "true or false" end
    return b
  end,
  uint = to_integer(0),
  id = to_integer(1),
  port = to_integer(1, 65535),
  percent = to_integer(0, 100),
  id_or_null = function(s)
    if s:lower() == "null" or s:lower() == "none" then return json.null end
    return to_integer(1)(s)
  end,
  text = function(s) return s end,
  name = function(s)
    if s ~= "" then return s end
    return nil, "not empty"
  end,
  email = function(s)
    if s:match("^[^@%s]+@[^@%s]+%.[^@%s]+$") then return s end
    return nil, "an email address"
  end,
  esp = to_enum { "GMAIL", "OUTLOOK", "SMTP" },
  warmup_status = to_enum { "ACTIVE", "INACTIVE" },
}

-- The type of every request field the CLI takes (update, warmup and save fields).
local FIELD_TYPES = {
  max_email_per_day = "uint", from_name = "name", custom_tracking_url = "text", bcc = "email",
  signature = "text", client_id = "id_or_null", time_to_wait_in_mins = "uint", is_suspended = "bool",
  warmup_enabled = "bool", total_warmup_per_day = "uint", daily_rampup = "uint",
  reply_rate_percentage = "percent", warmup_key_id = "name",
  from_email = "email", user_name = "name", password = "text", smtp_host = "name", smtp_port = "port",
  imap_host = "name", imap_port = "port", type = "esp", imap_user_name = "name", imap_password = "text",
  different_reply_to_address = "email", id = "id_or_null",
}

local function convert(kind, text, what)
  local v, must = TYPES[kind](text)
  if v == nil then usage(("%s must be %s, got '%s'"):format(what, must, text)) end
  return v
end

local function kebab(name) return (name:gsub("_", "-")) end

---------------------------------------------------------------------------- option tables

-- An option: {key=, kind="flag"|"value"|"multi"|"optbool" (a value only when true/false follows),
-- arg= (for messages), filter= (a list filter's type) | field=, endpoint= (an update field)}
local GLOBAL_OPTIONS = {
  ["--help"] = { key = "help", kind = "flag" }, ["-h"] = { key = "help", kind = "flag" },
  ["--profile"] = { key = "profile", kind = "value", arg = "NAME" },
  ["--format"] = { key = "format", kind = "value", arg = "table|json|ndjson|csv" },
  ["--plan"] = { key = "plan", kind = "flag" },
  ["--plan-out"] = { key = "plan_out", kind = "value", arg = "FILE" },
  ["--yes"] = { key = "yes", kind = "flag" }, ["-y"] = { key = "yes", kind = "flag" },
  ["--max-changes"] = { key = "max_changes", kind = "value", arg = "N" },
  ["--journal"] = { key = "journal", kind = "value", arg = "FILE" },
  ["--no-journal"] = { key = "no_journal", kind = "flag" },
}

local GLOBAL_HELP = [[
Global options (anywhere on the line):
  --mock[=FILE.json]   talk to an in-process mock SmartLead (seeded from FILE)
  --profile NAME       config-file profile (else $SMARTLUA_PROFILE, else "default")
  -v, -vv, -vvv        trace requests on stderr
  --format F           table (default on a terminal), json (default in a pipe), ndjson, csv
  --plan, --plan-out F, --max-changes N, --yes/-y, --journal F, --no-journal
                       for commands that write: see `smartlua --help`
]]

local LIST_FILTERS = {
  { api = "isInUse", alias = "is_in_use", type = "bool" },
  { api = "emailWarmupStatus", alias = "warmup_status", type = "warmup_status" },
  { api = "isSmtpSuccess", alias = "is_smtp_success", type = "bool" },
  { api = "isWarmupBlocked", alias = "is_warmup_blocked", type = "bool" },
  { api = "esp", type = "esp" },
  { api = "username", type = "text" },
  { api = "client_id", type = "id" },
  { api = "fetch_campaigns", type = "bool" },
}

-- Adds an option under every spelling: --apiName, --snake_name, --kebab-name.
local function add_spellings(options, names, def)
  for _, n in ipairs(names) do
    options["--" .. n] = def
    options["--" .. kebab(n)] = def
  end
end

local function filter_options(options)
  for _, f in ipairs(LIST_FILTERS) do
    local kind = f.type == "bool" and "optbool" or "value"
    add_spellings(options, { f.api, f.alias }, { key = f.api, kind = kind, filter = f.type, arg = f.type:upper() })
  end
  return options
end

local function listing_options(extra)
  local o = {
    ["--where"] = { key = "where", kind = "value", arg = "EXPR" },
    ["--fields"] = { key = "fields", kind = "value", arg = "a,b,c" },
    ["--limit"] = { key = "limit", kind = "value", arg = "N" },
  }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local function endpoint_fields(name)
  for _, e in ipairs(require("smartlead").operations()) do
    if e.name == name then
      local names = {}
      for i, f in ipairs(e.fields or {}) do names[i] = f.name end
      return names
    end
  end
  return {}
end

-- --kebab-case flags for every field of update_email_account and update_warmup.
local function update_options()
  local o = {}
  for _, ep in ipairs { "update_email_account", "update_warmup" } do
    for _, name in ipairs(endpoint_fields(ep)) do
      local kind = FIELD_TYPES[name] == "bool" and "optbool" or "value"
      add_spellings(o, { name }, { key = name, kind = kind, field = FIELD_TYPES[name] or "text", endpoint = ep,
        arg = (FIELD_TYPES[name] or "text"):upper() })
    end
  end
  return o
end

---------------------------------------------------------------------------- parsing

local function is_secret_flag(name)
  local n = name:lower()
  return n:find("pass", 1, true) or n:find("secret", 1, true) or n:find("token", 1, true)
      or n:find("api.?key") ~= nil
end

local function refuse_secret_flag(name)
  if name:lower():find("api.?key") then
    usage(("'%s': the API key is never taken from the command line (other users see it in ps); use "
      .. "SMARTLEAD_API_KEY or `smartlua config set api_key -`"):format(name))
  end
  usage(("'%s': passwords and tokens are never taken from the command line (other users see them in ps); "
    .. "put them in the CSV file: smartlua accounts add --csv FILE"):format(name))
end

local function verbosity(word)
  local vs = word:match("^%-(v+)$")
  return vs and #vs <= 3 and #vs or nil
end

-- The value of an option: from --name=value or the next word. Returns value, next index.
local function option_value(words, i, name, inline, def)
  if inline then return inline, i + 1 end
  if def.kind == "optbool" then
    local nxt = words[i + 1]
    if nxt and BOOLS[nxt:lower()] ~= nil then return nxt, i + 2 end
    return "true", i + 1
  end
  local v = words[i + 1]
  if v == nil then usage(("'%s' needs a value (%s)"):format(name, def.arg or "VALUE")) end
  return v, i + 2
end

local function store(opts, def, value)
  if def.kind == "flag" then opts[def.key] = true
  elseif def.kind == "multi" then
    opts[def.key] = opts[def.key] or {}
    table.insert(opts[def.key], value)
  else
    opts[def.key] = value
    opts.order = opts.order or {}
    opts.order[#opts.order + 1] = def
  end
end

-- --mock, --mock=FILE, --mock FILE.json; returns the next index.
local function take_mock(opts, words, i, inline)
  opts.mock = true
  if inline then opts.mock_seed = inline return i + 1 end
  local nxt = words[i + 1]
  if nxt and nxt:match("%.json$") then opts.mock_seed = nxt return i + 2 end
  return i + 1
end

-- Edit distance, for "did you mean" on a mistyped option.
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

local function suggestion(name, command)
  local best, best_d = nil, 3
  local function try(options)
    for candidate in pairs(options or {}) do
      local d = distance(name, candidate)
      if d < best_d or (d == best_d and best and candidate < best) then best, best_d = candidate, d end
    end
  end
  try(GLOBAL_OPTIONS)
  try(command and command.options)
  return best and (" (did you mean " .. best .. "?)") or ""
end

local function lookup_option(name, command)
  local def = GLOBAL_OPTIONS[name]
  if def then return def end
  return command and command.options and command.options[name]
end

-- Parses one option at words[i]; returns the next index.
local function parse_option(st, words, i)
  local word = words[i]
  local name, inline = word:match("^(%-%-[^=]+)=(.*)$")
  name = name or word
  if name == "--mock" then return take_mock(st.opts, words, i, inline) end
  local v = verbosity(word)
  if v then
    st.opts.trace = math.min(3, (st.opts.trace or 0) + v)
    return i + 1
  end
  local def = lookup_option(name, st.command)
  if not def then
    if is_secret_flag(name) then refuse_secret_flag(name) end
    local where = st.command and st.command.name or st.group
    usage(("unknown option '%s' for %s%s"):format(name, where, suggestion(name, st.command)))
  end
  if def.kind == "flag" then
    if inline then usage(("'%s' takes no value"):format(name)) end
    store(st.opts, def, true)
    return i + 1
  end
  local value, nxt = option_value(words, i, name, inline, def)
  store(st.opts, def, value)
  st.opts.given = st.opts.given or {}
  st.opts.given[def.key] = name
  return nxt
end

-- A positional word: the subcommand when none is known yet, else an argument.
local function parse_positional(st, word)
  local group = st.spec
  if group.subs and not st.command then
    local sub = group.commands[word]
    if not sub then
      usage(("unknown subcommand '%s' (one of: %s)"):format(word, table.concat(group.subs, ", ")))
    end
    st.command = sub
    return
  end
  st.args[#st.args + 1] = word
end

-- Parses the words after the command: {opts=, args=, command=}.
local function parse_words(st, words)
  local i = 1
  while i <= #words do
    local word = words[i]
    if word == "--" then
      for j = i + 1, #words do parse_positional(st, words[j]) end
      break
    elseif word:sub(1, 1) == "-" and word ~= "-" then
      i = parse_option(st, words, i)
    else
      parse_positional(st, word)
      i = i + 1
    end
  end
  return st
end

---------------------------------------------------------------------------- context

local Context = {}
Context.__index = Context

-- The client, made once: settings from flags, environment, profile (smartlead.client()).
function Context:client()
  if self.client_ then return self.client_ end
  local ok, client = pcall(require("smartlead").client)
  if not ok then fail(M.EXIT.error, (clean(client):gsub("^smartlead%.client: ", ""))) end
  self.client_ = client
  return client
end

function Context:format()
  return self.opts.format or formats.default()
end

-- Output writer on stdout for the chosen format.
function Context:writer(opts)
  return formats.writer(self:format(), io.stdout, opts)
end

local function parse_id(text, what)
  local n = math.tointeger(tonumber(text or ""))
  if not n or n < 1 then usage(("%s must be a positive whole number, got '%s'"):format(what, tostring(text))) end
  return n
end

local function parse_fields(text)
  local list = {}
  for name in (text .. ","):gmatch("([^,]*),") do
    name = name:match("^%s*(.-)%s*$")
    if name == "" then usage(("--fields '%s' has an empty name"):format(text)) end
    list[#list + 1] = name
  end
  return list
end

---------------------------------------------------------------------------- accounts: fields

M.ACCOUNT_FIELDS = { "id", "from_email", "type", "max_email_per_day", "warmup_status", "reputation", "is_smtp_success" }

local account_value = require("smartlead.account").value
M.account_value = account_value

-- A writer for accounts: --fields, else the default columns for table and csv.
local function account_writer(ctx, single)
  local fields = ctx.opts.fields and parse_fields(ctx.opts.fields) or nil
  local fmt = ctx:format()
  if not fields and (fmt == "table" or fmt == "csv") then fields = M.ACCOUNT_FIELDS end
  return ctx:writer { fields = fields, get = account_value, single = single }
end

---------------------------------------------------------------------------- --where

local function where_env()
  local sl = require "smartlead"
  local function copy(t)
    local c = {}
    for k, v in pairs(t) do c[k] = v end
    return c
  end
  return {
    reputation = sl.reputation, null = json.null, is_null = sl.is_null,
    get = sl.get, -- nil instead of an error when a step is null or missing
    string = copy(string), math = copy(math), os = { time = os.time },
    tonumber = tonumber, tostring = tostring, type = type, pairs = pairs, ipairs = ipairs,
  }
end

-- Compiles EXPR once; returns a predicate over accounts.
local function compile_where(expr)
  local env = where_env()
  local chunk, err = load("return (" .. expr .. "\n)", "=--where", "t", env)
  if not chunk then
    usage(("--where '%s' is not a Lua expression: %s"):format(expr, (tostring(err):gsub("^%-%-where:%d+: ", ""))))
  end
  return function(a)
    env.a = a
    local ok, v = pcall(chunk)
    if not ok then
      fail(M.EXIT.error, ("--where '%s' failed on account %s: %s"):format(expr, tostring(a.id),
        (tostring(v):gsub("^%-%-where:%d+: ", ""))))
    end
    return v ~= nil and v ~= false and v ~= json.null
  end
end

local function list_limit(ctx)
  if not ctx.opts.limit then return nil end
  return convert("uint", ctx.opts.limit, "--limit")
end

-- Writes every account that passes --where, up to --limit; the output stays valid when a
-- page fails half-way (the error is raised after closing it). The options are checked before
-- accounts() makes the client and its iterator.
local function write_accounts(ctx, accounts)
  local where = ctx.opts.where and compile_where(ctx.opts.where)
  local limit = list_limit(ctx)
  local w = account_writer(ctx)
  local ok, err = pcall(function()
    for a in accounts() do
      if limit and w.count >= limit then break end
      if not where or where(a) then w:add(a) end
    end
  end)
  w:close()
  if not ok then error(err, 0) end
  return M.EXIT.ok
end

---------------------------------------------------------------------------- accounts list / get

local function list_filters(ctx)
  local filters = {}
  for _, def in ipairs(ctx.opts.order or {}) do
    if def.filter then
      filters[def.key] = convert(def.filter, ctx.opts[def.key], ctx.opts.given[def.key])
    end
  end
  return filters
end

local function accounts_list(ctx)
  local filters = list_filters(ctx)
  return write_accounts(ctx, function() return ctx:client():accounts(filters) end)
end

-- `field  value` rows of an account, nested objects as dotted paths, sorted.
local function account_rows(a)
  local rows = {}
  local function walk(v, prefix)
    if type(v) == "table" and v ~= json.null and not json.is_array(v) and #v == 0 and next(v) then
      for k, x in pairs(v) do walk(x, prefix and (prefix .. "." .. k) or tostring(k)) end
    else
      rows[#rows + 1] = { field = prefix, value = v }
    end
  end
  walk(formats.mask_secrets(a), nil)
  table.sort(rows, function(x, y) return x.field < y.field end)
  return rows
end

-- An account for people: smartlead.show's nested listing when it exists, else a table.
local function print_account(a)
  local ok, show = pcall(require, "smartlead.show")
  if ok and show.format then
    io.stdout:write(show.format(formats.mask_secrets(a), { color = formats.color_enabled() }), "\n")
    return
  end
  local w = formats.writer("table", io.stdout, { fields = { "field", "value" }, max_width = 60 })
  for _, row in ipairs(account_rows(a)) do w:add(row) end
  w:close()
end

local function accounts_get(ctx)
  local id = parse_id(ctx.args[1], "account id")
  local q = {}
  if ctx.opts.fetch_campaigns then q.fetch_campaigns = true end
  if ctx.opts.fetch_tags then q.fetch_tags = true end
  local a, err = ctx:client():get_email_account(id, q)
  if not a then error(err, 0) end
  local fmt = ctx:format()
  if not ctx.opts.fields and fmt == "table" then
    print_account(a)
  elseif not ctx.opts.fields and fmt == "json" then
    io.stdout:write(formats.pretty_json(a), "\n")
  else
    local w = account_writer(ctx, true)
    w:add(a)
    w:close()
  end
  return M.EXIT.ok
end

---------------------------------------------------------------------------- the run layer

local function run_options(ctx)
  local o = ctx.opts
  return {
    plan = o.plan or false, yes = o.yes or false, no_journal = o.no_journal or false,
    tty = core.isatty(0) and core.isatty(2), plan_out = o.plan_out, journal = o.journal,
    max_changes = o.max_changes, chunks = false, repl = false, nargs = 0,
    script = ("smartlua %s %s"):format(ctx.group, ctx.command.name),
  }
end

-- Runs a writing command between run_begin and run_end, as a script runs: planned with
-- --plan, planned first and applied after with --max-changes or on a terminal, journaled.
local function with_run_layer(ctx, fn)
  local run_cli = require "smartlead.run_cli"
  local begun = run_cli.run_begin(run_options(ctx))
  if begun ~= true then return begun end
  local ok, code = pcall(fn, ctx)
  if not ok then
    run_cli.run_end(false)
    error(code, 0)
  end
  local rc = run_cli.run_end(code ~= M.EXIT.error)
  if code == M.EXIT.error then return rc ~= 0 and rc or M.EXIT.error end
  if rc ~= M.EXIT.ok then return rc end
  return code
end

-- True for the synthetic answers of a planned write: the run layer prints the plan instead.
local function planned(answer) return type(answer) == "table" and answer.planned == true end

-- A writer made on the first record, so a planned run (whose plan the run layer prints)
-- and a failed one print no empty result.
local function result_writer(ctx, fields)
  local w
  return {
    add = function(_, record)
      w = w or ctx:writer { fields = fields }
      w:add(record)
    end,
    close = function() if w then w:close() end end,
  }
end

---------------------------------------------------------------------------- accounts update

-- {update_email_account = fields, update_warmup = fields} from the flags given.
local function update_fields(ctx)
  local by_endpoint, any = {}, false
  for _, def in ipairs(ctx.opts.order or {}) do
    if def.endpoint then
      by_endpoint[def.endpoint] = by_endpoint[def.endpoint] or {}
      by_endpoint[def.endpoint][def.key] = convert(def.field, ctx.opts[def.key], ctx.opts.given[def.key])
      any = true
    end
  end
  if not any then usage("accounts update needs at least one field to change, e.g. --max-email-per-day 40 (see --help)") end
  return by_endpoint
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
    err_line(("account %d: %s"):format(id, tostring(err)))
    return false
  end
  if not planned(answer) then w:add { id = id, op = op, ok = true, message = answer.message } end
  return true
end

local function accounts_update(ctx)
  local id = parse_id(ctx.args[1], "account id")
  local by_endpoint = update_fields(ctx)
  return with_run_layer(ctx, function()
    local client = ctx:client()
    local w = result_writer(ctx, { "id", "op", "ok", "message" })
    local ok = true
    if by_endpoint.update_email_account then
      ok = send_update(w, client, id, "update_email_account", by_endpoint.update_email_account)
    end
    if ok and by_endpoint.update_warmup then
      complete_warmup(client, id, by_endpoint.update_warmup)
      ok = send_update(w, client, id, "update_warmup", by_endpoint.update_warmup)
    end
    w:close()
    return ok and M.EXIT.ok or M.EXIT.error
  end)
end

---------------------------------------------------------------------------- accounts add --csv

local function read_input(path)
  if path == "-" then return io.stdin:read("a") end
  local f, err = io.open(path, "rb")
  if not f then fail(M.EXIT.error, err) end
  local text = f:read("a")
  f:close()
  return text
end

-- Checks every row first (smartlead.import); rows with problems are reported and not sent.
local function accounts_add(ctx)
  local path = ctx.opts.csv
  if not path then usage("accounts add needs --csv FILE (or --csv - for stdin); passwords come only from the file") end
  local import = require "smartlead.import"
  local rows, err = import.smtp_file(path)
  if not rows then fail(M.EXIT.error, err) end
  return with_run_layer(ctx, function()
    local client = ctx:client()
    local w = result_writer(ctx, { "line", "from_email", "status", "id", "error" })
    local session = require("smartlead.run").current()
    local planning = session and session.mode == "plan" -- stdout carries the plan: problems go to stderr
    local bad = 0
    for _, row in ipairs(rows) do
      local r
      if row.fields then
        local answer, save_err = client:add_smtp_account(row.fields)
        if not planned(answer) then r = import.row_result(row, answer, save_err) end
      else
        r = import.row_result(row)
      end
      if r and r.status ~= "added" and r.status ~= "exists" then bad = bad + 1 end
      if r and planning then
        err_line(("line %d %s: %s: %s"):format(r.line, tostring(r.from_email), r.status, tostring(r.error)))
      elseif r then
        w:add(r)
      end
    end
    w:close()
    return bad > 0 and M.EXIT.partial or M.EXIT.ok
  end)
end

---------------------------------------------------------------------------- campaigns

-- The id words of --ids text: JSON ([3001, ...] or [{"id": 3001}, ...]), NDJSON objects, or
-- ids separated by commas and white space (an "id" header line is skipped), so the output of
-- `accounts list --fields id` in any format pipes into `--ids -`.
local function id_words(text)
  local words = {}
  local function add(v) words[#words + 1] = tostring(type(v) == "table" and v.id or v) end
  local trimmed = text:match("^%s*(.-)%s*$")
  if trimmed:sub(1, 1) == "[" then
    local ok, list = pcall(json.decode, trimmed)
    if not ok or type(list) ~= "table" then usage("--ids: not a JSON array") end
    for _, v in ipairs(list) do add(v) end
  elseif trimmed:sub(1, 1) == "{" then
    for line in trimmed:gmatch("[^\n]+") do
      local ok, v = pcall(json.decode, line)
      if not ok or type(v) ~= "table" then usage("--ids: not one JSON object per line") end
      add(v)
    end
  else
    for word in text:gmatch("[^,%s]+") do
      if word ~= "id" then words[#words + 1] = word end
    end
  end
  return words
end

local function parse_ids(text)
  if text == "-" then text = io.stdin:read("a") or "" end
  local ids, seen = json.array {}, {}
  for _, word in ipairs(id_words(text)) do
    local id = parse_id(word, "--ids entry")
    if not seen[id] then ids[#ids + 1], seen[id] = id, true end
  end
  if #ids == 0 then usage("--ids needs at least one account id, e.g. --ids 3001,3002 (or --ids - for stdin)") end
  return ids
end

local function campaign_write(op, status)
  return function(ctx)
    local cid = parse_id(ctx.args[1], "campaign id")
    if not ctx.opts.ids then usage(("campaigns %s needs --ids ID,ID,..."):format(ctx.command.name)) end
    local ids = parse_ids(ctx.opts.ids)
    return with_run_layer(ctx, function()
      local answer, err = ctx:client()[op](ctx:client(), cid, ids)
      if not answer then
        err_line(tostring(err))
        return M.EXIT.error
      end
      if planned(answer) then return M.EXIT.ok end
      local w = result_writer(ctx, { "campaign_id", "email_account_id", "status" })
      for _, id in ipairs(ids) do w:add { campaign_id = cid, email_account_id = id, status = status } end
      w:close()
      return M.EXIT.ok
    end)
  end
end

local function campaigns_accounts(ctx)
  local cid = parse_id(ctx.args[1], "campaign id")
  return write_accounts(ctx, function()
    local list, err = ctx:client():get_campaign_email_accounts(cid)
    if not list then error(err, 0) end
    local i = 0
    return function()
      i = i + 1
      return list[i]
    end
  end)
end

---------------------------------------------------------------------------- api

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true }

local function unescape(s)
  return (s:gsub("%+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- PATH?a=1&b=2 -> PATH, {a="1", b="2"} merged with -q pairs.
local function api_query(ctx, path)
  local query, any = {}, false
  local bare, qs = path:match("^([^?]*)%?(.*)$")
  -- a pasted URL's key may hold '&' unencoded: refuse it whole before any part is kept
  if qs and unescape(qs):lower():find("api_key", 1, true) then
    usage("api: PATH must not carry api_key; the key is added for you (SMARTLEAD_API_KEY or the config file)")
  end
  if bare then
    path = bare
    for pair in qs:gmatch("[^&]+") do
      local k, v = pair:match("^([^=]*)=?(.*)$")
      query[unescape(k)], any = unescape(v), true
    end
  end
  for _, pair in ipairs(ctx.opts.query or {}) do
    local k, v = pair:match("^([^=]+)=(.*)$")
    if not k then usage(("-q '%s' must be key=value"):format(pair)) end
    if unescape(k):lower() == "api_key" then usage("api: -q must not carry api_key; the key is added for you") end
    query[k], any = v, true
  end
  return path, any and query or nil
end

local function api_body(text)
  if not text then return nil end
  if text:sub(1, 1) == "@" then text = read_input(text:sub(2)) end
  local ok, body, err = pcall(json.decode, text)
  if not ok or body == nil then
    usage(("-d must be JSON (or @FILE, @- for stdin): %s"):format(clean(ok and err or body)))
  end
  return body
end

local function print_json(v)
  io.stdout:write(formats.pretty_json(v), "\n")
  io.stdout:flush()
end

local function api_call(ctx, method, path, req)
  local answer, err = ctx:client():request(method, path, req)
  if answer == nil then
    if type(err) == "table" and err.data ~= nil then print_json(err.data) end
    err_line(tostring(err))
    return M.EXIT.error
  end
  if not planned(answer) then print_json(answer) end
  return M.EXIT.ok
end

local function api(ctx)
  local method = (ctx.args[1] or ""):upper()
  if not METHODS[method] then usage(("api needs a METHOD (GET, POST, PUT, PATCH, DELETE), got '%s'"):format(ctx.args[1] or "")) end
  if not ctx.args[2] then usage("api needs a PATH, e.g. /email-accounts/3001/") end
  if #ctx.args > 2 then usage(("api takes METHOD PATH, then -q and -d; unexpected '%s'"):format(ctx.args[3])) end
  local path, query = api_query(ctx, ctx.args[2])
  local req = { query = query, body = api_body(ctx.opts.data) }
  if method == "GET" then return api_call(ctx, method, path, req) end
  return with_run_layer(ctx, function() return api_call(ctx, method, path, req) end)
end

---------------------------------------------------------------------------- config

-- The key as `config list` shows it: never the whole of it.
local function show_key(key)
  if type(key) ~= "string" then return json.null end
  if #key >= 12 then return key:sub(1, 4) .. "…" end
  return formats.MASK
end

local function show_setting(name, value)
  if name == "api_key" then return show_key(value) end
  if name == "rate" then return require("smartlead.config").show_rate(value) end
  if value == nil then return json.null end
  return value
end

local function source_text(s)
  if s.env then return ("environment (%s)"):format(s.env) end
  return s.source
end

local function config_list(ctx)
  local config = require "smartlead.config"
  local sl = require "smartlead"
  local settings, err = config.resolve { defaults = sl.defaults, mock = sl.mock ~= nil }
  if not settings then fail(M.EXIT.error, err) end
  if settings.warning then err_line("warning: config file skipped: ", settings.warning) end
  local w = ctx:writer { fields = { "setting", "value", "source" } }
  w:add { setting = "profile", value = settings.profile.value, source = source_text(settings.profile) }
  for _, key in ipairs(config.KEYS) do
    local s = settings[key]
    w:add { setting = key, value = show_setting(key, s.value), source = source_text(s) }
  end
  w:close()
  io.stderr:write(("config file: %s%s\n"):format(tostring(settings.path),
    #settings.profiles > 0 and (" (profiles: " .. table.concat(settings.profiles, ", ") .. ")") or " (none yet)"))
  return M.EXIT.ok
end

-- The value for config set: VALUE, or one line from stdin for "-" (not echoed on a terminal).
local function setting_value(key, value)
  if value ~= "-" then
    if key == "api_key" then
      err_line("warning: the key was on the command line, where ps and shell history keep it; ",
        "next time use: smartlua config set api_key -")
    end
    return value
  end
  -- a terminal: prompt on stderr, echo off; else one line of stdin (either way without its \r\n)
  local line, err = core.os.read_secret(key .. ": ")
  if not line or line == "" then
    local why = err and err ~= "end of input" and (" (" .. err .. ")") or ""
    usage(("config set %s -: no value on stdin%s"):format(key, why))
  end
  return line
end

local function config_set(ctx)
  local key, value = ctx.args[1], ctx.args[2]
  if not key or not value then usage("config set needs KEY VALUE (VALUE - reads it from stdin)") end
  if #ctx.args > 2 then usage(("config set takes KEY VALUE; unexpected '%s'"):format(ctx.args[3])) end
  local config = require "smartlead.config"
  local known = false
  for _, k in ipairs(config.KEYS) do known = known or k == key end
  if not known then usage(("unknown setting '%s' (known: %s)"):format(key, table.concat(config.KEYS, ", "))) end
  local profile = ctx.opts.profile or os.getenv("SMARTLUA_PROFILE")
  if profile == "" then profile = nil end
  local path, err = config.set(key, setting_value(key, value), { profile = profile })
  if not path then fail(M.EXIT.error, err) end
  io.stdout:write(("%s set in %s [%s]\n"):format(key, path, profile or "default"))
  return M.EXIT.ok
end

---------------------------------------------------------------------------- commands

local function fetch_options()
  local o = {}
  add_spellings(o, { "fetch_campaigns" }, { key = "fetch_campaigns", kind = "flag" })
  add_spellings(o, { "fetch_tags" }, { key = "fetch_tags", kind = "flag" })
  o["--fields"] = { key = "fields", kind = "value", arg = "a,b,c" }
  return o
end

local FILTER_HELP = [[
Filters (the API's spelling or snake_case, with - or _): --esp GMAIL|OUTLOOK|SMTP,
  --is-in-use [true|false], --warmup-status ACTIVE|INACTIVE, --is-smtp-success [true|false],
  --is-warmup-blocked [true|false], --username TEXT (partial), --client-id N, --fetch-campaigns
]]

local FIELDS_HELP = [[
--fields a,b,c picks fields by name or dotted path (warmup_details.warmup_reputation); besides the
account's own fields: max_email_per_day, warmup_status, reputation (a number), custom_tracking_url,
bcc, time_to_wait_in_mins. Default columns: id, from_email, type, max_email_per_day,
warmup_status, reputation, is_smtp_success (table and csv; json and ndjson give whole accounts).
Passwords and other secrets always print as ********.
]]

local WHERE_HELP = [[
--where 'EXPR' keeps the accounts for which the Lua expression is true; `a` is the account and
reputation(a), get(a, "warmup_details.status") (nil where a step is null), null, is_null(v),
string, math, os.time, tonumber, tostring, type, pairs, ipairs are available, e.g.
  --where 'reputation(a) and reputation(a) < 90 and a.type == "GMAIL"'
]]

local GROUPS = {
  accounts = {
    summary = "list, show, change and add email accounts",
    subs = { "list", "get", "update", "add" },
    commands = {
      list = { run = accounts_list, nargs = 0, options = filter_options(listing_options()),
        usage = "smartlua accounts list [--where EXPR] [--fields a,b,c] [--limit N] [filters] [--format F]",
        summary = "every account (all pages), streamed as pages arrive",
        help = FILTER_HELP .. WHERE_HELP .. FIELDS_HELP },
      get = { run = accounts_get, nargs = 1, options = fetch_options(),
        usage = "smartlua accounts get ID [--fetch-campaigns] [--fetch-tags] [--fields a,b,c] [--format F]",
        summary = "one account, every field (secrets masked)", help = FIELDS_HELP },
      update = { run = accounts_update, nargs = 1, options = update_options(), writes = true,
        usage = "smartlua accounts update ID --FIELD VALUE ... [--plan] [--max-changes N] [--yes]",
        summary = "change an account's settings (update_email_account, update_warmup)" },
      add = { run = accounts_add, nargs = 0, writes = true,
        options = { ["--csv"] = { key = "csv", kind = "value", arg = "FILE" } },
        usage = "smartlua accounts add --csv FILE|- [--plan] [--max-changes N] [--yes]",
        summary = "add SMTP accounts from a CSV file, one per row",
        help = [[
The header names the save fields: from_name, from_email, user_name, password, smtp_host, smtp_port,
imap_host, imap_port (required); warmup_enabled (default true), type, imap_user_name,
imap_password, different_reply_to_address, is_suspended, max_email_per_day, custom_tracking_url,
bcc, signature, time_to_wait_in_mins, total_warmup_per_day, daily_rampup, reply_rate_percentage,
client_id. Every row is checked first; bad rows are reported and not sent. Passwords come only
from the file (--csv - reads stdin) and are never printed. Each row's outcome is printed:
added (with its id), exists (already in SmartLead), invalid or failed (with why).
]] },
    },
  },
  campaigns = {
    summary = "attach and detach accounts, list a campaign's accounts",
    subs = { "attach", "detach", "accounts" },
    commands = {
      attach = { run = campaign_write("add_campaign_email_accounts", "attached"), nargs = 1, writes = true,
        options = { ["--ids"] = { key = "ids", kind = "value", arg = "ID,ID,..." } },
        usage = "smartlua campaigns attach CAMPAIGN_ID --ids 1,2,3|- [--plan] [--max-changes N] [--yes]",
        summary = "attach accounts to a campaign (--ids - reads ids from stdin)" },
      detach = { run = campaign_write("remove_campaign_email_accounts", "detached"), nargs = 1, writes = true,
        options = { ["--ids"] = { key = "ids", kind = "value", arg = "ID,ID,..." } },
        usage = "smartlua campaigns detach CAMPAIGN_ID --ids 1,2,3|- [--plan] [--max-changes N] [--yes]",
        summary = "detach accounts from a campaign" },
      accounts = { run = campaigns_accounts, nargs = 1, options = listing_options(),
        usage = "smartlua campaigns accounts CAMPAIGN_ID [--where EXPR] [--fields a,b,c] [--format F]",
        summary = "the accounts attached to a campaign", help = WHERE_HELP .. FIELDS_HELP },
    },
  },
  api = {
    summary = "call any endpoint, like `gh api`",
    command = { name = "api", run = api,
      options = { ["-q"] = { key = "query", kind = "multi", arg = "key=value" },
        ["--query"] = { key = "query", kind = "multi", arg = "key=value" },
        ["-d"] = { key = "data", kind = "value", arg = "JSON|@FILE" },
        ["--data"] = { key = "data", kind = "value", arg = "JSON|@FILE" } },
      usage = "smartlua api METHOD PATH [-q key=value ...] [-d JSON | -d @FILE | -d @-]",
      summary = "send one request and print the answer as JSON",
      help = [[
PATH is below the base URL (/email-accounts/3001/); the key is added for you and never shown.
Writes (POST, PUT, PATCH, DELETE) go through the run layer like any other: --plan, --journal.
e.g. smartlua api GET /email-accounts/ -q limit=5 -q esp=GMAIL
     smartlua api POST /email-accounts/3001 -d '{"max_email_per_day": 40}'
]] },
  },
  config = {
    summary = "show and change settings and profiles",
    subs = { "list", "set" },
    commands = {
      list = { run = config_list, nargs = 0,
        usage = "smartlua config list [--profile NAME] [--format F]",
        summary = "each setting, its value (the key never whole) and where it came from" },
      set = { run = config_set, nargs = 2,
        usage = "smartlua config set KEY VALUE|- [--profile NAME]",
        summary = "write a setting to the config file (mode 0600); VALUE - reads stdin",
        help = [[
Keys: api_key, base_url, rate (N/SECONDS, e.g. 10/2, or off), concurrency (1..64), timeout (s).
The file is $XDG_CONFIG_HOME/smartlua/config; other lines and profiles are kept. Use
`smartlua config set api_key -` so the key is read from stdin, never from the command line.
Settings apply in this order: flag > environment (SMARTLEAD_API_KEY, SMARTLEAD_BASE_URL,
SMARTLUA_RATE, SMARTLUA_CONCURRENCY, SMARTLUA_TIMEOUT) > the profile in the file > default.
]] },
    },
  },
}
M.GROUPS = GROUPS

for _, g in pairs(GROUPS) do
  for name, c in pairs(g.commands or {}) do c.name = name end
end

---------------------------------------------------------------------------- help

local GROUP_ORDER = { "accounts", "campaigns", "api", "config" }

-- How an update flag's value is written in --help.
local ARG_NAMES = { uint = "N", id_or_null = "ID|null", percent = "0..100", email = "EMAIL", text = "TEXT",
  name = "TEXT" }

local function command_help(c)
  local text = { "usage: " .. c.usage, "", (c.summary:gsub("^%l", string.upper)) .. ".", "" }
  if c.options and c.name == "update" then
    local names = {}
    for name, def in pairs(c.options) do
      if not name:find("_") then -- the kebab-case spelling of each
        names[#names + 1] = ("  %s %s"):format(name, def.kind == "optbool" and "[true|false]" or ARG_NAMES[def.field] or def.arg)
      end
    end
    table.sort(names)
    text[#text + 1] = "Fields (update_email_account, then update_warmup; warmup_enabled defaults to the current state):"
    for _, l in ipairs(names) do text[#text + 1] = l end
    text[#text + 1] = ""
  end
  if c.help then text[#text + 1] = c.help end
  text[#text + 1] = GLOBAL_HELP
  return table.concat(text, "\n")
end

local function group_help(name, g)
  local text = { ("usage: smartlua %s %s ..."):format(name, g.subs and table.concat(g.subs, "|") or ""), "",
    (g.summary:gsub("^%l", string.upper)) .. ".", "" }
  for _, sub in ipairs(g.subs) do
    text[#text + 1] = ("  %-10s %s"):format(sub, g.commands[sub].summary)
  end
  text[#text + 1] = ""
  text[#text + 1] = ("`smartlua %s SUBCOMMAND --help` for its options."):format(name)
  return table.concat(text, "\n") .. "\n"
end

local function command_list()
  local parts = {}
  for _, name in ipairs(GROUP_ORDER) do parts[#parts + 1] = name end
  return table.concat(parts, ", ")
end

---------------------------------------------------------------------------- main

-- --profile, -v and --mock take effect before anything is sent.
local function apply_globals(opts)
  local sl = require "smartlead"
  if opts.profile then sl.defaults.profile = opts.profile end
  if opts.trace and core.set_trace then core.set_trace(opts.trace) end
  if opts.format and not formats.known(opts.format) then
    usage(("unknown format '%s' (use %s)"):format(opts.format, table.concat(formats.NAMES, ", ")))
  end
  if opts.mock and not require("smartlead.host").start_mock(opts.mock_seed) then return false end
  return true
end

local function check_nargs(st)
  local c = st.command
  if c.nargs and #st.args ~= c.nargs then
    local what = #st.args < c.nargs and "missing argument" or ("unexpected argument '" .. st.args[c.nargs + 1] .. "'")
    usage(("%s: %s; usage: %s"):format(c.name, what, c.usage))
  end
end

local function dispatch(group, words)
  local spec = GROUPS[group]
  if not spec then usage(("unknown command '%s' (commands: %s)"):format(tostring(group), command_list())) end
  local st = parse_words({ group = group, spec = spec, command = spec.command, opts = {}, args = {} }, words)
  if st.opts.help then
    io.stdout:write(st.command and command_help(st.command) or group_help(group, spec))
    return M.EXIT.ok
  end
  if not st.command then
    usage(("missing subcommand (one of: %s)"):format(table.concat(spec.subs, ", ")))
  end
  check_nargs(st)
  if not apply_globals(st.opts) then return M.EXIT.error end
  local ctx = setmetatable({ group = group, command = st.command, opts = st.opts, args = st.args }, Context)
  local ok, code = pcall(st.command.run, ctx)
  if ctx.client_ then ctx.client_:close() end
  if not ok then error(code, 0) end
  return code
end

-- Turns a raised value into its exit code, printing it in one line (key masked).
local function report(group, e)
  if getmetatable(e) == Failure then
    if e.code == M.EXIT.usage then
      err_line(group and (group .. ": ") or "", e.message, (" (try 'smartlua %s--help')"):format(group and (group .. " ") or ""))
    else
      err_line(e.message)
    end
    return e.code
  end
  if is_api_error(e) then
    err_line(tostring(e))
    return M.EXIT.error
  end
  err_line(clean(e))
  return M.EXIT.error
end

-- cli.main(arg) -> exit code. arg[0]: accounts|campaigns|api|config; arg[1..n]: the words.
function M.main(arg)
  arg = arg or {}
  local group = arg[0]
  local words = {}
  for i = 1, #arg do words[i] = arg[i] end
  local ok, code = pcall(dispatch, group, words)
  if not ok then return report(GROUPS[group] and group or nil, code) end
  io.stdout:flush()
  return code
end

return M
