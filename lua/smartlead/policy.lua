-- smartlead.policy: limit and rotation policies that produce changes as plain data.
--
-- A policy never calls the API: it reads accounts (as the list endpoint answers them) and
-- returns changes, so a run can show them, save them, apply them, journal them and undo them.
--
--   policy.health(account, params)            -> {healthy, status, reasons, reputation}
--   policy.ramp(accounts, params)             -> changes
--   policy.rotate(campaigns, accounts, params) -> changes, notes
--   policy.pause(campaigns, accounts, params)  -> changes, notes
--   policy.apply(client, changes, opts)        -> report {ok, failed = {{change, error}}, total}
--   policy.describe(changes)                   -> text, one line per change
--
-- A change is {op = "update", id = ACCOUNT, fields = {max_email_per_day = N},
-- before = {max_email_per_day = OLD}, reason = "..."} or {op = "attach" | "detach",
-- campaign = CID, ids = {...}, reason = "..."}. campaigns are {id =, status =, account_ids = {}}.

local json = require "smartlead.json"

local NULL = json.null
local CAMPAIGN_LIMIT = 2500 -- accounts per campaign, per the API
local BATCH = 100           -- ids per attach/detach request

local M = {}

-- Required lazily: smartlead's init.lua may load this module while it is itself loading.
local reputation = require("smartlead.account").reputation

local function present(v) return v ~= nil and v ~= NULL end

local function by_id(x, y) return x.id < y.id end

local function sorted(list, less)
  table.sort(list, less)
  return list
end

---------------------------------------------------------------------------- parameters

local function number_in(lo, hi)
  return function(v)
    if type(v) ~= "number" or v ~= v or v < lo or v > hi then
      return ("must be a number from %g to %g"):format(lo, hi)
    end
  end
end

local function integer_in(lo, hi)
  return function(v)
    if type(v) ~= "number" or not math.tointeger(v) or v < lo or v > hi then
      return ("must be an integer from %d to %d"):format(lo, hi)
    end
  end
end

-- Defaults filled in; an unknown name or a bad value raises at the policy's caller.
local function check_params(fname, params, spec)
  if params ~= nil and type(params) ~= "table" then
    error(("policy.%s: params must be a table, got %s"):format(fname, type(params)), 3)
  end
  local out = {}
  for k, v in pairs(params or {}) do
    local s = spec[k]
    if not s then error(("policy.%s: unknown parameter '%s'"):format(fname, tostring(k)), 3) end
    local problem = s.check(v)
    if problem then error(("policy.%s: parameter '%s' %s"):format(fname, k, problem), 3) end
    out[k] = math.tointeger(v) or v
  end
  for k, s in pairs(spec) do
    if out[k] == nil then out[k] = s.default end
  end
  return out
end

---------------------------------------------------------------------------- arguments

local ACCOUNT_SHAPE = "account tables ({id=, message_per_day=, ...}, as client:all_accounts() gives them)"
local CAMPAIGN_SHAPE = "campaign tables ({id=, status=, account_ids={...}})"
local CHANGE_SHAPE = "changes ({op=, id=, fields=} or {op=, campaign=, ids=}, as the policies return them)"

local function what(v)
  if type(v) == "table" or type(v) == "function" or v == nil then return type(v) end
  return ("the %s %s"):format(type(v), tostring(v))
end

-- A list argument whose items are tables with an integer id; raises at the policy's caller,
-- naming the argument and the shape it takes.
local function check_list(fname, name, list, shape, item_hint)
  if type(list) ~= "table" then
    local hint = type(list) == "function"
      and " (client:accounts() is an iterator; client:all_accounts() gives the list)" or ""
    error(("policy.%s: %s must be a list of %s, got %s%s"):format(fname, name, shape, what(list), hint), 3)
  end
  for i, item in ipairs(list) do
    local problem = type(item) ~= "table" and "" or math.type(item.id) ~= "integer" and " (its id is not an integer)"
      or item_hint and item_hint(item)
    if problem then
      error(("policy.%s: %s[%d] must be one of %s, got %s%s"):format(fname, name, i, shape, what(item), problem), 3)
    end
  end
end

