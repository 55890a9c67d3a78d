-- Rotate inboxes across campaigns: take sick accounts out, and spread the healthy free ones
-- (connected, not suspended, in no other campaign) so each campaign gets about the same daily
-- capacity. An active campaign always keeps one account.
-- usage: smartlua examples/rotate_pool.lua [--dry-run] CAMPAIGN_ID...
-- (try: smartlua --mock examples/rotate_pool.lua --dry-run 4101 4106)
local smartlead = require "smartlead"
local policy = require "smartlead.policy"

local dry_run, ids = false, {}
for _, a in ipairs(arg or {}) do
  if a == "--dry-run" then dry_run = true
  else ids[#ids + 1] = math.tointeger(tonumber(a)) or error("not a campaign id: " .. a, 0) end
end
if #ids == 0 then error("usage: rotate_pool.lua [--dry-run] CAMPAIGN_ID...", 0) end

local client = smartlead.client()
local wanted = {}
for _, cid in ipairs(ids) do wanted[cid] = true end

-- The pool: every account that sits in no campaign other than the given ones.
local by_id, accounts = {}, {}
for _, a in ipairs(assert(client:all_accounts { fetch_campaigns = true })) do
  local elsewhere = false
  for _, cid in ipairs(a.campaign_ids or {}) do elsewhere = elsewhere or not wanted[cid] end
  if not elsewhere then by_id[a.id], accounts[#accounts + 1] = a, a end
end

-- The campaigns and their current accounts. The account endpoints do not give a campaign's
-- status, so it stays unknown, which the policy treats as active (never emptied).
local campaigns = {}
for _, cid in ipairs(ids) do
  local list = assert(client:get_campaign_email_accounts(cid))
  local c = { id = cid, account_ids = {} }
  for _, a in ipairs(list) do
    c.account_ids[#c.account_ids + 1] = a.id
    if not by_id[a.id] then by_id[a.id], accounts[#accounts + 1] = a, a end
  end
  campaigns[#campaigns + 1] = c
  print(("campaign %d: %d accounts"):format(cid, #c.account_ids))
end

-- The list does not say whether an account is suspended; ask for the ones about to be attached
-- and plan again until every account the plan attaches is known not to be.
local changes, notes
repeat
  changes, notes = policy.rotate(campaigns, accounts)
  local unknown = 0
  for _, c in ipairs(changes) do
    for _, id in ipairs(c.op == "attach" and c.ids or {}) do
      if by_id[id].is_suspended == nil then
        local one = assert(client:get_email_account(id))
        by_id[id].is_suspended, unknown = one.is_suspended == true, unknown + 1
      end
    end
  end
until unknown == 0

if not policy.run(client, changes, { notes = notes, dry_run = dry_run }) then os.exit(1) end
