-- smartlead.fleet.signals: trend signals over an account's history.
--
-- Each signal takes an account's series (history:series(id) or the rows each_series hands over:
-- day rows, oldest first) and options, and returns a list of reasons, {code=, message=, value=};
-- an empty list means nothing to report. Policies and scripts call them one by one:
--
--   local rows = history:series(3001, {days = 30})
--   for _, r in ipairs(signals.reputation_drop(rows, {points = 5, days = 7})) do print(r.message) end
--
-- signals.reputation_drop(rows, {points=5, days=7})      reputation fell by >= points over days
-- signals.spam_rising(rows, {days=7, ratio=1.5, min=2})   daily spam placements of the last `days`
--                                                          average >= ratio x the `days` before, and
--                                                          >= min more a day
-- signals.burnout(rows, {share=0.9, days=5})              sent >= share of the limit on each of the last days
-- signals.disconnected_attached(rows)                     SMTP or IMAP failing while in a campaign (newest day)
-- signals.unused(rows, {days=7})                          no campaign and no sends on each of the last days
-- signals.warmup_gate(rows, {days=14, reputation=95})     -> ready, reasons: warmed for `days` days at >=
--                                                          reputation, connected, not blocked, not suspended
-- signals.health(rows, {drop_days=7, spam=, burnout=})     -> score 0..100, reasons (what was taken off)
-- signals.rank(list_of_series, opts)                      -> {{id=, email=, score=, reasons=}, ...} worst first
-- signals.evaluate(history, opts)                         every signal over the fleet (below)
local M = {}