local function not_an_account(c)
  if c.account_ids == nil and c.from_email ~= nil then return " (an account: campaigns come first)" end
  if c.account_ids ~= nil and type(c.account_ids) ~= "table" then return " (account_ids is not a list)" end
end

local function check_client(fname, client)
  if (type(client) ~= "table" and type(client) ~= "userdata") or client.update_email_account == nil then
    error(("policy.%s: client must be a smartlead client (smartlead.client()), got %s"):format(fname, what(client)), 3)
  end
end

local function check_changes(fname, changes)
  if type(changes) ~= "table" then
    error(("policy.%s: changes must be a list of %s, got %s"):format(fname, CHANGE_SHAPE, what(changes)), 3)
  end
end

local MIN_REPUTATION = { default = 90, check = number_in(0, 100) }

local function stats_table(v)
  if type(v) ~= "table" then return "must be a table: a mailbox's statistics, or account id -> statistics" end
end

-- Mailbox statistics (get_mailbox_statistics rows): sick above SmartLead's own disconnection
-- threshold (5% bounces), a warning above warn_bounce_rate; judged from min_sent sends on.
local STATS = { default = nil, check = stats_table }
local WARN_BOUNCE = { default = 3, check = number_in(0, 100) }
local MAX_BOUNCE = { default = 5, check = number_in(0, 100) }
local MIN_SENT = { default = 20, check = integer_in(1, 1000000) }

local HEALTH_PARAMS = { min_reputation = MIN_REPUTATION, stats = STATS, warn_bounce_rate = WARN_BOUNCE,
  max_bounce_rate = MAX_BOUNCE, min_sent = MIN_SENT }

local RAMP_PARAMS = {
  step = { default = 5, check = integer_in(1, 10000) },
  good = { default = 95, check = number_in(0, 100) },
  bad = { default = 85, check = number_in(0, 100) },
  cut = { default = 0.5, check = number_in(0, 1) },
  ceiling = { default = 100, check = integer_in(0, 100000) },
  floor = { default = 10, check = integer_in(0, 100000) },
  min_reputation = MIN_REPUTATION, stats = STATS, warn_bounce_rate = WARN_BOUNCE, max_bounce_rate = MAX_BOUNCE,
  min_sent = MIN_SENT,
}

local ROTATE_PARAMS = {
  per_account_campaigns = { default = 1, check = integer_in(1, 1000) },
  max_per_campaign = { default = CAMPAIGN_LIMIT, check = integer_in(1, CAMPAIGN_LIMIT) },
  min_reputation = MIN_REPUTATION, stats = STATS, warn_bounce_rate = WARN_BOUNCE, max_bounce_rate = MAX_BOUNCE,
  min_sent = MIN_SENT,
}

---------------------------------------------------------------------------- health

local function reason(code, text, severity) return { code = code, text = text, severity = severity or "sick" } end

local function with_detail(text, detail)
  if type(detail) == "string" and detail ~= "" then return text .. ": " .. detail end
  return text
end

-- warmup_details.is_warmup_blocked is the flag to trust (only the single read carries it; a live
-- export shows it true with status INACTIVE and no reason); a blocked_reason says so too.
-- Warmup statuses are ACTIVE, INACTIVE and PAUSED: there is no BLOCKED.
local function is_blocked(a)
  local w = a.warmup_details
  return type(w) == "table" and (w.is_warmup_blocked == true or present(w.blocked_reason))
end

local function as_count(v)
  local n = type(v) == "string" and tonumber(v) or v
  return type(n) == "number" and n or nil
end

-- This account's mailbox statistics among p.stats: the row itself, or an id -> row table (or a
-- list of rows as get_mailbox_statistics answers them).
local function stats_of(a, p)
  local st = p.stats
  if type(st) ~= "table" then return nil end
  if st.sent_count ~= nil then return st end
  if st[a.id] ~= nil then return st[a.id] end
  for _, r in ipairs(st) do
    if type(r) == "table" and r.email_account_id == a.id then return r end
  end
end

