-- Take sick inboxes (disconnected, suspended, warmup blocked, reputation under 90%) out of their
-- ACTIVE campaigns and stop them sending (daily limit 0). A campaign always keeps one account:
-- the API refuses to empty an active one, so its healthiest sick account stays (and is set to 0).
-- usage: smartlua examples/pause_unhealthy.lua [--dry-run] [CAMPAIGN_ID...]
-- (no ids: every active campaign; try: smartlua --mock examples/pause_unhealthy.lua)
local smartlead = require "smartlead"
local policy = require "smartlead.policy"

local dry_run, only = false, nil
for _, a in ipairs(arg or {}) do
  if a == "--dry-run" then dry_run = true
  else
    local id = math.tointeger(tonumber(a))
    if not id then error("usage: pause_unhealthy.lua [--dry-run] [CAMPAIGN_ID...]", 0) end
    only = only or {}
    only[id] = true
  end
end

local client = smartlead.client()
local accounts = assert(client:all_accounts { fetch_campaigns = true })

-- Warmup blocked shows only on the single read; the list filter finds those accounts at once.
local blocked = {}
for _, a in ipairs(assert(client:all_accounts { is_warmup_blocked = true })) do blocked[a.id] = true end
for _, a in ipairs(accounts) do
  if blocked[a.id] and type(a.warmup_details) == "table" then a.warmup_details.is_warmup_blocked = true end
end

-- The campaigns' statuses from get_campaigns; membership comes with the accounts (fetch_campaigns).
local status = {}
for _, c in ipairs(assert(client:get_campaigns())) do status[c.id] = c.status end
local members = {}
for _, a in ipairs(accounts) do
  for _, cid in ipairs(a.campaign_ids or {}) do
    if not only or only[cid] then
      members[cid] = members[cid] or {}
      table.insert(members[cid], a.id)
    end
  end
end
local campaigns = {}
for cid, ids in pairs(members) do campaigns[#campaigns + 1] = { id = cid, status = status[cid], account_ids = ids } end
table.sort(campaigns, function(x, y) return x.id < y.id end)
print(("%d accounts in %d campaigns"):format(#accounts, #campaigns))

local changes, notes = policy.pause(campaigns, accounts)
if not policy.run(client, changes, { notes = notes, dry_run = dry_run }) then os.exit(1) end
