-- Fleet health report: every email account, its provider, limits, reputation, connection state
-- and campaigns, worst first. Run: smartlua examples/fleet_report.lua [--all]
-- (or `smartlua --mock examples/fleet_report.lua` to try it on the bundled mock fleet).
local smartlead = require "smartlead"
local output = require "smartlead.output"

local show_all = arg and arg[1] == "--all"
local client = smartlead.client()

-- is_warmup_blocked comes only on the single read: the list filter names the blocked accounts
-- in one pass instead of one read per account.
local blocked = {}
for a in client:accounts { is_warmup_blocked = true } do blocked[a.id] = true end

local function problems(a)
  local p = {}
  if a.is_smtp_success == false then p[#p + 1] = "SMTP failed" end
  if a.is_imap_success == false then p[#p + 1] = "IMAP failed" end
  if blocked[a.id] then p[#p + 1] = "warmup blocked" end
  local rep = smartlead.reputation(a)
  if rep and rep < 90 then p[#p + 1] = ("reputation %g%%"):format(rep) end
  if (a.daily_sent_count or 0) > (a.message_per_day or 0) then p[#p + 1] = "over daily limit" end
  return p
end

local rows, totals = {}, { accounts = 0, unhealthy = 0, capacity = 0, sent = 0 }
for a in client:accounts { fetch_campaigns = true } do
  local p = problems(a)
  totals.accounts = totals.accounts + 1
  totals.capacity = totals.capacity + (a.message_per_day or 0)
  totals.sent = totals.sent + (a.daily_sent_count or 0)
  if #p > 0 then totals.unhealthy = totals.unhealthy + 1 end
  rows[#rows + 1] = {
    account = a, problems = p, rep = smartlead.reputation(a),
    campaigns = type(a.campaign_ids) == "table" and #a.campaign_ids or a.campaign_count or 0,
  }
end

-- worst first: most problems, then lowest reputation
table.sort(rows, function(x, y)
  if #x.problems ~= #y.problems then return #x.problems > #y.problems end
  if (x.rep or 101) ~= (y.rep or 101) then return (x.rep or 101) < (y.rep or 101) end
  return x.account.id < y.account.id
end)

local shown = {}
for _, r in ipairs(rows) do
  if show_all or #r.problems > 0 then shown[#shown + 1] = r end
end

local function ok(v) return v == false and "FAIL" or v == true and "ok" or "?" end

io.write(output.table(shown, {
  { title = "ID", align = "right", format = function(r) return r.account.id end },
  { title = "ADDRESS", format = function(r) return r.account.from_email end },
  { title = "ESP", format = function(r) return r.account.type end },
  { title = "LIMIT", align = "right", format = function(r) return r.account.message_per_day end },
  { title = "SENT", align = "right", format = function(r) return r.account.daily_sent_count end },
  { title = "REP", align = "right", format = function(r) return r.rep and (r.rep .. "%") or "-" end },
  { title = "SMTP", format = function(r) return ok(r.account.is_smtp_success) end },
  { title = "IMAP", format = function(r) return ok(r.account.is_imap_success) end },
  { title = "CAMP", align = "right", format = function(r) return r.campaigns end },
  { title = "PROBLEMS", format = function(r) return table.concat(r.problems, ", ") end },
}, { max_width = 48 }))

print(("\n%d accounts, %d need attention%s; daily capacity %d, sent today %d"):format(
  totals.accounts, totals.unhealthy, show_all and "" or " (shown above; --all lists every account)",
  totals.capacity, totals.sent))
