-- :help in the REPL. Endpoint methods are described from the C endpoint table (method, path,
-- arguments, accepted fields), so help cannot drift from what the code sends; the methods
-- written in Lua and the REPL's own commands are described here.
local M = {}

local EXAMPLES = {
  get_email_accounts = 'sl:get_email_accounts{ esp = "GMAIL", limit = 100, offset = 0 }',
  add_smtp_account = 'sl:add_smtp_account{ from_email = "ann@example.com", from_name = "Ann", user_name = "ann@example.com",\n'
    .. '  password = os.getenv("SMTP_PASS"), smtp_host = "smtp.example.com", smtp_port = 587,\n'
    .. '  imap_host = "imap.example.com", imap_port = 993 }',
  add_oauth_account = 'sl:add_oauth_account{ from_email = "ann@example.com", from_name = "Ann", type = "GMAIL", token = tok }',
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
  accounts = { "sl:accounts(filters) -> iterator", "Every account on every page, next pages fetched ahead, deduplicated by id.",
    'for a in sl:accounts{ esp = "GMAIL" } do print(a.id, a.from_email) end' },
  all_accounts = { "sl:all_accounts(filters) -> array", "The accounts iterator collected into an array.",
    'gmail = sl:all_accounts{ esp = "GMAIL" }' },
  each = { "sl:each(items, fn, {concurrency=N}) -> report", "fn(item) for every item, endpoint calls running concurrently; one failure never stops the others.",
    "r = sl:each(ids, function(id) return sl:update_email_account(id, { max_email_per_day = 30 }) end)" },
  request = { "sl:request(method, path, {query=, body=}) -> answer", "Any other endpoint, with the same key, errors and redaction.",
    'sl:request("GET", "/campaigns/4101/email-accounts")' },
  close = { "sl:close()", "Releases the client's connections; later calls fail.", "sl:close()" },
  mailbox_statistics = { "sl:mailbox_statistics(campaign_id, query) -> array",
    "Every mailbox's statistics of a campaign: get_mailbox_statistics page by page (20 a page).",
    "for _, r in ipairs(sl:mailbox_statistics(4101)) do print(r.from_email, r.bounce_count / r.sent_count) end" },
  campaigns_with_accounts = { "sl:campaigns_with_accounts(query, {statuses=}) -> array",
    "get_campaigns, each with account_ids: what policy.rotate and policy.pause take.",
    "policy.rotate(sl:campaigns_with_accounts(nil, { statuses = { ACTIVE = true } }), sl:all_accounts())" },
  options = { "sl:options() -> table", "The client's settings (the key is never included).", "sl:options()" },
}

local REPL_COMMANDS = {
  { ":help", "this list" },
  { ":help NAME", "a method's endpoint, arguments and an example (:help update_email_account)" },
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
    ("sl:%s(%s)%s"):format(e.name, e.args or "", e.kind ~= "read" and ("   -- a " .. e.kind .. " write: planned and journaled") or ""),
    ("  %s %s"):format(e.method, e.path),
    "  " .. (e.summary or ""),
  }
  local fields = field_names(e)
  if fields ~= "" then lines[#lines + 1] = "  fields: " .. fields end
  if EXAMPLES[e.name] then lines[#lines + 1] = "  example: " .. EXAMPLES[e.name]:gsub("\n", "\n    ") end
  return table.concat(lines, "\n")
end

-- The help text for `name` (a method, with or without "sl:"), or nil when there is none.
function M.topic(name)
  name = name:gsub("^sl[:.]", ""):gsub("%(%)$", "")
  local e = endpoint(name)
  if e then return describe_endpoint(e) end
  local m = LUA_METHODS[name]
  if m then return ("%s\n  %s\n  example: %s"):format(m[1], m[2], m[3]) end
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
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
  for _, k in ipairs(sorted_keys(LUA_METHODS)) do lines[#lines + 1] = ("  %-37s %s"):format(LUA_METHODS[k][1], LUA_METHODS[k][2]) end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Helpers: smartlead.show(v, {columns=}), smartlead.reputation(a), smartlead.null, smartlead.policy"
  return table.concat(lines, "\n")
end

return M
