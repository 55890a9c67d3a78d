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
if not policy.run(client, changes, { dry_run = dry_run, concurrency = 4 }) then os.exit(1) end
