-- smartlead.mock.campaigns: handlers for campaigns (list, one), their accounts (list, attach,
-- detach) and their leads' senders.
local json = require "smartlead.json"
local util = require "smartlead.mock.util"
local answers = require "smartlead.mock.answers"
local schemas = require "smartlead.mock.schemas"

local reply = answers.reply

local M = { methods = {} }
local S = M.methods -- methods of the mock server

local CAMPAIGN_LIMIT = 2500

-- The fields GET /campaigns/ answers (smartlead-docs campaigns/get-all), in the seed's values.
local CAMPAIGN_FIELDS = { "id", "user_id", "created_at", "updated_at", "status", "name", "track_settings",
  "scheduler_cron_value", "min_time_btwn_emails", "max_leads_per_day", "stop_lead_settings",
  "schedule_start_time", "enable_ai_esp_matching", "send_as_plain_text", "follow_up_percentage",
  "unsubscribe_text", "parent_campaign_id", "client_id" }

local function present_campaign(c, include_tags)
  local out = {}
  for _, k in ipairs(CAMPAIGN_FIELDS) do out[k] = util.or_null(util.deep_copy(c[k])) end
  if out.track_settings == json.null then out.track_settings = json.array({}) end
  if include_tags then out.tags = util.deep_copy(c.tags ~= nil and c.tags ~= json.null and c.tags or json.array({})) end
  return out
end

-- GET /campaigns/: a bare array, newest (highest id) first; client_id filters.
function S:list_campaigns(ctx)
  local ids = {}
  for cid, c in pairs(self.campaigns) do
    if c.user_id == ctx.user_id and (ctx.query.client_id == nil or c.client_id == ctx.query.client_id) then
      ids[#ids + 1] = cid
    end
  end
  table.sort(ids, function(a, b) return a > b end)
  local out = json.array({})
  for i, cid in ipairs(ids) do out[i] = present_campaign(self.campaigns[cid], ctx.query.include_tags) end
  if self.config.answer_envelope == "data" then return reply(200, { success = true, campaigns = out }) end
  return reply(200, out)
end

-- GET /campaigns/{id}: the object, or the newest docs' {"success":true,"data":{...}}.
function S:get_campaign(ctx)
  local c = self:own_campaign(ctx.user_id, ctx.id)
  if not c then return answers.campaign_not_found() end
  local out = present_campaign(c, ctx.query.include_tags)
  if self.config.answer_envelope == "data" then return reply(200, { success = true, data = out }) end
  return reply(200, out)
end

function S:campaign_accounts(ctx)
  if not self:own_campaign(ctx.user_id, ctx.id) then return answers.campaign_not_found() end
  local out = json.array({})
  for _, aid in ipairs(util.sorted_keys(self.links[ctx.id])) do
    out[#out + 1] = self:present_account(self.accounts[aid], { tags = ctx.query.include_tags == true })
  end
  if self.config.answer_envelope == "data" then return reply(200, { ok = true, data = out }) end
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
function S:campaign_change(ctx, attach)
  local ids, err = schemas.parse_account_ids(ctx.body, attach)
  if not ids then return nil, nil, err end
  local campaign = self:own_campaign(ctx.user_id, ctx.id)
  if not campaign then return nil, nil, answers.campaign_not_found() end
  local foreign = self:first_foreign(ctx.user_id, ids)
  if foreign then return nil, nil, answers.permission_error(foreign) end
  return ids, campaign
end

function S:attach(ctx)
  local ids, campaign, err = self:campaign_change(ctx, true)
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
  if ctx.body.auto_adjust_warmup ~= nil then campaign.auto_adjust_warmup = ctx.body.auto_adjust_warmup end
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

---------------------------------------------------------------------------- leads

local LEAD_SCHEMA = {
  { "email_account_id", "integer", required = true }, { "email_campaign_id", "integer", required = true },
  { "email_lead_id", "integer", required = true }, { "override_lead_email_account", "boolean" },
}

-- POST /campaigns/update-lead-email-account: the lead's sender becomes the account (one of the
-- campaign's). A lead that has one already keeps it unless override_lead_email_account (a guess
-- at the docs' "force override even if lead has specific account assigned"), answered as the
-- newer endpoints answer a refusal: 200 with success false.
function S:move_lead(ctx)
  local body = ctx.body
  local err = schemas.check_body(body, LEAD_SCHEMA)
  if err then return err end
  local cid, aid, lid = body.email_campaign_id, body.email_account_id, body.email_lead_id
  if not self:own_campaign(ctx.user_id, cid) then return answers.campaign_not_found() end
  if not self:own_account(ctx.user_id, aid) then return answers.permission_error(aid) end
  if not self.links[cid][aid] then
    return reply(400, { success = false, message = ("Email account %d is not part of campaign %d"):format(aid, cid) })
  end
  local senders = self.lead_senders[cid] or {}
  self.lead_senders[cid] = senders
  if senders[lid] and senders[lid] ~= aid and not body.override_lead_email_account then
    return reply(200, { success = false,
      message = "Lead already has an email account assigned; pass override_lead_email_account" })
  end
  senders[lid] = aid
  return reply(200, { success = true, message = "Lead email account updated" })
end

return M
