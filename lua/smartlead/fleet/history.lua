-- smartlead.history(db, {workspace=}) -> History | nil, err: what the snapshots remember.
--
-- db: a path (nil: the default file) or a store (fleet/store.lua). workspace: a name; by default the
-- only workspace in the file, or "*" for all of them (fleet totals per workspace; series of every
-- workspace, each tagged). Windows are {from=, to=} (YYYY-MM-DD or day numbers) or {days=N} ending
-- at `to`, which defaults to the newest complete snapshot.
--
-- A day row (series, each_series, day):
--   {day="YYYY-MM-DD", d=day number, id=, email=, type=, workspace=, limit=, sent= (today's sends),
--    reputation=, warmup_status=, blocked=true|false|nil, spam_total=, warmup_sent_total=,
--    spam= and inbox= (warmup placements since the day before; nil on a series' first day),
--    connected=, smtp_ok=, imap_ok=, suspended=, campaigns={ids}, campaign_count=, tags={names},
--    stats_sent=, stats_replies=, stats_bounces=}
local store_mod = require "smartlead.fleet.store"
local days = require "smartlead.fleet.days"

local M = {}
local History = {}
History.__index = History

local COLUMNS = [[a.workspace_id, a.account_id, a.day, a.email, a.type, a.message_per_day, a.daily_sent,
  a.reputation, a.warmup_status, a.warmup_blocked, a.total_sent, a.total_spam, a.smtp_ok, a.imap_ok,
  a.suspended, a.campaign_ids, a.campaign_count, a.tags, a.stats_sent, a.stats_replies, a.stats_bounces]]

local function num(v)
  if v == nil then return nil end
  return math.tointeger(v) or v
end

local function bool(v)
  if v == nil then return nil end
  return v ~= 0
end

local function list_of(text, as_number)
  local out = {}
  if text and text ~= "" then
    for item in text:gmatch("[^,]+") do out[#out + 1] = as_number and tonumber(item) or item end
  end
  return out
end

-- A row of account_days (values in COLUMNS order) as a day row.
local function day_row(names, ws, id, d, email, typ, limit, sent, rep, wstatus, blocked, tsent, tspam, smtp, imap,
                       susp, cids, ccount, tags, ssent, sreplies, sbounces)
  return { workspace = names[ws], id = id, d = d, day = days.iso(d), email = email, type = typ, limit = limit,
    sent = sent, reputation = num(rep), warmup_status = wstatus, blocked = bool(blocked),
    warmup_sent_total = tsent, spam_total = tspam, smtp_ok = bool(smtp), imap_ok = bool(imap),
    connected = smtp == 1 and imap == 1, suspended = bool(susp), campaigns = list_of(cids, true),
    campaign_count = ccount or 0, tags = list_of(tags), stats_sent = ssent, stats_replies = sreplies,
    stats_bounces = sbounces }
end

-- Fills spam and inbox (daily warmup placements) from consecutive totals.
local function deltas(rows)
  for i = 2, #rows do
    local a, b = rows[i - 1], rows[i]
    if b.d - a.d == 1 and a.spam_total and b.spam_total and b.spam_total >= a.spam_total then
      b.spam = b.spam_total - a.spam_total
      if a.warmup_sent_total and b.warmup_sent_total then
        b.inbox = math.max(0, (b.warmup_sent_total - a.warmup_sent_total) - b.spam)
      end
    end
  end
  return rows
end
M.deltas = deltas

-- smartlead.history(db, {workspace=}) -> History | nil, err
function M.open(db, opts)
  opts = opts or {}
  local s, err = store_mod.use(db, { readonly = opts.readonly, must_exist = true }) -- reading makes no file
  if not s then return nil, err end
  local self = setmetatable({ store = s, owned = s ~= db, names = {}, ids = {} }, History)
  for _, w in ipairs(s:workspaces()) do
    self.names[w.id] = w.name
    self.ids[w.name] = w.id
  end
  local want = opts.workspace
  if want == nil then
    local only, count = nil, 0
    for name, id in pairs(self.ids) do only, count = { name = name, id = id }, count + 1 end
    if count > 1 then
      local names = {}
      for name in pairs(self.ids) do names[#names + 1] = name end
      table.sort(names)
      self:close()
      return nil, setmetatable({ kind = "workspace", message = ("%s holds several workspaces "
        .. "(%s): name one, or \"*\" for all"):format(s.path, table.concat(names, ", ")) }, store_mod.Error)
    end
    self.workspace, self.workspace_id = only and only.name, only and only.id or -1
  elseif want == "*" then
    self.workspace, self.all = "*", true
  else
    if not self.ids[want] then
      self:close()
      return nil, setmetatable({ kind = "workspace", message = ("%s has no workspace '%s'")
        :format(s.path, tostring(want)) }, store_mod.Error)
    end
    self.workspace, self.workspace_id = want, self.ids[want]
  end
  return self
end

-- The SQL condition on workspace_id and its arguments.
function History:ws_clause(alias)
  if self.all then return "1 = 1" end
  return ("%sworkspace_id = %d"):format(alias or "", self.workspace_id)
end

-- history:days() -> day numbers with a complete snapshot, oldest first
function History:days()
  local out = {}
  for d in self.store:prepare(("SELECT DISTINCT day FROM snapshots WHERE complete = 1 AND %s ORDER BY day")
    :format(self:ws_clause())):urows() do out[#out + 1] = d end
  return out
end

-- history:latest() -> the newest complete day number, or nil
function History:latest()
  return self.store:value(("SELECT max(day) FROM snapshots WHERE complete = 1 AND %s"):format(self:ws_clause()))
end

-- history:window(opts) -> from, to (day numbers) | raises on a bad day
function History:window(opts)
  opts = opts or {}
  local to = opts.to and assert(days.parse(opts.to)) or self:latest() or days.today()
  local from
  if opts.from then from = assert(days.parse(opts.from))
  elseif opts.days then from = to - assert(days.span(opts.days)) + 1
  else from = to - 29 end
  return from, to
end

-- history:series(id, {from=, to=, days=}) -> day rows oldest first (the day before `from` is read
-- too, so the first row has its spam and inbox, then dropped)
function History:series(id, opts)
  local from, to = self:window(opts)
  local rows = {}
  local sql = ("SELECT %s FROM account_days a WHERE %s AND a.account_id = ? AND a.day BETWEEN ? AND ? ORDER BY a.day")
    :format(COLUMNS, self:ws_clause("a."))
  local st = self.store:prepare(sql)
  for ws, aid, d, e, t, l, s, r, w, b, ts, tp, so, io, su, c, cc, tg, x1, x2, x3 in st:urows(id, from - 1, to) do
    rows[#rows + 1] = day_row(self.names, ws, aid, d, e, t, l, s, r, w, b, ts, tp, so, io, su, c, cc, tg, x1, x2, x3)
  end
  deltas(rows)
  if rows[1] and rows[1].d < from then table.remove(rows, 1) end
  return rows
end

-- history:each_series(fn, {from=, to=, days=}) -- fn(rows) once per account (all workspaces with
-- "*"), rows oldest first; accounts stream one at a time, so memory stays flat on big fleets.
function History:each_series(fn, opts)
  local from, to = self:window(opts)
  local sql = ("SELECT %s FROM account_days a WHERE %s AND a.day BETWEEN ? AND ? "
    .. "ORDER BY a.workspace_id, a.account_id, a.day")
    :format(COLUMNS, self:ws_clause("a."))
  local rows, key = {}, nil
  local function flush()
    if #rows == 0 then return end
    deltas(rows)
    if rows[1].d < from then table.remove(rows, 1) end
    if #rows > 0 then fn(rows) end
  end
  local st = self.store:prepare(sql)
  for ws, aid, d, e, t, l, s, r, w, b, ts, tp, so, io, su, c, cc, tg, x1, x2, x3 in st:urows(from - 1, to) do
    local k = ws * 4294967296 + aid
    if k ~= key then
      flush()
      rows, key = {}, k
    end
    rows[#rows + 1] = day_row(self.names, ws, aid, d, e, t, l, s, r, w, b, ts, tp, so, io, su, c, cc, tg, x1, x2, x3)
  end
  flush()
end

-- history:day(d) -> the day's rows in account order (d: default the newest)
function History:day(d)
  d = d and assert(days.parse(d)) or self:latest()
  local out = {}
  if not d then return out end
  local sql = ("SELECT %s FROM account_days a WHERE %s AND a.day = ? ORDER BY a.workspace_id, a.account_id")
    :format(COLUMNS, self:ws_clause("a."))
  for ws, aid, dd, e, t, l, s, r, w, b, ts, tp, so, io, su, c, cc, tg, x1, x2, x3 in self.store:prepare(sql):urows(d) do
    out[#out + 1] = day_row(self.names, ws, aid, dd, e, t, l, s, r, w, b, ts, tp, so, io, su, c, cc, tg, x1, x2, x3)
  end
  return out
end

-- history:fleet({from=, to=, days=}) -> per day (and workspace) totals, oldest first:
-- {day=, workspace=, accounts=, connected=, disconnected=, blocked=, warming=, in_campaigns=,
--  reputation_avg=, reputation_min=, capacity=, sent=, spam_total=, warmup_sent_total=,
--  spam= (warmup spam placements that day: the growth of each account's total since the day before)}
function History:fleet(opts)
  local from, to = self:window(opts)
  local out = {}
  local sql = ("SELECT * FROM fleet_days WHERE %s AND day BETWEEN ? AND ? ORDER BY day, workspace_id")
    :format(self:ws_clause())
  for r in self.store:prepare(sql):nrows(from, to) do
    r.d, r.day = r.day, days.iso(r.day)
    r.workspace = self.names[r.workspace_id]
    out[#out + 1] = r
  end
  return out
end

local METRIC = { reputation = "reputation", limit = "message_per_day", sent = "daily_sent",
  spam_total = "total_spam", warmup_sent_total = "total_sent", campaigns = "campaign_count",
  connected = "(smtp_ok AND imap_ok)" }

-- history:change(metric, {from=, to=, days=}) -> {{id=, email=, workspace=, before=, after=, delta=}, ...}
-- One query comparing two days for every account present on both (the trend query: for 50,000
-- accounts it reads 100,000 rows by index, not the whole window).
function History:change(metric, opts)
  local col = METRIC[metric]
  if not col then error("history:change: unknown metric '" .. tostring(metric) .. "'", 2) end
  local from, to = self:window(opts)
  local sql = ([[SELECT b.workspace_id, b.account_id, b.email, a.%s, b.%s FROM account_days b
    JOIN account_days a ON a.workspace_id = b.workspace_id AND a.account_id = b.account_id AND a.day = ?
    WHERE %s AND b.day = ? ORDER BY b.workspace_id, b.account_id]]):format(col, col, self:ws_clause("b."))
  local out = {}
  for ws, id, email, before, after in self.store:prepare(sql):urows(from, to) do
    before, after = num(before), num(after)
    out[#out + 1] = { workspace = self.names[ws], id = id, email = email, before = before, after = after,
      delta = (before and after) and num(after - before) or nil }
  end
  return out
end

-- history:campaigns(d) -> {{id=, name=, status=, accounts=, capacity=, workspace=}, ...} on day d
function History:campaigns(d)
  d = d and assert(days.parse(d)) or self:latest()
  local out = {}
  local sql = ("SELECT * FROM campaign_days WHERE %s AND day = ? ORDER BY workspace_id, campaign_id")
    :format(self:ws_clause())
  for r in self.store:prepare(sql):nrows(d or -1) do
    out[#out + 1] = { id = r.campaign_id, name = r.name, status = r.status, accounts = r.accounts,
      capacity = r.capacity, workspace = self.names[r.workspace_id] }
  end
  return out
end

function History:close()
  if self.owned and self.store then self.store:close() end
  self.store = nil
end
History.__close = History.close

return M
