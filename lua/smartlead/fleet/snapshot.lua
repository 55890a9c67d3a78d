-- smartlead.snapshot(client, {db=, workspace=, stats=false, day=, progress=}) -> result | nil, err
--
-- One pass over the workspace's accounts (GET /email-accounts/?fetch_campaigns=true, 100 a page:
-- ceil(N/100) requests, one more when N is a multiple of 100), the campaign list when the client has
-- get_campaigns (one request), and with stats=true the per-mailbox campaign statistics when the client
-- has get_mailbox_statistics (20 mailboxes a request). Everything is read first; then one write
-- transaction replaces the day's snapshot of that workspace: the snapshot row is written first,
-- marked complete last, and a run killed at any point leaves the previous complete snapshot as it was.
--
-- result: {workspace=, workspace_id=, day= (ISO), accounts=, campaigns=, requests=, replaced=bool,
--          skipped={reason, ...}, seconds=, path=}
local account = require "smartlead.account"
local json = require "smartlead.json"
local store_mod = require "smartlead.fleet.store"
local days = require "smartlead.fleet.days"

local M = {}

local PAGE = 100

local function now()
  local ok, core = pcall(require, "smartlead.core")
  return ok and core.monotime() or os.clock()
end

local function is_null(v) return v == nil or v == json.null end

local function flag(v)
  if v == true then return 1 elseif v == false then return 0 end
  return nil
end

-- The workspace a client's history is kept under: the name given, else a name made from a
-- fingerprint of the base URL and the key (never the key).
function M.workspace_of(client, name)
  local core = require "smartlead.core"
  local c = type(client) == "table" and client.core or client
  local fp = core.sqlite.key_fingerprint(c)
  local base = c:base_url()
  return name or ("key-" .. fp:sub(1, 12)), { fingerprint = fp, base_url = base }
end

