-- Rotate inboxes across campaigns: take sick accounts out, and spread the healthy free ones
-- (connected, not suspended, warmup not blocked, in no other campaign) so each campaign gets
-- about the same daily capacity. An active campaign always keeps one account; stopped, archived
-- and draft campaigns get none.
-- usage: smartlua examples/rotate_pool.lua [--dry-run] [CAMPAIGN_ID...]
-- (no ids: every ACTIVE and PAUSED campaign; try: smartlua --mock examples/rotate_pool.lua --dry-run)
local smartlead = require "smartlead"
local policy = require "smartlead.policy"

local dry_run, ids = false, {}
for _, a in ipairs(arg or {}) do
  if a == "--dry-run" then dry_run = true
  else ids[#ids + 1] = math.tointeger(tonumber(a)) or error("not a campaign id: " .. a, 0) end
end
local client = smartlead.client()
-- The campaigns with their status (rotate never feeds a stopped one nor empties an active one)
-- and their accounts: every ACTIVE and PAUSED one, or those named.
local named = {}
for _, cid in ipairs(ids) do named[cid] = true end
local campaigns = assert(client:campaigns_with_accounts(nil,
  { statuses = #ids == 0 and { ACTIVE = true, PAUSED = true } or nil }))
if #ids > 0 then
  local kept = {}
  for _, c in ipairs(campaigns) do
    if named[c.id] then kept[#kept + 1], named[c.id] = c, nil end
  end
  local missing = next(named)
  if missing then error(("no campaign %d (smartlua campaigns list shows them)"):format(missing), 0) end
  campaigns = kept
end
if #campaigns == 0 then error("usage: rotate_pool.lua [--dry-run] [CAMPAIGN_ID...]: no campaign to rotate", 0) end
local wanted = {}
for _, c in ipairs(campaigns) do wanted[c.id] = true end

-- The pool: every account that sits in no campaign other than the given ones.
local by_id, accounts = {}, {}
for _, a in ipairs(assert(client:all_accounts { fetch_campaigns = true })) do
  local elsewhere = false
  for _, cid in ipairs(a.campaign_ids or {}) do elsewhere = elsewhere or not wanted[cid] end
  if not elsewhere then by_id[a.id], accounts[#accounts + 1] = a, a end
end

-- Warmup blocked shows only on the single read; the list filter names those accounts at once.
for _, a in ipairs(assert(client:all_accounts { is_warmup_blocked = true })) do
  local w = by_id[a.id] and by_id[a.id].warmup_details
  if type(w) == "table" then w.is_warmup_blocked = true end
end

-- Members of the campaigns that are in other campaigns too: their accounts, for the health check.
for _, c in ipairs(campaigns) do
  for _, id in ipairs(c.account_ids) do
    if not by_id[id] then
      local a = assert(client:get_email_account(id))
      by_id[id], accounts[#accounts + 1] = a, a
    end
  end
  print(("campaign %d (%s): %d accounts"):format(c.id, c.status, #c.account_ids))
end

-- The list says neither whether an account is suspended nor whether its warmup is blocked; the
-- single read does: ask for the ones about to be attached and plan again until every account
-- the plan attaches is known.
local changes, notes
repeat
  changes, notes = policy.rotate(campaigns, accounts)
  local unknown = 0
  for _, c in ipairs(changes) do
    for _, id in ipairs(c.op == "attach" and c.ids or {}) do
      if by_id[id].is_suspended == nil then
        local one = assert(client:get_email_account(id))
        by_id[id].is_suspended, unknown = one.is_suspended == true, unknown + 1
        if type(one.warmup_details) == "table" and type(by_id[id].warmup_details) == "table" then
          by_id[id].warmup_details.is_warmup_blocked = one.warmup_details.is_warmup_blocked
        end
      end
    end
  end
until unknown == 0

if not policy.run(client, changes, { notes = notes, dry_run = dry_run }) then os.exit(1) end
