-- smartlead.mock.campaigns: handlers for a campaign's accounts (list, attach, detach).
local json = require "smartlead.json"
local util = require "smartlead.mock.util"
local answers = require "smartlead.mock.answers"
local schemas = require "smartlead.mock.schemas"

local reply = answers.reply

local M = { methods = {} }
local S = M.methods -- methods of the mock server

local CAMPAIGN_LIMIT = 2500

function S:campaign_accounts(ctx)
  if not self:own_campaign(ctx.user_id, ctx.id) then return answers.campaign_not_found() end
  local out = json.array({})
  for _, aid in ipairs(util.sorted_keys(self.links[ctx.id])) do
    out[#out + 1] = self:present_account(self.accounts[aid])
  end
  return reply(200, out)
end

function S:first_foreign(user_id, ids)
  for _, id in ipairs(ids) do
    if not self:own_account(user_id, id) then return id end
  end
end

-- The seed docs say attach validates connection status; the error text is a guess.
function S:first_unusable(ids)
  if self.config.attach_requires_connected == false then return nil end
  for _, id in ipairs(ids) do
    local acc = self.accounts[id]
    if not acc.is_smtp_success or not acc.is_imap_success or acc.is_suspended then return id end
  end
end

-- Shared preamble of attach and detach: body, campaign, ownership.
function S:campaign_change(ctx)
  local ids, err = schemas.parse_account_ids(ctx.body)
  if not ids then return nil, nil, err end
  local campaign = self:own_campaign(ctx.user_id, ctx.id)
  if not campaign then return nil, nil, answers.campaign_not_found() end
  local foreign = self:first_foreign(ctx.user_id, ids)
  if foreign then return nil, nil, answers.permission_error(foreign) end
  return ids, campaign
end

function S:attach(ctx)
  local ids, campaign, err = self:campaign_change(ctx)
  if err then return err end
  local unusable = self:first_unusable(ids)
  if unusable then
    return reply(400, { error = string.format("Email account id - %d is not connected or is suspended.", unusable) })
  end
  local links, added = self.links[campaign.id], 0
  for _, id in ipairs(ids) do
    if not links[id] then added = added + 1 end
  end
  if util.count_keys(links) + added > CAMPAIGN_LIMIT then
    return reply(400, { error = "Campaign email account limit exceeded (max 2500)." })
  end
  local result, stamp = json.array({}), self:iso_now()
  for _, id in ipairs(ids) do result[#result + 1] = util.deep_copy(self:link(campaign.id, id, stamp)) end
  return reply(200, { ok = true, result = result })
end

function S:detach(ctx)
  local ids, campaign, err = self:campaign_change(ctx)
  if err then return err end
  local links, removing = self.links[campaign.id], 0
  for _, id in ipairs(ids) do
    if links[id] then removing = removing + 1 end
  end
  if campaign.status == "ACTIVE" and removing > 0 and removing == util.count_keys(links) then
    return reply(400, { error = "Active campaign must have at least one email account." })
  end
  for _, id in ipairs(ids) do self:unlink(campaign.id, id) end
  return reply(200, { ok = true, result = removing })
end

return M
