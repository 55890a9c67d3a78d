-- :help in the REPL. Endpoint methods are described from the C endpoint table (method, path,
-- arguments, accepted fields), so help cannot drift from what the code sends; the methods
-- written in Lua and the REPL's own commands are described here.
local M = {}

local EXAMPLES = {
  get_email_accounts = 'sl:get_email_accounts{ esp = "GMAIL", limit = 100, offset = 0 }',
  add_smtp_account = 'sl:add_smtp_account{ from_email = "ann@example.com", from_name = "Ann", '
    .. 'user_name = "ann@example.com",\n'
    .. '  password = os.getenv("SMTP_PASS"), smtp_host = "smtp.example.com", smtp_port = 587,\n'
    .. '  imap_host = "imap.example.com", imap_port = 993 }',
  add_oauth_account = 'sl:add_oauth_account{ from_email = "ann@example.com", from_name = "Ann", '
    .. 'type = "GMAIL", token = tok }',
  update_email_account = "sl:update_email_account(3001, { max_email_per_day = 40 })",
  add_campaign_email_accounts = "sl:add_campaign_email_accounts(4101, { 3001, 3002 })",
  get_email_account = "sl:get_email_account(3001, { fetch_campaigns = true })",
  get_email_account_by_email = 'sl:get_email_account_by_email("ann@example.com")',
  get_campaign_email_accounts = "sl:get_campaign_email_accounts(4101)",
  remove_campaign_email_accounts = "sl:remove_campaign_email_accounts(4101, { 3001 })",
  update_warmup = "sl:update_warmup(3001, { warmup_enabled = true, total_warmup_per_day = 20 })",
  get_warmup_stats = "sl:get_warmup_stats(3001)",
  reconnect_failed_email_accounts = "sl:reconnect_failed_email_accounts()",
  delete_email_account = "sl:delete_email_account(3001)   -- asks (or --yes): it cannot be undone",
  suspend_email_account = "sl:suspend_email_account(3001)",
  unsuspend_email_account = "sl:unsuspend_email_account(3001)",
  get_campaigns = 'for _, c in ipairs(sl:get_campaigns()) do print(c.id, c.status, c.name) end',
  get_campaign = "sl:get_campaign(4101).status",
  get_mailbox_statistics =
    'sl:get_mailbox_statistics(4101, { limit = 20, start_date = "2026-01-01", end_date = "2026-01-31" })',
  create_tag = 'sl:create_tag{ name = "Warm pool", color = "#4CAF50" }',
  update_tag = 'sl:update_tag{ id = 501, name = "Primary", color = "#2196F3" }',
  add_email_account_tags = "sl:add_email_account_tags({ 3001, 3002 }, { 501 })   -- 25 ids a request, split for you",
  remove_email_account_tags = "sl:remove_email_account_tags({ 3001 }, { 501 })",
  get_email_account_tags = 'sl:get_email_account_tags{ "ann@example.com" }',
  update_lead_email_account =
    "sl:update_lead_email_account{ email_account_id = 3002, email_campaign_id = 4101, email_lead_id = 77 }",
}

