-- smartlead.mock.accounts: handlers for reading, updating, warming up, reconnecting, suspending
-- and deleting accounts.
local json = require "smartlead.json"
local util = require "smartlead.mock.util"
local prng = require "smartlead.mock.prng"
local answers = require "smartlead.mock.answers"
local schemas = require "smartlead.mock.schemas"
local state = require "smartlead.mock.state"

local NULL = json.null
local is_null, reply = util.is_null, answers.reply

local M = { methods = {} }
local S = M.methods -- methods of the mock server

---------------------------------------------------------------------------- list and read

local function username_matches(acc, needle)
  return type(acc.username) == "string" and acc.username:lower():find(needle:lower(), 1, true) ~= nil
end

function S:matches_filters(acc, q)
  if q.isInUse ~= nil and (next(self:campaign_set(acc.id)) ~= nil) ~= q.isInUse then return false end
  if q.emailWarmupStatus and state.warmup_status(acc) ~= q.emailWarmupStatus then return false end
  if q.isSmtpSuccess ~= nil and acc.is_smtp_success ~= q.isSmtpSuccess then return false end
  if q.isWarmupBlocked ~= nil and state.is_warmup_blocked(acc) ~= q.isWarmupBlocked then return false end
  if q.esp and acc.type ~= q.esp then return false end
  if q.username and not username_matches(acc, q.username) then return false end
  if q.client_id and acc.client_id ~= q.client_id then return false end
  return true
end