local function last(rows) return rows[#rows] end

local function reason(code, message, value) return { code = code, message = message, value = value } end

local function fmt(n)
  if n == nil then return "?" end
  if math.type(n) == "float" and n == math.floor(n) then n = math.tointeger(n) end
  if math.type(n) == "float" then return ("%.1f"):format(n) end
  return tostring(n)
end

-- The row `back` days before the newest, or the oldest row after that day.
local function row_before(rows, back)
  local newest = last(rows)
  for _, r in ipairs(rows) do
    if r.d >= newest.d - back then return r end
  end
end

function M.reputation_drop(rows, opts)
  opts = opts or {}
  local points, span = opts.points or 5, opts.days or 7
  local now = last(rows)
  if not now or now.reputation == nil then return {} end
  local then_ = row_before(rows, span)
  if not then_ or then_ == now or then_.reputation == nil then return {} end
  local drop = then_.reputation - now.reputation
  if drop < points then return {} end
  return { reason("reputation_drop", ("reputation fell %s points in %d days (%s%% -> %s%%)")
    :format(fmt(drop), now.d - then_.d, fmt(then_.reputation), fmt(now.reputation)), drop) }
end

-- Mean of the spam values of rows with d in [from, to], and how many had one.
local function mean_spam(rows, from, to)
  local sum, n = 0, 0
  for _, r in ipairs(rows) do
    if r.d >= from and r.d <= to and r.spam then sum, n = sum + r.spam, n + 1 end
  end
  return n > 0 and sum / n or nil, n
end

function M.spam_rising(rows, opts)
  opts = opts or {}
  local span, ratio, min = opts.days or 7, opts.ratio or 1.5, opts.min or 2
  local now = last(rows)
  if not now then return {} end
  local recent, nr = mean_spam(rows, now.d - span + 1, now.d)
  local before, nb = mean_spam(rows, now.d - 2 * span + 1, now.d - span)
  if not recent or not before or nr < span // 2 + 1 or nb < span // 2 + 1 then return {} end
  if recent >= before * ratio and recent - before >= min then
    return { reason("spam_rising", ("spam placements rising: %s a day over the last %d days, %s the %d days before")
      :format(fmt(recent), span, fmt(before), span), recent - before) }
  end
  return {}
end

function M.burnout(rows, opts)
  opts = opts or {}
  local share, span = opts.share or 0.9, opts.days or 5
  if #rows < span then return {} end
  local newest, total = last(rows), 0
  for i = #rows - span + 1, #rows do
    local r = rows[i]
    if r.d < newest.d - span + 1 or not r.limit or r.limit <= 0 or not r.sent or r.sent < share * r.limit then
      return {}
    end
    total = total + r.sent / r.limit
  end
  return { reason("burnout", ("sending at %d%% of its limit (%d a day) for %d days")
    :format(math.floor(100 * total / span + 0.5), newest.limit, span), total / span) }
end

function M.disconnected_attached(rows)
  local now = last(rows)
  if not now or now.campaign_count == 0 or now.connected then return {} end
  local what = {}
  if now.smtp_ok == false then what[#what + 1] = "SMTP" end
  if now.imap_ok == false then what[#what + 1] = "IMAP" end
  local ids = {}
  for i, c in ipairs(now.campaigns) do ids[i] = tostring(c) end
  return { reason("disconnected_attached", ("%s failing while in campaign%s %s"):format(table.concat(what, " and "),
    #ids == 1 and "" or "s", #ids > 0 and table.concat(ids, ", ") or ("(" .. now.campaign_count .. ")"))) }
end

function M.unused(rows, opts)
  opts = opts or {}
  local span = opts.days or 7
  local newest = last(rows)
  if not newest or #rows < span then return {} end
  for i = #rows - span + 1, #rows do
    local r = rows[i]
    if r.d < newest.d - span + 1 or r.campaign_count > 0 or (r.sent or 0) > 0 then return {} end
  end
  return { reason("unused", ("no campaign and no sends for %d days"):format(span), span) }
end

-- -> ready (boolean), reasons (why not; or one "warmup_ready" reason)
function M.warmup_gate(rows, opts)
  opts = opts or {}
  local span, min_rep = opts.days or 14, opts.reputation or 95
  local now = last(rows)
  if not now then return false, { reason("no_history", "no history") } end
  local why = {}
  if now.warmup_status == nil then why[#why + 1] = reason("no_warmup", "warmup never started") end
  if not now.connected then why[#why + 1] = reason("disconnected", "not connected (SMTP or IMAP failing)") end
  if now.blocked then why[#why + 1] = reason("blocked", "warmup blocked") end
  if now.suspended then why[#why + 1] = reason("suspended", "suspended") end
  local streak = 0
  for i = #rows, 1, -1 do
    local r = rows[i]
    if r.warmup_status ~= "ACTIVE" or not r.connected or (r.reputation or 0) < min_rep or r.d ~= now.d - streak then
      break
    end
    streak = streak + 1
  end
  if now.warmup_status ~= nil and streak < span then
    why[#why + 1] = reason("warmup_short", ("warmed %d of %d days at >= %s%%"):format(streak, span, fmt(min_rep)),
      streak)
  end
  if #why > 0 then return false, why end
  return true, { reason("warmup_ready", ("warmed %d days at >= %s%%, connected: ready for a campaign")
    :format(streak, fmt(min_rep)), streak) }
end

-- Sender health: 100 less what the newest days show. -> score, reasons
function M.health(rows, opts)
  opts = opts or {}
  local now = last(rows)
  if not now then return 0, { reason("no_history", "no history") } end
  local score, why = 100, {}
  local function take(points, code, message)
    if points > 0 then
      score = score - points
      why[#why + 1] = reason(code, message, points)
    end
  end
  if now.reputation then take(100 - now.reputation, "reputation", ("reputation %s%%"):format(fmt(now.reputation)))
  else take(10, "reputation", "no warmup reputation") end
  local then_ = row_before(rows, opts.drop_days or 7)
  if then_ and then_.reputation and now.reputation and then_.reputation > now.reputation then
    local drop = then_.reputation - now.reputation
    take(math.min(30, 2 * drop), "reputation_drop",
      ("reputation down %s points in %d days"):format(fmt(drop), now.d - then_.d))
  end
  if not now.connected then take(40, "disconnected", "SMTP or IMAP failing") end
  if now.blocked then take(30, "blocked", "warmup blocked") end
  if now.suspended then take(20, "suspended", "suspended") end
  if #M.spam_rising(rows, opts.spam) > 0 then take(10, "spam_rising", "spam placements rising") end
  if #M.burnout(rows, opts.burnout) > 0 then take(10, "burnout", "sending at its limit") end
  return math.max(0, math.floor(score + 0.5)), why
end

-- Ranks series by health, worst first (ties by id). -> {{id=, email=, workspace=, score=, reasons=}, ...}
function M.rank(list, opts)
  local out = {}
  for _, rows in ipairs(list) do
    local now = last(rows)
    if now then
      local score, why = M.health(rows, opts)
      out[#out + 1] = { id = now.id, email = now.email, workspace = now.workspace, score = score, reasons = why }
    end
  end
  table.sort(out, function(a, b)
    if a.score ~= b.score then return a.score < b.score end
    return a.id < b.id
  end)
  return out
end

-- The signals that are alerts (something to act on today); unused and warmup_ready are findings.
M.ALERTS = { "reputation_drop", "spam_rising", "burnout", "disconnected_attached" }

-- signals.evaluate(history, {days=, to=, reputation_drop={points=,days=}, spam_rising={...},
--                            burnout={...}, unused={...}, warmup_gate={...}, health={...}, only=})
-- -> {day=, alerts={{id=, email=, workspace=, reasons=}...}, unused={...}, ready={...} (warmup gate
--     passed and in no campaign yet), ranking={...},
--     counts={code=n}}: every signal over every account present on the newest day of the window.
-- `days` (default 30) is how much history is read; only = {code=true} limits the alerts run.
function M.evaluate(history, opts)
  opts = opts or {}
  local window = { days = opts.days or 30, to = opts.to }
  local from, to = history:window(window)
  local out = { day = to, alerts = {}, unused = {}, ready = {}, ranking = {}, counts = {} }
  local function add(list, rows, why)
    if #why == 0 then return end
    local now = last(rows)
    list[#list + 1] = { id = now.id, email = now.email, workspace = now.workspace, reasons = why }
    for _, r in ipairs(why) do out.counts[r.code] = (out.counts[r.code] or 0) + 1 end
  end
  history:each_series(function(rows)
    if last(rows).d ~= to then return end -- gone before the newest day
    local why = {}
    for _, name in ipairs(M.ALERTS) do
      if not opts.only or opts.only[name] then
        for _, r in ipairs(M[name](rows, opts[name])) do why[#why + 1] = r end
      end
    end
    add(out.alerts, rows, why)
    add(out.unused, rows, M.unused(rows, opts.unused))
    local ready, gate = M.warmup_gate(rows, opts.warmup_gate)
    if ready and last(rows).campaign_count == 0 then add(out.ready, rows, gate) end -- ready to launch
    local score, hwhy = M.health(rows, opts.health)
    out.ranking[#out.ranking + 1] = { id = last(rows).id, email = last(rows).email, workspace = last(rows).workspace,
      score = score, reasons = hwhy }
  end, { from = from, to = to })
  table.sort(out.ranking, function(a, b)
    if a.score ~= b.score then return a.score < b.score end
    return a.id < b.id
  end)
  return out
end

return M