-- Each check returns a reason or nil; their order is the order reasons are listed in.
local CHECKS = {
  function(a)
    if a.is_smtp_success == false then
      return reason("smtp_disconnected", with_detail("SMTP disconnected", a.smtp_failure_error))
    end
  end,
  function(a)
    if a.is_imap_success == false then
      return reason("imap_disconnected", with_detail("IMAP disconnected", a.imap_failure_error))
    end
  end,
  function(a)
    if a.is_suspended == true then return reason("suspended", "suspended") end
  end,
  function(a)
    if is_blocked(a) then
      local why = a.warmup_details.blocked_reason
      return reason("warmup_blocked", with_detail("warmup blocked", present(why) and why or nil))
    end
  end,
  function(_, p, rep)
    if rep and rep < p.min_reputation then
      return reason("low_reputation", ("reputation %g%% < %g%%"):format(rep, p.min_reputation))
    end
  end,
  function(a, p)
    local r = stats_of(a, p)
    local sent, bounced = r and as_count(r.sent_count), r and as_count(r.bounce_count)
    if not (sent and bounced) or sent < p.min_sent then return nil end
    local rate = 100 * bounced / sent
    local text = ("bounces %.1f%% of %d sent"):format(rate, sent)
    if rate > p.max_bounce_rate then
      return reason("high_bounce_rate", ("%s > %g%% (SmartLead disconnects above 5%%)"):format(text, p.max_bounce_rate))
    elseif rate > p.warn_bounce_rate then
      return reason("rising_bounce_rate", ("%s > %g%%"):format(text, p.warn_bounce_rate), "warning")
    end
  end,
  function(a)
    local sent, limit = a.daily_sent_count, a.message_per_day
    if type(sent) == "number" and type(limit) == "number" and sent > limit then
      return reason("over_daily_limit", ("sent %d today, over its limit of %d"):format(sent, limit), "warning")
    end
  end,
}