function S:list_accounts(ctx)
  local q = ctx.query
  local limit, offset = q.limit or 100, q.offset or 0
  if self.config.ignore_offset then offset = 0 end
  if limit > 100 then
    -- the docs say 422; a live client saw an empty page instead (knob limit_over_100)
    if self.config.limit_over_100 == "empty" then return reply(200, json.array({})) end
    return answers.value_error("limit must be less than or equal to 100")
  end
  local page, seen = json.array({}), 0
  for _, id in ipairs(self.account_ids) do
    local acc = self.accounts[id]
    if acc.user_id == ctx.user_id and not acc.deleted and self:matches_filters(acc, q) then
      seen = seen + 1
      if seen > offset then page[#page + 1] = self:present_account(acc, { campaign_ids = q.fetch_campaigns }) end
      if #page >= limit then break end
    end
  end
  return reply(200, page)
end

function S:get_account(ctx)
  local acc = self:own_account(ctx.user_id, ctx.id)
  if not acc then return answers.account_missing() end
  return reply(200, self:present_account(acc, { campaign_ids = ctx.query.fetch_campaigns, single = true }))
end

-- 404 also when the account exists but is not connected, as documented.
function S:fetch_details(ctx)
  local id = self.emails[ctx.query.email:lower()]
  local acc = id and self:own_account(ctx.user_id, id)
  if not acc or not (acc.is_smtp_success and acc.is_imap_success) then return answers.account_missing() end
  return reply(200, self:present_account(acc))
end

---------------------------------------------------------------------------- updating

-- Request field name -> stored field name (the API renames several on the way in).
local STORED_AS = {
  from_name = "from_name", from_email = "from_email", user_name = "username", username = "username",
  password = "password", smtp_host = "smtp_host", smtp_port = "smtp_port", imap_host = "imap_host",
  imap_port = "imap_port", type = "type", max_email_per_day = "message_per_day",
  custom_tracking_url = "custom_tracking_domain", bcc = "bcc_email", signature = "signature",
  time_to_wait_in_mins = "minTimeToWaitInMins", client_id = "client_id",
  imap_user_name = "imap_username", imap_password = "imap_password",
  different_reply_to_address = "different_reply_to_address", is_suspended = "is_suspended",
}

-- Also used by the saves.
function M.copy_stored(acc, body)
  for name, stored in pairs(STORED_AS) do
    if body[name] ~= nil then acc[stored] = body[name] end
  end
end

function S:update_account(ctx)
  local err = schemas.check_update_body(ctx.body)
  if err then return err end
  local acc = self:own_account(ctx.user_id, ctx.id)
  if not acc then return answers.account_not_found() end
  M.copy_stored(acc, ctx.body)
  acc.updated_at = self:iso_now()
  return reply(200, { ok = true, message = "Email account details updated successfully!", emailAccountId = acc.id })
end

---------------------------------------------------------------------------- warmup

function S:new_warmup(acc)
  return { status = "INACTIVE", total_sent_count = 0, total_spam_count = 0, warmup_reputation = "100%",
    warmup_key_id = util.two_words(acc.id), warmup_created_at = self:iso_now(), reply_rate = 30,
    blocked_reason = NULL, warmup_min_count = 1, warmup_max_count = 20, max_email_per_day = 20,
    daily_rampup = 5 }
end

-- Shared by save, save-oauth and the warmup endpoint.
function S:apply_warmup(acc, body)
  local w = acc.warmup_details
  if is_null(w) then
    if not body.warmup_enabled then return end
    w = self:new_warmup(acc)
    acc.warmup_details = w
  end
  w.status = body.warmup_enabled and "ACTIVE" or "INACTIVE"
  if body.total_warmup_per_day then
    w.warmup_max_count, w.max_email_per_day = body.total_warmup_per_day, body.total_warmup_per_day
  end
  if body.daily_rampup then w.daily_rampup = body.daily_rampup end
  if body.reply_rate_percentage then w.reply_rate = body.reply_rate_percentage end
  if body.warmup_key_id then w.warmup_key_id = body.warmup_key_id end
  for _, k in ipairs({ "auto_adjust_warmup", "is_rampup_enabled" }) do
    if body[k] ~= nil then w[k] = body[k] end
  end
end

function S:set_warmup(ctx)
  local err = schemas.check_body(ctx.body, schemas.WARMUP_SCHEMA) or schemas.check_ranges(ctx.body, schemas.SAVE_RANGES)
  if err then return err end
  local acc = self:own_account(ctx.user_id, ctx.id)
  if not acc then return answers.account_not_found() end
  self:apply_warmup(acc, ctx.body)
  acc.updated_at = self:iso_now()
  return reply(200, { ok = true, message = "Email warmup settings updated successfully!" })
end

-- Per-day numbers are a pure function of (account id, day index) so repeated reads agree.
local function day_stats(acc, day)
  local w = acc.warmup_details
  if is_null(w) or w.status ~= "ACTIVE" then return 0, 0, 0 end
  local rng = prng.new(acc.id * 31 + day)
  local sent = rng.int(w.warmup_min_count or 1, math.max(w.warmup_min_count or 1, w.warmup_max_count or 20))
  local rep = tonumber(tostring(w.warmup_reputation):match("%d+")) or 100
  local spam = (sent * (100 - rep) + rng.int(0, 99)) // 100
  local replies = sent * math.floor(tonumber(w.reply_rate) or 0) // 100
  return sent, replies, spam
end

function S:warmup_stats(ctx)
  local acc = self:own_account(ctx.user_id, ctx.id)
  if not acc then return reply(404, { message = "Email account not found", status = "error" }) end
  local days, total_sent, total_spam, total_replies = json.array({}), 0, 0, 0
  local now = self:time()
  for day = 1, 7 do
    local sent, replies, spam = day_stats(acc, day)
    days[day] = { id = acc.id * 10 + day, date = os.date("!%Y-%m-%d", math.floor(now) - (7 - day) * 86400),
      sent_count = sent, reply_count = replies, save_from_spam_count = spam }
    total_sent, total_spam, total_replies = total_sent + sent, total_spam + spam, total_replies + replies
  end
  return reply(200, { id = acc.id, sent_count = tostring(total_sent), spam_count = tostring(total_spam),
    inbox_count = tostring(total_sent - total_spam), warmup_email_received_count = tostring(total_replies),
    stats_by_date = days })
end

---------------------------------------------------------------------------- reconnect

local PERMANENT_FAILURES = { "invalid credentials", "username and password not accepted", "authenticationfailed" }

local function permanent_failure(err)
  if type(err) ~= "string" then return false end
  local lower = err:lower()
  for _, marker in ipairs(PERMANENT_FAILURES) do
    if lower:find(marker, 1, true) then return true end
  end
  return false
end

-- Accepted calls in the last 24 h; at most 3, at least 30 minutes apart.
function S:reconnect_allowed(user_id, now)
  local kept = {}
  for _, t in ipairs(self.reconnects[user_id] or {}) do
    if now - t < 86400 then kept[#kept + 1] = t end
  end
  self.reconnects[user_id] = kept
  return #kept < 3 and (#kept == 0 or now - kept[#kept] >= 1800)
end

local function reconnect_account(acc, stamp)
  local fixed = false
  if not acc.is_smtp_success and not permanent_failure(acc.smtp_failure_error) then
    acc.is_smtp_success, acc.smtp_failure_error, fixed = true, NULL, true
  end
  if not acc.is_imap_success and not permanent_failure(acc.imap_failure_error) then
    acc.is_imap_success, acc.imap_failure_error, fixed = true, NULL, true
  end
  if fixed then acc.updated_at = stamp end
  return fixed
end

function S:reconnect(ctx)
  local err = schemas.check_body(ctx.body, {})
  if err then return err end
  local now = self:time()
  if not self:reconnect_allowed(ctx.user_id, now) then
    return reply(406, { ok = true, message = "Reconnect limit reached. Failed email accounts can be "
      .. "reconnected 3 times in 24 hours, at least 30 minutes apart." })
  end
  table.insert(self.reconnects[ctx.user_id], now)
  local fixed, stamp = 0, util.iso(now)
  for _, id in ipairs(self.account_ids) do
    local acc = self.accounts[id]
    if acc.user_id == ctx.user_id and not acc.deleted and reconnect_account(acc, stamp) then fixed = fixed + 1 end
  end
  return reply(200, { ok = true, message = string.format("Reconnect started for %d failed email accounts.", fixed) })
end

---------------------------------------------------------------------------- suspend, delete

local function suspension(id, on)
  return reply(200, { success = true, message = on and "Email account suspended successfully"
    or "Email account unsuspended successfully", data = { accountId = id, isSuspended = on } })
end

-- PUT /email-accounts/suspend/{id} and DELETE /email-accounts/unsuspend/{id}: the flag only;
-- the account stays in its campaigns (which stop using it).
function S:set_suspended(ctx, on)
  local acc = self:own_account(ctx.user_id, ctx.id)
  if not acc then
    return reply(400, { success = false, message = "Email account not found or does not belong to you" })
  end
  acc.is_suspended = on
  acc.updated_at = self:iso_now()
  return suspension(acc.id, on)
end

function S:suspend(ctx) return self:set_suspended(ctx, true) end
function S:unsuspend(ctx) return self:set_suspended(ctx, false) end

-- DELETE /email-accounts/{id}: a soft delete. Out of every campaign, warmup INACTIVE with the
-- documented reason, the address free (adding it again makes a new account), 404 from then on.
function S:delete_account(ctx)
  local acc = self:own_account(ctx.user_id, ctx.id)
  if not acc then
    return reply(404, { ok = false, message = "Email account not found!", errorCode = "ACCOUNT_NOT_FOUND",
      emailAccountId = ctx.id })
  end
  for cid in pairs(util.deep_copy(self:campaign_set(acc.id))) do self:unlink(cid, acc.id) end
  if not is_null(acc.warmup_details) then
    acc.warmup_details.status = "INACTIVE"
    acc.warmup_details.blocked_reason = "Email account is deleted by user action"
  end
  acc.deleted, acc.deleted_at = true, self:iso_now()
  if self.emails[acc.from_email:lower()] == acc.id then self.emails[acc.from_email:lower()] = nil end
  return reply(200, { ok = true, message = "Email account deleted successfully!", emailAccountId = acc.id })
end

return M
