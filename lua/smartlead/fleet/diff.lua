-- smartlead.fleet.diff(db, {since="1d"} | {from=, to=}, {workspace=, reputation=5})
--   -> rows, {from=, to=} | nil, err
--
-- What changed in the fleet between two snapshots: one row per change, in account order, flat so
-- that smartlead.formats prints it as a table, JSON, NDJSON or CSV:
--   {change=, id=, email=, workspace=, before=, after=, detail=}
-- change: "new", "deleted", "disconnected", "reconnected", "reputation" (moved by at least
-- `reputation` points), "limit" (message_per_day), "campaigns" (joined or left campaigns).
-- since="1d" compares the newest snapshot with the newest one at least a day older; from/to name
-- the two days (YYYY-MM-DD; the newest snapshot on or before each).
local history_mod = require "smartlead.fleet.history"
local days = require "smartlead.fleet.days"

local M = {}

M.COLUMNS = { "change", "id", "email", "before", "after", "detail", "workspace" }

local function fail(message) return nil, setmetatable({ kind = "usage", message = message },
  { __tostring = function(e) return e.message end }) end

-- The newest complete day on or before d.
local function at_or_before(list, d)
  local best
  for _, x in ipairs(list) do
    if x <= d then best = x end
  end
  return best
end

local function by_id(rows)
  local map = {}
  for _, r in ipairs(rows) do map[(r.workspace or "") .. "\0" .. r.id] = r end
  return map
end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local function minus(a, b)
  local out = {}
  for _, v in ipairs(a) do
    if not b[v] then out[#out + 1] = v end
  end
  return out
end

local function link_state(r)
  if r.connected then return "connected" end
  local what = {}
  if r.smtp_ok == false then what[#what + 1] = "SMTP" end
  if r.imap_ok == false then what[#what + 1] = "IMAP" end
  return table.concat(what, "+") .. " failing"
end

-- The changes of one account present on both days.
local function compare(a, b, threshold, out)
  local function add(change, before, after, detail)
    out[#out + 1] = { change = change, id = b.id, email = b.email, workspace = b.workspace,
      before = before, after = after, detail = detail }
  end
  if a.connected and not b.connected then add("disconnected", "connected", link_state(b),
    #b.campaigns > 0 and ("in campaigns " .. table.concat(b.campaigns, ",")) or "in no campaign") end
  if not a.connected and b.connected then add("reconnected", link_state(a), "connected", nil) end
  if a.reputation and b.reputation and math.abs(b.reputation - a.reputation) >= threshold then
    add("reputation", a.reputation, b.reputation, ("%+g points"):format(b.reputation - a.reputation))
  elseif (a.reputation == nil) ~= (b.reputation == nil) then
    add("reputation", a.reputation, b.reputation, a.reputation == nil and "warmup started" or "no reputation now")
  end
  if a.limit ~= b.limit then add("limit", a.limit, b.limit, ("%+d a day"):format((b.limit or 0) - (a.limit or 0))) end
  local joined, left = minus(b.campaigns, set_of(a.campaigns)), minus(a.campaigns, set_of(b.campaigns))
  if #joined + #left > 0 then
    local parts = {}
    if #joined > 0 then parts[#parts + 1] = "joined " .. table.concat(joined, ",") end
    if #left > 0 then parts[#parts + 1] = "left " .. table.concat(left, ",") end
    add("campaigns", table.concat(a.campaigns, ","), table.concat(b.campaigns, ","), table.concat(parts, "; "))
  end
end

-- The two days to compare, from the options. -> from, to | nil, err
local function pick_days(h, opts)
  local list = h:days()
  if #list < 1 then return nil, "no complete snapshot yet" end
  local to
  if opts.to then
    local d, err = days.parse(opts.to)
    if not d then return nil, err end
    to = at_or_before(list, d)
  else
    to = list[#list]
  end
  if not to then return nil, "no snapshot on or before " .. tostring(opts.to) end
  local from
  if opts.from then
    local d, err = days.parse(opts.from)
    if not d then return nil, err end
    from = at_or_before(list, d)
  else
    local span, err = days.span(opts.since or "1d")
    if not span then return nil, err end
    from = at_or_before(list, to - span)
  end
  if not from then return nil, ("no snapshot old enough to compare with %s"):format(days.iso(to)) end
  if from >= to then
    return nil, ("nothing to compare: from %s is not before to %s"):format(days.iso(from), days.iso(to))
  end
  return from, to
end

function M.diff(db, opts, more)
  opts = opts or {}
  more = more or {}
  local h, err = history_mod.open(db, { workspace = more.workspace or opts.workspace })
  if not h then return nil, err end
  local from, to = pick_days(h, opts)
  if not from then
    h:close()
    return fail("diff: " .. to)
  end
  local threshold = more.reputation or opts.reputation or 5
  local before, after = by_id(h:day(from)), h:day(to)
  local out, seen = {}, {}
  for _, b in ipairs(after) do
    local key = (b.workspace or "") .. "\0" .. b.id
    seen[key] = true
    local a = before[key]
    if not a then
      out[#out + 1] = { change = "new", id = b.id, email = b.email, workspace = b.workspace, after = b.email,
        detail = ("%s, limit %s"):format(b.type or "?", tostring(b.limit)) }
    else
      compare(a, b, threshold, out)
    end
  end
  for key, a in pairs(before) do
    if not seen[key] then
      out[#out + 1] = { change = "deleted", id = a.id, email = a.email, workspace = a.workspace, before = a.email,
        detail = #a.campaigns > 0 and ("was in campaigns " .. table.concat(a.campaigns, ",")) or nil }
    end
  end
  table.sort(out, function(x, y)
    if x.id ~= y.id then return x.id < y.id end
    return x.change < y.change
  end)
  h:close()
  return out, { from = days.iso(from), to = days.iso(to) }
end

return setmetatable(M, { __call = function(_, ...) return M.diff(...) end })
