-- smartlead.mock.answers: building answers, and the error bodies SmartLead documents.
-- An answer is {status, headers, body, delay_ms}; the C side may also read `fault`.
local json = require "smartlead.json"

local M = {}

function M.reply(status, value, headers)
  local h = { ["Content-Type"] = "application/json" }
  for k, v in pairs(headers or {}) do h[k] = v end
  return { status = status, headers = h, body = json.encode(value), delay_ms = 0 }
end
local reply = M.reply

function M.raw_reply(status, content_type, body)
  return { status = status, headers = { ["Content-Type"] = content_type }, body = body, delay_ms = 0 }
end

-- Joi/celebrate-style validation failure, as the real API sends it.
function M.validation_error(source, key, problem)
  return reply(400, {
    statusCode = 400, error = "Bad Request",
    message = string.format('"%s" %s', key, problem),
    validation = { source = source, keys = json.array({ key }) },
  })
end

function M.bad_json()
  return reply(400, { statusCode = 400, error = "Bad Request", message = "Invalid JSON body" })
end

function M.value_error(message) return reply(422, { error = message }) end

function M.cannot(method, path)
  return reply(404, { error = string.format("Cannot %s %s", method, path) })
end

-- An unknown route: Express's own HTML page, as the real server answers (not JSON).
function M.express_cannot(method, path)
  local text = string.format("Cannot %s %s", method, path)
    :gsub("[<>&]", { ["<"] = "&lt;", [">"] = "&gt;", ["&"] = "&amp;" })
  return M.raw_reply(404, "text/html; charset=utf-8", table.concat({ "<!DOCTYPE html>", '<html lang="en">', "<head>",
    '<meta charset="utf-8">', "<title>Error</title>", "</head>", "<body>", "<pre>" .. text .. "</pre>", "</body>",
    "</html>", "" }, "\n"))
end

function M.account_not_found_save(id)
  return reply(404, { ok = false, message = "Email account not found",
    errorCode = "ACCOUNT_NOT_FOUND", emailAccountId = id })
end

function M.account_not_found()
  return reply(404, { ok = false, message = "Email account not found", errorCode = "ACCOUNT_NOT_FOUND" })
end

function M.account_missing() return reply(404, { error = "Email account not found" }) end

function M.campaign_not_found() return reply(404, { error = "Campaign not found - Invalid campaign_id." }) end

function M.permission_error(id)
  return reply(400, { error = string.format("Email account id - %d not allowed. Permission Error.", id) })
end

function M.server_error(err)
  return reply(500, { error = "Internal Server Error", mock_error = tostring(err) })
end

return M
