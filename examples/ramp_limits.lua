-- Ramp daily sending limits by health and warmup reputation, over every email account:
-- healthy inboxes at 95% or more get +5 a day (up to 100), inboxes under 85% are halved (not
-- under 10), disconnected ones (SMTP or IMAP) stop sending (0). Prints the plan, applies it,
-- prints the result. usage: smartlua examples/ramp_limits.lua [--dry-run]
-- (try: smartlua --mock examples/ramp_limits.lua --dry-run)
local smartlead = require "smartlead"
local policy = require "smartlead.policy"

local PARAMS = { step = 5, good = 95, ceiling = 100, bad = 85, cut = 0.5, floor = 10 }
local dry_run = arg and arg[1] == "--dry-run"
local client = smartlead.client()

local accounts = assert(client:all_accounts())
local count = { healthy = 0, warning = 0, sick = 0 }
for _, a in ipairs(accounts) do
  local h = policy.health(a)
  count[h.status] = count[h.status] + 1
end
print(("%d accounts: %d healthy, %d warning, %d sick"):format(#accounts, count.healthy, count.warning, count.sick))

local changes = policy.ramp(accounts, PARAMS)
io.write(policy.describe(changes))
if dry_run or #changes == 0 then
  print(("%d changes planned, none applied%s"):format(#changes, dry_run and " (--dry-run)" or ""))
  return
end

local report = policy.apply(client, changes, { concurrency = 4 })
for _, f in ipairs(report.failed) do
  io.write("FAILED ", policy.describe({ f.change }):gsub("\n$", ""), ": ", tostring(f.error), "\n")
end
print(("applied %d of %d changes"):format(report.ok, report.total))
if #report.failed > 0 then os.exit(1) end