local function classify(a, p)
  local rep, reasons, status = reputation(a), {}, "healthy"
  for _, check in ipairs(CHECKS) do
    local r = check(a, p, rep)
    if r then
      reasons[#reasons + 1] = r
      if r.severity == "sick" then status = "sick" elseif status == "healthy" then status = "warning" end
    end
  end
  return { healthy = status == "healthy", status = status, reasons = reasons, reputation = rep }
end

-- policy.health(account, {min_reputation = 90, stats =, max_bounce_rate = 5, warn_bounce_rate = 3,
--   min_sent = 20}) -> {healthy, status, reasons, reputation}
-- status: "healthy"; "warning" (over today's limit, or bounces above warn_bounce_rate: keep it,
-- but do not add or raise it); "sick" (disconnected, suspended, warmup blocked (is_warmup_blocked,
-- even with no reason), reputation under min_reputation, or bounces above max_bounce_rate).
-- stats: the account's get_mailbox_statistics row, or those rows (a list, or by account id);
-- bounce rates are judged from min_sent sends on.
-- An account whose warmup never started has no reputation, which is not a problem by itself.
function M.health(account, params)
  if type(account) ~= "table" then
    error(("policy.health: account must be an account table ({id=, message_per_day=, ...}), got %s"):format(
      what(account)), 2)
  end
  return classify(account, check_params("health", params, HEALTH_PARAMS))
end

local function connected(a) return a.is_smtp_success == true and a.is_imap_success == true end

local function disconnected(a) return a.is_smtp_success == false or a.is_imap_success == false end

-- The API refuses to attach disconnected or suspended accounts.
local function attachable(a, h) return h.healthy and connected(a) and a.is_suspended ~= true end

---------------------------------------------------------------------------- ramp

local function cut_limit(cur, p) return math.min(cur, math.max(p.floor, math.floor(cur * p.cut))) end

local function raise_limit(cur, p) return math.max(cur, math.min(p.ceiling, cur + p.step)) end

-- The new limit for one account and why, or nil when the policy leaves it alone.
local function ramp_one(a, h, p)
  local cur = math.tointeger(a.message_per_day)
  if not cur then return nil end
  if disconnected(a) then
    local which = a.is_smtp_success == false and "SMTP" or "IMAP"
    return 0, which .. " disconnected: zero sending"
  end
  local rep = h.reputation
  if rep and rep < p.bad then
    return cut_limit(cur, p), ("reputation %g%% < %g%%"):format(rep, p.bad)
  end
  if h.healthy and rep and rep >= p.good then
    return raise_limit(cur, p), ("reputation %g%% >= %g%%"):format(rep, p.good)
  end
end

local function limit_change(a, new, why)
  return { op = "update", id = a.id, fields = { max_email_per_day = new },
           before = { max_email_per_day = a.message_per_day }, reason = why }
end

-- policy.ramp(accounts, params) -> changes, sorted by account id
-- params: step (5), good (95), ceiling (100): raise healthy accounts at or above `good` by
-- `step`, never past `ceiling`; bad (85), cut (0.5), floor (10): multiply the limit of accounts
-- under `bad` by `cut` (rounded down), never under `floor`; disconnected accounts go to 0.
-- min_reputation (90) is passed to health. A raise never lowers and a cut never raises.
function M.ramp(accounts, params)
  check_list("ramp", "accounts", accounts, ACCOUNT_SHAPE)
  local p = check_params("ramp", params, RAMP_PARAMS)
  if p.floor > p.ceiling then error("policy.ramp: floor is above ceiling", 2) end
  if p.bad > p.good then error("policy.ramp: bad is above good", 2) end
  local changes = {}
  for _, a in ipairs(accounts) do
    local new, why = ramp_one(a, classify(a, p), p)
    if new and new ~= a.message_per_day then changes[#changes + 1] = limit_change(a, new, why) end
  end
  return sorted(changes, by_id)
end

---------------------------------------------------------------------------- campaigns

local function index(accounts, p)
  local accs, health = {}, {}
  for _, a in ipairs(accounts) do
    accs[a.id], health[a.id] = a, classify(a, p)
  end
  return accs, health
end

-- An unknown status counts as active: the safe side, since an active campaign is never emptied.
local function is_active(c) return c.status == nil or c.status == "ACTIVE" end

-- Campaigns no account is attached to: stopped, archived, drafts, and (older answers) completed
-- ones send nothing, so an account there would be wasted. ACTIVE and PAUSED ones take accounts.
local CLOSED = { STOPPED = true, ARCHIVED = true, DRAFTED = true, COMPLETED = true }
M.CLOSED_STATUSES = CLOSED

-- Working copies of the campaigns, sorted by id, with their healthy capacity.
local function load_campaigns(campaigns, accs, health)
  local list, seen = {}, {}
  for _, c in ipairs(campaigns) do
    if seen[c.id] then error(("policy: campaign %s given twice"):format(tostring(c.id)), 3) end
    seen[c.id] = true
    local w = { id = c.id, status = c.status, members = {}, count = 0, capacity = 0, attach = {}, detach = {} }
    for _, id in ipairs(c.account_ids or {}) do
      if not w.members[id] then
        w.members[id], w.count = true, w.count + 1
        if health[id] and health[id].healthy then w.capacity = w.capacity + (accs[id].message_per_day or 0) end
      end
    end
    w.before = w.capacity
    list[#list + 1] = w
  end
  return sorted(list, by_id)
end

-- Lower sorts first: fewer reasons, then higher reputation, then lower id.
local function healthier(health)
  return function(x, y)
    local hx, hy = health[x], health[y]
    if #hx.reasons ~= #hy.reasons then return #hx.reasons < #hy.reasons end
    local rx, ry = hx.reputation or -1, hy.reputation or -1
    if rx ~= ry then return rx > ry end
    return x < y
  end
end

-- Sick members go; an active campaign keeps its healthiest sick one if nothing else would stay.
local function plan_detach(w, health)
  for id in pairs(w.members) do
    if health[id] and health[id].status == "sick" then w.detach[#w.detach + 1] = id end
  end
  table.sort(w.detach, healthier(health))
  if is_active(w) and #w.detach > 0 and w.count - #w.detach + #w.attach == 0 then
    w.kept = table.remove(w.detach, 1)
  end
  table.sort(w.detach)
end

local function membership(list)
  local n = {}
  for _, w in ipairs(list) do
    for id in pairs(w.members) do n[id] = (n[id] or 0) + 1 end
  end
  return n
end

-- The campaign with the lowest capacity that can still take this account, or nil.
local function lowest(targets, id, p)
  local best
  for _, w in ipairs(targets) do
    if not w.members[id] and w.count + #w.attach < p.max_per_campaign
      and (not best or w.capacity < best.capacity) then
      best = w
    end
  end
  return best
end

-- Largest capacity first, so the greedy fill ends up even (longest-processing-time order).
local function pool_order(accs)
  return function(x, y)
    local cx, cy = accs[x].message_per_day or 0, accs[y].message_per_day or 0
    if cx ~= cy then return cx > cy end
    return x < y
  end
end

local function plan_attach(list, accs, health, p)
  local targets, count, pool = {}, membership(list), {}
  for _, w in ipairs(list) do
    if not CLOSED[w.status] then targets[#targets + 1] = w end
  end
  for id, a in pairs(accs) do
    -- an account with a limit of 0 would add nothing but a campaign slot
    if attachable(a, health[id]) and (a.message_per_day or 0) > 0 and (count[id] or 0) < p.per_account_campaigns then
      pool[#pool + 1] = id
    end
  end
  table.sort(pool, pool_order(accs))
  for _, id in ipairs(pool) do
    for _ = (count[id] or 0) + 1, p.per_account_campaigns do
      local w = lowest(targets, id, p)
      if not w then break end
      w.attach[#w.attach + 1], w.members[id] = id, true
      w.capacity = w.capacity + (accs[id].message_per_day or 0)
    end
  end
end

local function count_codes(ids, health)
  local n, codes = {}, {}
  for _, id in ipairs(ids) do
    local code = health[id].reasons[1].code
    if not n[code] then codes[#codes + 1] = code end
    n[code] = (n[code] or 0) + 1
  end
  table.sort(codes)
  for i, code in ipairs(codes) do codes[i] = ("%s %d"):format(code, n[code]) end
  return table.concat(codes, ", ")
end

local function kept_text(w) return ("kept %d: last account of active campaign %d"):format(w.kept, w.id) end

local function detach_change(w, health)
  local why = {}
  for _, id in ipairs(w.detach) do
    local texts = {}
    for i, r in ipairs(health[id].reasons) do texts[i] = r.text end
    why[id] = table.concat(texts, "; ")
  end
  local text = ("sick (%s)"):format(count_codes(w.detach, health))
  if w.kept then text = text .. "; " .. kept_text(w) end
  return { op = "detach", campaign = w.id, ids = w.detach, reason = text, why = why }
end

local function attach_change(w)
  table.sort(w.attach)
  return { op = "attach", campaign = w.id, ids = w.attach,
           reason = ("balance daily capacity: %d -> %d per day"):format(w.before, w.capacity) }
end

-- Attach before detach in each campaign, so a campaign is never empty between the two.
local function campaign_changes(list, health)
  local changes, notes = {}, {}
  for _, w in ipairs(list) do
    if #w.attach > 0 then changes[#changes + 1] = attach_change(w) end
    if #w.detach > 0 then changes[#changes + 1] = detach_change(w, health)
    elseif w.kept then notes[#notes + 1] = kept_text(w) .. " (no detach)" end
  end
  return changes, notes
end

-- policy.rotate(campaigns, accounts, params) -> changes, notes
-- Attaches every healthy, connected, unsuspended account of `accounts` with a limit above 0
-- that sits in fewer than per_account_campaigns (1) of these campaigns to the campaign with the
-- lowest daily capacity (sum of message_per_day of its healthy accounts), up to
-- max_per_campaign (2500) accounts;
-- STOPPED, ARCHIVED, DRAFTED (and COMPLETED) campaigns get none. Detaches sick accounts, but an
-- ACTIVE campaign (or one of unknown status) always keeps one account. notes lists what was held
-- back and why. campaigns: {id=, status=, account_ids=} (policy.campaigns makes them from the API).
function M.rotate(campaigns, accounts, params)
  check_list("rotate", "campaigns", campaigns, CAMPAIGN_SHAPE, not_an_account)
  check_list("rotate", "accounts", accounts, ACCOUNT_SHAPE)
  local p = check_params("rotate", params, ROTATE_PARAMS)
  local accs, health = index(accounts, p)
  local list = load_campaigns(campaigns, accs, health)
  plan_attach(list, accs, health, p)
  for _, w in ipairs(list) do plan_detach(w, health) end
  return campaign_changes(list, health)
end

-- policy.pause(campaigns, accounts, params) -> changes, notes
-- Detaches sick accounts from every ACTIVE campaign (keeping the last one, as rotate does) and
-- sets the limit of every sick account found in those campaigns to 0. params: min_reputation.
function M.pause(campaigns, accounts, params)
  check_list("pause", "campaigns", campaigns, CAMPAIGN_SHAPE, not_an_account)
  check_list("pause", "accounts", accounts, ACCOUNT_SHAPE)
  local p = check_params("pause", params, HEALTH_PARAMS)
  local accs, health = index(accounts, p)
  local active = {}
  for _, c in ipairs(campaigns) do
    if is_active(c) then active[#active + 1] = c end
  end
  local list = load_campaigns(active, accs, health)
  local zero = {}
  for _, w in ipairs(list) do
    plan_detach(w, health)
    for _, id in ipairs(w.detach) do zero[id] = true end
    if w.kept then zero[w.kept] = true end
  end
  local changes, notes = campaign_changes(list, health)
  local updates = {}
  for id in pairs(zero) do
    local a = accs[id]
    if a.message_per_day ~= 0 then
      updates[#updates + 1] = limit_change(a, 0, ("%s: zero sending"):format(health[id].reasons[1].text))
    end
  end
  for _, c in ipairs(sorted(updates, by_id)) do changes[#changes + 1] = c end
  return changes, notes
end

---------------------------------------------------------------------------- describe

local function show(v)
  if v == nil then return "?" end
  return tostring(v)
end

local function describe_update(c)
  local names, parts = {}, {}
  for k in pairs(c.fields) do names[#names + 1] = k end
  table.sort(names)
  for i, k in ipairs(names) do
    parts[i] = ("%s %s -> %s"):format(k, show(c.before and c.before[k]), show(c.fields[k]))
  end
  return ("update %d %s"):format(c.id, table.concat(parts, ", "))
end

local function describe_ids(c)
  local ids = {}
  for i, id in ipairs(c.ids) do ids[i] = tostring(id) end
  local dir = c.op == "attach" and "to" or "from"
  return ("%s %d account%s %s campaign %d: %s"):format(c.op, #ids, #ids == 1 and "" or "s", dir,
    c.campaign, table.concat(ids, " "))
end

-- policy.describe(changes) -> text, one line per change
function M.describe(changes)
  check_changes("describe", changes)
  local lines = {}
  for i, c in ipairs(changes) do
    local line = c.op == "update" and describe_update(c) or describe_ids(c)
    if c.reason then line = line .. " (" .. c.reason .. ")" end
    lines[i] = line
  end
  return table.concat(lines, "\n") .. (#lines > 0 and "\n" or "")
end

---------------------------------------------------------------------------- apply

local function check_change(c, i)
  if type(c) ~= "table" then error(("policy.apply: change %d is not a table"):format(i), 3) end
  if c.op == "update" then
    if math.type(c.id) ~= "integer" or type(c.fields) ~= "table" then
      error(("policy.apply: change %d (update) needs an integer id and fields"):format(i), 3)
    end
  elseif c.op == "attach" or c.op == "detach" then
    if math.type(c.campaign) ~= "integer" or type(c.ids) ~= "table" or #c.ids == 0 then
      error(("policy.apply: change %d (%s) needs an integer campaign and ids"):format(i, c.op), 3)
    end
  else
    error(("policy.apply: change %d has unknown op '%s'"):format(i, tostring(c.op)), 3)
  end
end

local function copy(c)
  local t = {}
  for k, v in pairs(c) do t[k] = v end
  return t
end

-- Consecutive attach (or detach) changes of one campaign become one id list, sent in
-- requests of at most BATCH ids; each request is one step of the report.
local function steps(changes)
  local out, run = {}, nil
  local function flush()
    if not run then return end
    for i = 1, #run.ids, BATCH do
      local step = copy(run)
      step.ids = table.move(run.ids, i, math.min(i + BATCH - 1, #run.ids), 1, {})
      out[#out + 1] = step
    end
    run = nil
  end
  for _, c in ipairs(changes) do
    if c.op ~= "update" and run and run.op == c.op and run.campaign == c.campaign then
      for _, id in ipairs(c.ids) do
        if not run.seen[id] then run.ids[#run.ids + 1], run.seen[id] = id, true end
      end
    else
      flush()
      if c.op == "update" then out[#out + 1] = c
      else
        run = copy(c)
        run.ids, run.seen = {}, {}
        for _, id in ipairs(c.ids) do
          if not run.seen[id] then run.ids[#run.ids + 1], run.seen[id] = id, true end
        end
      end
    end
  end
  flush()
  for _, s in ipairs(out) do s.seen = nil end
  return out
end

local ACTIONS = {
  update = function(client, c) return client:update_email_account(c.id, c.fields) end,
  attach = function(client, c) return client:add_campaign_email_accounts(c.campaign, c.ids) end,
  detach = function(client, c) return client:remove_campaign_email_accounts(c.campaign, c.ids) end,
}

-- One step; a raise counts as a failure, as it does under client:each.
local function perform(client, c)
  local ok, res, err = pcall(ACTIONS[c.op], client, c)
  if not ok then return nil, res end
  if res == nil then return nil, err or "no answer" end
  return res
end

local function record(report, c, on_step, res, err)
  if res ~= nil then report.ok = report.ok + 1
  else report.failed[#report.failed + 1] = { change = c, error = err } end
  if on_step then on_step(c, res, err) end
end

-- Updates run through client:each when the client has it (concurrent, per-item results).
local function run_updates(client, batch, opts, report)
  if #batch == 0 then return end
  if not client.each then
    for _, c in ipairs(batch) do record(report, c, opts.on_step, perform(client, c)) end
    return
  end
  local failed = {}
  local r = client:each(batch, function(c)
    local res, err = perform(client, c)
    if res == nil then failed[c] = err == nil and "failed" or err end
    if opts.on_step then opts.on_step(c, res, err) end
    if res == nil then return nil, err end
    return res
  end, { concurrency = opts.concurrency or 4 })
  report.ok = report.ok + (r.ok or 0)
  for _, f in ipairs(r.failed or {}) do
    report.failed[#report.failed + 1] = { change = f.item, error = f.error or failed[f.item] }
  end
end

-- policy.apply(client, changes, {concurrency = 4, on_step = fn(change, result, err)})
--   -> report {ok = n, failed = {{change =, error =}}, total = n}
-- Runs the changes in order: runs of updates together (two updates of one account never in the
-- same run), attach and detach one request of at most 100 ids at a time. total counts steps,
-- so an attach of 250 ids counts 3. A step that fails does not stop the others.
function M.apply(client, changes, opts)
  check_client("apply", client)
  check_changes("apply", changes)
  opts = opts or {}
  for i, c in ipairs(changes) do check_change(c, i) end
  local list = steps(changes)
  local report, batch, in_batch = { ok = 0, failed = {}, total = #list }, {}, {}
  local function flush()
    run_updates(client, batch, opts, report)
    batch, in_batch = {}, {}
  end
  for _, c in ipairs(list) do
    if c.op == "update" then
      if in_batch[c.id] then flush() end
      batch[#batch + 1], in_batch[c.id] = c, true
    else
      flush()
      record(report, c, opts.on_step, perform(client, c))
    end
  end
  flush()
  return report
end

M.steps = steps

-- policy.run(client, changes, {notes=, dry_run=, concurrency=}) -> true when every change applied
-- What the examples do with a decision: print it, stop there on a dry run, else apply it and
-- name every change that failed.
function M.run(client, changes, opts)
  check_client("run", client)
  check_changes("run", changes)
  opts = opts or {}
  io.write(M.describe(changes))
  for _, n in ipairs(opts.notes or {}) do print("note: " .. n) end
  if opts.dry_run or #changes == 0 then
    print(("%d change%s planned; nothing sent%s"):format(#changes, #changes == 1 and "" or "s",
      opts.dry_run and " (--dry-run)" or ""))
    return true
  end
  local report = M.apply(client, changes, { concurrency = opts.concurrency })
  for _, f in ipairs(report.failed) do
    io.write("FAILED ", (M.describe({ f.change }):gsub("\n$", "")), ": ", tostring(f.error), "\n")
  end
  -- under --plan (or planned first on a terminal) the writes were recorded, not sent
  local session = type(client.session) == "function" and client:session()
  if session and session.mode == "plan" then
    print(("%d of %d steps recorded in the plan; nothing sent yet"):format(report.ok, report.total))
  else
    print(("applied %d of %d steps"):format(report.ok, report.total))
  end
  return #report.failed == 0
end

return M