local LUA_METHODS = {
  accounts = { "sl:accounts(filters) -> iterator",
    "Every account on every page, next pages fetched ahead, deduplicated by id.",
    'for a in sl:accounts{ esp = "GMAIL" } do print(a.id, a.from_email) end' },
  all_accounts = { "sl:all_accounts(filters) -> array", "The accounts iterator collected into an array.",
    'gmail = sl:all_accounts{ esp = "GMAIL" }' },
  each = { "sl:each(items, fn, {concurrency=N}) -> report",
    "fn(item) for every item, endpoint calls running concurrently; one failure never stops the others.",
    "r = sl:each(ids, function(id) return sl:update_email_account(id, { max_email_per_day = 30 }) end)" },
  request = { "sl:request(method, path, {query=, body=}) -> answer",
    "Any other endpoint, with the same key, errors and redaction.",
    'sl:request("GET", "/campaigns/4101/email-accounts")' },
  close = { "sl:close()", "Releases the client's connections; later calls fail.", "sl:close()" },
  mailbox_statistics = { "sl:mailbox_statistics(campaign_id, query) -> array",
    "Every mailbox's statistics of a campaign: get_mailbox_statistics page by page (20 a page).",
    "for _, r in ipairs(sl:mailbox_statistics(4101)) do print(r.from_email, r.bounce_count / r.sent_count) end" },
  campaigns_with_accounts = { "sl:campaigns_with_accounts(query, {statuses=}) -> array",
    "get_campaigns, each with account_ids: what policy.rotate and policy.pause take.",
    "policy.rotate(sl:campaigns_with_accounts(nil, { statuses = { ACTIVE = true } }), sl:all_accounts())" },
  options = { "sl:options() -> table", "The client's settings (the key is never included).", "sl:options()" },
  rate_budget = { "sl:rate_budget() -> {windows=, source=, off=, pause=}",
    "The rate budget this key has shown: configured, the server's X-RateLimit windows, or learned from 429s.",
    "sl:rate_budget()" },
}

-- The module's functions and the policies: signature, what it does, an example.
local MODULE_TOPICS = {
  ["smartlead.client"] = { "smartlead.client{api_key=, base_url=, profile=, timeout=60, concurrency=8, "
    .. "rate={requests=10, per=2}|false, max_retries=5, max_wait=600} -> Client",
    "A client. Each setting comes from the option, else --mock/--profile, the environment (SMARTLEAD_API_KEY, ...), "
    .. "the profile's section of the config file, the default.", 'acme = smartlead.client{ profile = "acme" }' },
  ["smartlead.profiles"] = { "smartlead.profiles() -> {name, ...}",
    "The profiles (workspaces) of the config file, sorted; a client per profile: smartlead.client{profile = name}.",
    'for _, p in ipairs(smartlead.profiles()) do print(p, #smartlead.client{ profile = p }:all_accounts()) end' },
  ["smartlead.reputation"] = { "smartlead.reputation(account) -> number | nil",
    'Warmup reputation as a number whether the API said "97%" or 97; nil when warmup never started.',
    "smartlead.reputation(sl:get_email_account(3001))" },
  ["smartlead.get"] = { 'smartlead.get(account, "warmup_details.status") -> value | nil',
    "Null-safe path lookup: nil where a step is null or missing; request names (max_email_per_day) work too.",
    'smartlead.get(sl:get_email_account(3001), "warmup_details.status")' },
  ["smartlead.null"] = { "smartlead.null",
    "JSON null: prints as null, is not nil (an absent key is nil); indexing or comparing it says so. "
      .. "smartlead.is_null(v) tests for it.", "smartlead.is_null(sl:get_email_account(3001).signature)" },
  ["smartlead.is_null"] = { "smartlead.is_null(v) -> boolean", "True for JSON null (smartlead.null).",
    "smartlead.is_null(smartlead.null)" },
  ["smartlead.show"] = { "smartlead.show(value, {columns=, max_width=, color=})",
    "Prints as the REPL does: nested tables indented, accounts as an aligned table, secrets masked, null as null.",
    'smartlead.show(sl:get_email_accounts{ limit = 5 }, { columns = { "id", "from_email" } })' },
  ["smartlead.json"] = { "smartlead.json.decode(text), .encode(v), .array(t), .is_array(t), .null",
    "The project's JSON: integers stay integers, arrays stay arrays (even empty), null is smartlead.null.",
    'smartlead.json.encode(smartlead.json.array{})' },
  ["smartlead.mask"] = { "smartlead.mask(text) -> text", "Every API key the process knows, masked as ***.",
    'smartlead.mask("key=" .. os.getenv("SMARTLEAD_API_KEY"))' },
  ["smartlead.operations"] = { "smartlead.operations() -> {row, ...}",
    "The operation registry: name, method, path, kind, inverse, fields (name, type, required, enum, alias).",
    "for _, op in ipairs(smartlead.operations()) do print(op.name, op.kind) end" },
  ["smartlead.define_operation"] = { "smartlead.define_operation{name=, method=, path=, kind=, fields=, ...} -> row",
    "A new Client method for an endpoint the registry lacks, planned, journaled and undone by its kind.",
    'smartlead.define_operation{ name = "set_signature", method = "POST", path = "/email-accounts/{id}", '
      .. 'id_name = "email_account_id", kind = "set", fields = { { name = "signature", type = "text" } } }' },
  ["policy.health"] = { "policy.health(account, {min_reputation=90}) -> {healthy, status, reasons, reputation}",
    "healthy / warning (over today's limit) / sick (disconnected, suspended, warmup blocked, reputation too low).",
    "policy.health(sl:get_email_account(3001)).status" },
  ["policy.ramp"] = { "policy.ramp(accounts, {step=5, good=95, ceiling=100, bad=85, cut=0.5, floor=10}) -> changes",
    "Raise the daily limit of healthy accounts with good reputation, cut it for falling reputation, 0 for "
      .. "disconnected ones.", "changes = policy.ramp(sl:all_accounts())" },
  ["policy.rotate"] = { "policy.rotate(campaigns, accounts, {per_account_campaigns=1, max_per_campaign=2500}) "
    .. "-> changes, notes",
    "Attach healthy accounts so daily capacity is balanced, detach sick ones, never empty an active campaign. "
      .. "campaigns: {id=, status=, account_ids={...}}.",
    "changes, notes = policy.rotate({ { id = 4101, status = \"ACTIVE\", account_ids = {} } }, sl:all_accounts())" },
  ["policy.pause"] = { "policy.pause(campaigns, accounts, {min_reputation=90}) -> changes, notes",
    "Detach sick accounts from active campaigns (keeping the last one) and set their limit to 0.",
    "changes = policy.pause(campaigns, sl:all_accounts())" },
  ["policy.apply"] = { "policy.apply(client, changes, {concurrency=4, on_step=fn}) -> report {ok, failed, total}",
    "Perform the changes through client:each: planned, journaled and undone like any write.",
    "policy.apply(sl, policy.ramp(sl:all_accounts()))" },
  ["policy.describe"] = { "policy.describe(changes) -> text", "One line per change, with its reason.",
    "print(policy.describe(policy.ramp(sl:all_accounts())))" },
  ["policy.run"] = { "policy.run(client, changes, {notes=, dry_run=, concurrency=}) -> ok",
    "What the examples do: print the changes, stop on a dry run, else apply them and name each failure.",
    "policy.run(sl, policy.ramp(sl:all_accounts()), { dry_run = true })" },
}

