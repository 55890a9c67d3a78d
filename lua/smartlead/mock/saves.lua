-- smartlead.mock.saves: handlers that create or re-credential accounts (save, save-oauth).
local json = require "smartlead.json"
local util = require "smartlead.mock.util"
local answers = require "smartlead.mock.answers"
local schemas = require "smartlead.mock.schemas"
local state = require "smartlead.mock.state"
local accounts = require "smartlead.mock.accounts"

local NULL = json.null
local is_null, reply = util.is_null, answers.reply
local copy_stored = accounts.copy_stored

local M = { methods = {} }
local S = M.methods -- methods of the mock server

local function port_type(port, ssl_port)
  if port == ssl_port then return "SSL" end
  return "TLS"
end

-- Hook for tests: a host containing "invalid" fails the connection check. Returns the failing
-- side ("SMTP" or "IMAP") and the server's words, or nil.
local function verification_failure(body)
  for _, field in ipairs({ "smtp_host", "imap_host" }) do
    if type(body[field]) == "string" and body[field]:lower():find("invalid", 1, true) then
      return field == "smtp_host" and "SMTP" or "IMAP", "getaddrinfo ENOTFOUND " .. body[field]
    end
  end
end

-- A save whose connection check failed still stored the account, marked failing (the seed and
-- the docs agree): 400 ACCOUNT_VERIFICATION_FAILED with its id, or the newest docs' shape
-- {"ok":false,"message":"SMTP connection failed","error":"..."} without one.
function S:verification_failed(acc, side, detail)
  if side == "SMTP" then acc.is_smtp_success, acc.smtp_failure_error = false, detail
  else acc.is_imap_success, acc.imap_failure_error = false, detail end
  local message = side .. " connection failed"
  if self.config.verification_answer_shape == "newest" then
    return reply(400, { ok = false, message = message, error = detail })
  end
  return reply(400, { ok = false, errorCode = "ACCOUNT_VERIFICATION_FAILED", emailAccountId = acc.id,
    message = message, error = detail })
end

-- Derived fields that follow from the credentials.
local function refresh_derived(acc)
  acc.smtp_port_type = port_type(acc.smtp_port, 465)
  acc.imap_port_type = port_type(acc.imap_port, 993)
  acc.is_different_imap_account = acc.imap_username ~= acc.username
    or (acc.imap_password ~= acc.password and not is_null(acc.imap_password))
  acc.is_smtp_success, acc.is_imap_success = true, true -- saving verifies the connection
  acc.smtp_failure_error, acc.imap_failure_error = NULL, NULL
end

function S:save_answer(acc)
  local message = "Email account added/updated successfully!"
  if self.config.save_answer_shape == "data" then
    return reply(200, { ok = true, message = message, data = { id = acc.id } })
  end
  local w = acc.warmup_details
  local key = (not is_null(w) and w.warmup_key_id) or util.two_words(acc.id)
  return reply(200, { ok = true, message = message, emailAccountId = acc.id, warmupKey = key })
end

-- Addresses are unique across users; the existing id is only revealed to its owner. The two
-- documented forms: another user's address (emailAccountId null: no id can fix it) and one's
-- own (the id to pass to update it).
function S:duplicate_of(ctx, email, own_id)
  local id = self.emails[email:lower()]
  if not id or id == own_id then return nil end
  if self.accounts[id].user_id ~= ctx.user_id then
    return reply(400, { ok = false, message = "Email account already added by other user",
      errorCode = "ACCOUNT_ALREADY_EXIST", emailAccountId = NULL })
  end
  return reply(400, { ok = false, message = "Email account already exist. Please pass id to update it",
    errorCode = "ACCOUNT_ALREADY_EXIST", emailAccountId = id })
end

function S:create_account(ctx, body)
  local acc = state.account_defaults(self.next_account_id, ctx.user_id, self:iso_now())
  copy_stored(acc, body)
  self:add_account(acc)
  return acc
end

function S:update_credentials(acc, body)
  local old_email = acc.from_email:lower()
  copy_stored(acc, body)
  if self.emails[old_email] == acc.id then self.emails[old_email] = nil end
  self.emails[acc.from_email:lower()] = acc.id
  acc.updated_at = self:iso_now()
end

-- IMAP credentials follow the SMTP ones unless the request or the account says they differ.
local function sync_imap(acc, body, was_different)
  if was_different then return end
  if body.imap_user_name == nil then acc.imap_username = acc.username end
  if body.imap_password == nil then acc.imap_password = acc.password end
end

-- Common tail of save and save-oauth: create or update, then warmup and answer.
function S:store_account(ctx, body, fill)
  local id = not is_null(body.id) and body.id or nil
  local existing = id and self:own_account(ctx.user_id, id)
  if id and not existing then return answers.account_not_found_save(id) end
  local dup = self:duplicate_of(ctx, body.from_email, id)
  if dup then return dup end
  local acc, was_different = existing, existing and existing.is_different_imap_account
  if acc then self:update_credentials(acc, body) else acc = self:create_account(ctx, body) end
  sync_imap(acc, body, was_different)
  if fill then fill(acc) end
  refresh_derived(acc)
  self:apply_warmup(acc, body)
  local side, detail = verification_failure(body)
  if side then return self:verification_failed(acc, side, detail) end
  return self:save_answer(acc)
end

function S:save_account(ctx)
  local body = ctx.body
  local err = schemas.check_body(body, schemas.SAVE_SCHEMA) or schemas.check_ranges(body, schemas.SAVE_RANGES)
    or (body.type and schemas.check_enum("type", body.type, { "GMAIL", "OUTLOOK", "SMTP" }))
  if err then return err end
  return self:store_account(ctx, body)
end

local OAUTH_SERVERS = {
  GMAIL = { "smtp.gmail.com", "imap.gmail.com" },
  OUTLOOK = { "smtp.office365.com", "outlook.office365.com" },
}

function S:save_oauth(ctx)
  local body = ctx.body
  local err = schemas.check_body(body, schemas.OAUTH_SCHEMA)
    or schemas.check_enum("type", body.type, { "GMAIL", "OUTLOOK" })
    or schemas.check_ranges(body, schemas.SAVE_RANGES) or schemas.token_problem(body.token)
  if err then return err end
  return self:store_account(ctx, body, function(acc)
    local servers = OAUTH_SERVERS[acc.type]
    acc.smtp_host, acc.smtp_port, acc.imap_host, acc.imap_port = servers[1], 587, servers[2], 993
    acc.password, acc.imap_password, acc.imap_username = NULL, NULL, acc.username
    local t = body.token
    local expires_in = tonumber(t.expires_in)
    acc.expires_at = (t.expiry_date and util.iso(t.expiry_date // 1000))
      or (expires_in and util.iso(self:time() + expires_in)) or NULL
    acc.oauth_token = util.deep_copy(body.token) -- kept for /__mock/state; never answered
    acc.use_whitelabel_credentials = body.use_whitelabel_credentials
  end)
end

return M
