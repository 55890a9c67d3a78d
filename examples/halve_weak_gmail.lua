-- Every Gmail inbox whose warmup reputation fell below 90%: halve its daily limit and take it
-- out of a campaign. usage: smartlua halve_weak_gmail.lua CAMPAIGN_ID
-- (try: smartlua --mock examples/halve_weak_gmail.lua 4101)
local smartlead = require "smartlead"
local campaign = math.tointeger(tonumber(arg[1] or ""))
if not campaign then error("usage: halve_weak_gmail.lua CAMPAIGN_ID", 0) end
local client = smartlead.client()

local weak = {}
for a in client:accounts { esp = "GMAIL", fetch_campaigns = true } do
  local rep = smartlead.reputation(a)
  if rep and rep < 90 then
    local ok, err = client:update_email_account(a.id, { max_email_per_day = a.message_per_day // 2 })
    if ok then
      print(("%-40s %3d%%  limit %d -> %d"):format(a.from_email, rep, a.message_per_day, a.message_per_day // 2))
      for _, c in ipairs(a.campaign_ids) do
        if c == campaign then weak[#weak + 1] = a.id end
      end
    else
      print(a.from_email, err)
    end
  end
end
if #weak > 0 then
  local ok, err = client:remove_campaign_email_accounts(campaign, weak)
  print(ok and ("detached %d from campaign %d"):format(#weak, campaign) or tostring(err))
end