local REPL_COMMANDS = {
  { ":help", "this list" },
  { ":help NAME", "a method's endpoint, arguments and an example (:help update_email_account)" },
  { ":help smartlead", "the module's functions (:help smartlead.get)" },
  { ":help policy", "the policies (:help policy.rotate)" },
  { ":trace", "the traceback of the last error" },
  { ":quit", "leave (Ctrl-D does the same)" },
}

local function endpoint(name)
  for _, e in ipairs(require("smartlead").operations()) do
    if e.name == name then return e end
  end
end

local function field_names(e)
  local names = {}
  for i, f in ipairs(e.fields or {}) do names[i] = type(f) == "table" and f.name or tostring(f) end
  return table.concat(names, ", ")
end

local function describe_endpoint(e)
  local lines = {
    ("sl:%s(%s)%s"):format(e.name, e.args or "",
      e.kind ~= "read" and ("   -- a " .. e.kind .. " write: planned and journaled") or ""),
    ("  %s %s"):format(e.method, e.path),
    "  " .. (e.summary or ""),
  }
  local fields = field_names(e)
  if fields ~= "" then lines[#lines + 1] = "  fields: " .. fields end
  if EXAMPLES[e.name] then lines[#lines + 1] = "  example: " .. EXAMPLES[e.name]:gsub("\n", "\n    ") end
  return table.concat(lines, "\n")
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- The topics under a prefix ("smartlead." or "policy."), one line each.
local function listing(prefix, title)
  local lines = { title }
  for _, k in ipairs(sorted_keys(MODULE_TOPICS)) do
    if k:sub(1, #prefix) == prefix then
      local d = MODULE_TOPICS[k][2]
      lines[#lines + 1] = ("  %-28s %s"):format(k, d:match("^(.-)[.;] ") or d:gsub("%.$", ""))
    end
  end
  lines[#lines + 1] = ("(:help %sNAME for one)"):format(prefix)
  return table.concat(lines, "\n")
end

-- Every topic name :help knows (for suggestions).
function M.topics()
  local out = { "smartlead", "policy" }
  for _, e in ipairs(require("smartlead").operations()) do out[#out + 1] = e.name end
  for k in pairs(LUA_METHODS) do out[#out + 1] = k end
  for k in pairs(MODULE_TOPICS) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- The help text for `name` (a method, with or without "sl:"; a module function, smartlead.get or
-- get; a policy, policy.rotate; "smartlead" or "policy" for their lists), or nil.
function M.topic(name)
  name = name:gsub("^sl[:.]", ""):gsub("%(%)$", ""):gsub("^smartlead%.policy%.", "policy.")
  if name == "smartlead" then return listing("smartlead.", "The module (require \"smartlead\"):") end
  if name == "policy" or name == "smartlead.policy" then
    return listing("policy.",
      "Policies (smartlead.policy): they decide, the client does; each returns plain change lists.")
  end
  local e = endpoint(name)
  if e then return describe_endpoint(e) end
  local m = LUA_METHODS[name]
  if m then return ("%s\n  %s\n  example: %s"):format(m[1], m[2], m[3]) end
  local t = MODULE_TOPICS[name] or MODULE_TOPICS["smartlead." .. name] or MODULE_TOPICS["policy." .. name]
  if t then return ("%s\n  %s\n  example: %s"):format(t[1], t[2], t[3]) end
end

-- "no help for 'x'", with a suggestion when a topic is spelt close to it.
function M.unknown(name)
  return ("no help for '%s'%s (try :help)"):format(name, require("smartlead.cli.parser").suggestion(name, M.topics()))
end

-- Every method name a Client answers.
function M.method_names()
  local names = {}
  for name in pairs(require("smartlead").Client.__methods()) do names[#names + 1] = name end
  table.sort(names)
  return names
end

-- msg with ' (did you mean "update_email_account"?)' added when it says a method that does not
-- exist was called and a Client method is spelt close to it (sl:update_emial_account).
function M.with_suggestion(msg)
  if type(msg) ~= "string" then return msg end
  local name = msg:match("attempt to call a nil value %(method '([%w_]+)'%)")
    or msg:match("attempt to call a nil value %(field '([%w_]+)'%)")
  if not name then return msg end
  local best = require("smartlead.cli.parser").closest(name, M.method_names())
  if not best then return msg end
  return (msg:gsub("(attempt to call a nil value %([a-z]+ '[%w_]+'%))", '%1 (did you mean "' .. best .. '"?)', 1))
end

-- The overview :help prints.
function M.overview()
  local lines = { "The REPL: `sl` is a ready client, `smartlead` the module; an expression prints its value.",
    "Tab completes names, methods and fields (sl:get_<TAB>, acct.warmup_details.<TAB>).",
    "Ctrl-C cancels the running call, Ctrl-D leaves.", "", "Commands:" }
  for _, c in ipairs(REPL_COMMANDS) do lines[#lines + 1] = ("  %-12s %s"):format(c[1], c[2]) end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Endpoint methods (:help NAME for details):"
  for _, e in ipairs(require("smartlead").operations()) do
    lines[#lines + 1] = ("  sl:%-34s %s"):format(e.name, e.summary or "")
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Lua methods:"
  for _, k in ipairs(sorted_keys(LUA_METHODS)) do
    lines[#lines + 1] = ("  %-37s %s"):format(LUA_METHODS[k][1], LUA_METHODS[k][2])
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] =
    "The module and the policies: :help smartlead, :help policy (:help smartlead.get, :help policy.rotate)."
  return table.concat(lines, "\n")
end

return M