-- Every account, page by page in order (sequential: a daily snapshot wants the fewest requests,
-- not the shortest wall time), deduplicated by id. -> list, requests | nil, err, requests
local function read_accounts(client, progress)
  local list, seen, requests, offset = {}, {}, 0, 0
  while true do
    local page, err = client:get_email_accounts { offset = offset, limit = PAGE, fetch_campaigns = true }
    requests = requests + 1
    if not page then return nil, err, requests end
    for _, a in ipairs(page) do
      if not seen[a.id] then
        seen[a.id] = true
        list[#list + 1] = a
      end
    end
    if progress then progress("read", #list) end
    if #page < PAGE then return list, nil, requests end
    offset = offset + PAGE
  end
end

-- Optional methods another part of the client may provide; nil when absent.
local function method(client, name)
  local ok, m = pcall(function() return client[name] end)
  if ok and type(m) == "function" then return m end
end

local function read_campaigns(client, skipped)
  local get = method(client, "get_campaigns")
  if not get then
    skipped[#skipped + 1] = "campaign names and status: the client has no get_campaigns (ids come from the accounts)"
    return nil, 0
  end
  local list, err = get(client)
  if not list then return nil, 1, err end
  local out = {}
  for _, c in ipairs(list) do
    if type(c) == "table" and math.type(c.id) == "integer" then out[c.id] = c end
  end
  return out, 1
end

-- Per-mailbox counts summed over the day's campaign statistics: {account_id = {sent, replies, bounces}}.
local function read_stats(client, campaign_ids, day, skipped)
  local get = method(client, "get_mailbox_statistics")
  if not get then
    skipped[#skipped + 1] = "mailbox statistics: the client has no get_mailbox_statistics"
    return nil, 0
  end
  local by_account, requests, date = {}, 0, days.iso(day)
  for _, cid in ipairs(campaign_ids) do
    local offset = 0
    while true do
      local got, err = get(client, cid, { offset = offset, limit = 20, start_date = date, end_date = date })
      requests = requests + 1
      if not got then return nil, requests, err end
      local rows = type(got) == "table" and (got.data or got) or {}
      for _, r in ipairs(rows) do
        local id = math.tointeger(tonumber(r.email_account_id))
        if id then
          local s = by_account[id] or { sent = 0, replies = 0, bounces = 0 }
          s.sent = s.sent + (math.tointeger(tonumber(r.sent_count)) or 0)
          s.replies = s.replies + (math.tointeger(tonumber(r.reply_count)) or 0)
          s.bounces = s.bounces + (math.tointeger(tonumber(r.bounce_count)) or 0)
          by_account[id] = s
        end
      end
      if #rows < 20 then break end
      offset = offset + 20
    end
  end
  return by_account, requests
end

-- An account answer as one history row (the columns of account_days after the key).
function M.row(a)
  local w = a.warmup_details
  if is_null(w) then w = nil end
  local blocked
  if w then
    if w.is_warmup_blocked == true or w.is_warmup_blocked == false then blocked = flag(w.is_warmup_blocked)
    elseif not is_null(w.blocked_reason) then blocked = 1 end -- no reason does not prove unblocked
  end
  local cids = {}
  for _, c in ipairs(is_null(a.campaign_ids) and {} or a.campaign_ids) do cids[#cids + 1] = math.tointeger(c) or c end
  table.sort(cids)
  local tags = {}
  for _, t in ipairs(is_null(a.tags) and {} or a.tags) do
    if type(t) == "table" and type(t.name) == "string" then tags[#tags + 1] = t.name end
  end
  local count = #cids
  if count == 0 and math.type(a.campaign_count) == "integer" then count = a.campaign_count end
  return {
    email = a.from_email, type = a.type, message_per_day = math.tointeger(a.message_per_day),
    daily_sent = math.tointeger(a.daily_sent_count), reputation = account.reputation(a),
    warmup_status = w and w.status or nil, warmup_blocked = blocked,
    total_sent = w and math.tointeger(tonumber(w.total_sent_count)) or nil,
    total_spam = w and math.tointeger(tonumber(w.total_spam_count)) or nil,
    smtp_ok = flag(a.is_smtp_success), imap_ok = flag(a.is_imap_success), suspended = flag(a.is_suspended),
    campaign_ids = table.concat(cids, ","), campaign_count = count, tags = table.concat(tags, ","),
    client_id = math.tointeger(a.client_id),
  }
end

local INSERT_ACCOUNT = [[INSERT INTO account_days (workspace_id, account_id, day, email, type, message_per_day,
  daily_sent, reputation, warmup_status, warmup_blocked, total_sent, total_spam, smtp_ok, imap_ok, suspended,
  campaign_ids, campaign_count, tags, client_id, stats_sent, stats_replies, stats_bounces)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)]]

local FLEET_DAY = [[INSERT INTO fleet_days SELECT workspace_id, day, count(*),
  sum(smtp_ok AND imap_ok), sum(NOT (smtp_ok AND imap_ok)), sum(coalesce(warmup_blocked, 0)),
  sum(warmup_status = 'ACTIVE'), sum(campaign_count > 0), avg(reputation), min(reputation),
  sum(message_per_day), sum(daily_sent), sum(total_spam), sum(total_sent),
  (SELECT sum(b.total_spam - a.total_spam) FROM account_days b JOIN account_days a
    ON a.workspace_id = b.workspace_id AND a.account_id = b.account_id AND a.day = b.day - 1
    WHERE b.workspace_id = ?1 AND b.day = ?2)
  FROM account_days WHERE workspace_id = ?1 AND day = ?2 GROUP BY workspace_id, day]]

local function clear_day(s, ws, day)
  local replaced = s:value("SELECT id FROM snapshots WHERE workspace_id = ? AND day = ?", ws, day) ~= nil
  for _, t in ipairs({ "account_days", "campaign_days", "fleet_days", "snapshots" }) do
    s:run(("DELETE FROM %s WHERE workspace_id = ? AND day = ?"):format(t), ws, day)
  end
  return replaced
end

-- Campaign rows from the accounts' campaign_ids and, where known, the campaign list.
local function campaign_rows(accounts_rows, campaigns)
  local by_id = {}
  for _, r in ipairs(accounts_rows) do
    for cid in r.campaign_ids:gmatch("%d+") do
      local c = by_id[tonumber(cid)] or { accounts = 0, capacity = 0 }
      c.accounts = c.accounts + 1
      if r.smtp_ok == 1 and r.imap_ok == 1 and r.suspended ~= 1 then
        c.capacity = c.capacity + (r.message_per_day or 0)
      end
      by_id[tonumber(cid)] = c
    end
  end
  for id in pairs(campaigns or {}) do by_id[id] = by_id[id] or { accounts = 0, capacity = 0 } end
  local ids = {}
  for id in pairs(by_id) do ids[#ids + 1] = id end
  table.sort(ids)
  return ids, by_id
end

local function write_snapshot(s, ctx)
  local ws = s:workspace_id(ctx.workspace, ctx.info)
  local fp = s:value("SELECT fingerprint FROM workspaces WHERE id = ?", ws)
  if fp and ctx.info.fingerprint and fp ~= ctx.info.fingerprint and not ctx.allow_other_key then
    error(setmetatable({ kind = "workspace", message = ("workspace '%s' holds the history of "
      .. "another API key or base URL; give this one its own workspace name"):format(ctx.workspace) }, store_mod.Error))
  end
  local replaced = clear_day(s, ws, ctx.day)
  s:run("INSERT INTO snapshots (workspace_id, day, taken_at, accounts, campaigns, requests, complete) "
    .. "VALUES (?, ?, ?, ?, ?, ?, 0)", ws, ctx.day, os.time(), #ctx.rows, #ctx.campaign_ids, ctx.requests)
  local snap = s.db:last_insert_rowid()
  local ins = s:prepare(INSERT_ACCOUNT)
  for i, r in ipairs(ctx.rows) do
    local st = ctx.stats and ctx.stats[r.id]
    s:run(ins, ws, r.id, ctx.day, r.email, r.type, r.message_per_day, r.daily_sent, r.reputation, r.warmup_status,
      r.warmup_blocked, r.total_sent, r.total_spam, r.smtp_ok, r.imap_ok, r.suspended, r.campaign_ids,
      r.campaign_count, r.tags, r.client_id, st and st.sent, st and st.replies, st and st.bounces)
    if ctx.progress and i % 100 == 0 then ctx.progress("write", i, #ctx.rows) end
  end
  local cins = s:prepare("INSERT INTO campaign_days (workspace_id, campaign_id, day, name, status, accounts, capacity) "
    .. "VALUES (?, ?, ?, ?, ?, ?, ?)")
  for _, cid in ipairs(ctx.campaign_ids) do
    local c, known = ctx.by_campaign[cid], ctx.campaigns and ctx.campaigns[cid]
    s:run(cins, ws, cid, ctx.day, known and known.name, known and known.status, c.accounts, c.capacity)
  end
  s:run(FLEET_DAY, ws, ctx.day)
  s:run("UPDATE snapshots SET complete = 1 WHERE id = ?", snap) -- last: the snapshot is whole
  return ws, replaced
end

-- snapshot.store_day(store, {workspace=, info=, day=, rows=, campaigns=, stats=, requests=, progress=})
-- -> workspace_id, replaced | nil, err: the write half of a snapshot, for rows already made with
-- snapshot.row (each with its account id as .id); one transaction. The bench feeds it generated days.
function M.store_day(s, ctx)
  local c = {}
  for k, v in pairs(ctx) do c[k] = v end
  c.info = c.info or {}
  c.campaign_ids, c.by_campaign = campaign_rows(c.rows, c.campaigns)
  c.requests = c.requests or 0
  return s:write(function(st) return write_snapshot(st, c) end)
end

local function options(opts)
  if opts ~= nil and type(opts) ~= "table" then error("snapshot: options must be a table", 3) end
  opts = opts or {}
  local day = days.today()
  if opts.day ~= nil then
    local err
    day, err = days.parse(opts.day)
    if not day then error("snapshot: " .. err, 3) end
  end
  return opts, day
end

function M.snapshot(client, opts)
  local day
  opts, day = options(opts)
  local started = now()
  local workspace, info = M.workspace_of(client, opts.workspace)
  local list, err, requests = read_accounts(client, opts.progress)
  if not list then return nil, err end
  local skipped = {}
  local campaigns, creq, cerr = read_campaigns(client, skipped)
  requests = requests + creq
  if cerr then return nil, cerr end
  local rows = {}
  for i, a in ipairs(list) do
    local r = M.row(a)
    r.id = a.id
    rows[i] = r
  end
  local campaign_ids, by_campaign = campaign_rows(rows, campaigns)
  local stats
  if opts.stats then
    local sreq, serr
    stats, sreq, serr = read_stats(client, campaign_ids, day, skipped)
    requests = requests + sreq
    if serr then return nil, serr end
  end
  local s, oerr = store_mod.use(opts.db, { busy_timeout = opts.busy_timeout })
  if not s then return nil, oerr end
  local ctx = { workspace = workspace, info = info, day = day, rows = rows, campaign_ids = campaign_ids,
    by_campaign = by_campaign, campaigns = campaigns, stats = stats, requests = requests, progress = opts.progress }
  local ws, replaced = s:write(function(st) return write_snapshot(st, ctx) end)
  local path = s.path
  if s ~= opts.db then s:close() end
  if not ws then return nil, replaced end
  return { workspace = workspace, workspace_id = ws, day = days.iso(day), accounts = #rows, campaigns = #campaign_ids,
    requests = requests, replaced = replaced, skipped = skipped, seconds = now() - started, path = path }
end

return setmetatable(M, { __call = function(_, ...) return M.snapshot(...) end })
