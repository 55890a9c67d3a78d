-- Saves (add_smtp_account, add_oauth_account) are not safe to repeat: SmartLead has no
-- idempotency key. When one fails in a way it may have survived (err.ambiguous: the connection
-- dropped after sending, a timeout, a 5xx), the account may exist already, so before sending
-- again we look it up by address; and a repeat answered ACCOUNT_ALREADY_EXIST for that address
-- means our earlier attempt landed. The engine itself never repeats a save it cannot prove
-- unprocessed (a 429 or a refused connection).
local M = {}

local MAX_SENDS = 3

-- The account at this address: account, or nil when there is none, or nil, err when unknown.
local function lookup(client, email)
  local account, err = client:get_email_account_by_email(email)
  if account then return account end
  if err.status == 404 then return nil end
  return nil, err
end

local function recovered(id, how)
  return { ok = true, email_account_id = id, recovered = how,
           message = "Email account saved (confirmed " .. how .. " after an ambiguous failure)" }
end

local function safe(save)
  return function(client, fields, ...)
    local res, err = save(client, fields, ...)
    local email = type(fields) == "table" and fields.from_email
    local sends = 1
    while not res and err.ambiguous and type(email) == "string" and sends < MAX_SENDS do
      local account, lookup_err = lookup(client, email)
      if account then return recovered(account.id, "by address") end
      if lookup_err then return nil, err end -- cannot tell: report what happened, send nothing more
      sends = sends + 1
      res, err = save(client, fields, ...)
      if not res and err.code == "ACCOUNT_ALREADY_EXIST" and err.email_account_id then
        return recovered(err.email_account_id, "by ACCOUNT_ALREADY_EXIST")
      end
    end
    return res, err
  end
end

function M.install(methods)
  methods.add_smtp_account = safe(methods.add_smtp_account)
  methods.add_oauth_account = safe(methods.add_oauth_account)
end

return M
