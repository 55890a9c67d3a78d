-- smartlead.mock.admin: the control endpoints under /__mock/ (log, state, config, clock, reset); no key.
local json = require "smartlead.json"
local answers = require "smartlead.mock.answers"

local NULL = json.null
local reply = answers.reply

local M = { methods = {} }
local S = M.methods -- methods of the mock server

-- Back to the seed: state, log, rate windows, reconnect history, fault sequence, clock. Knobs stay.
function S:reset()
  self:load_state()
  self.log, self.seq = json.array({}), 0
  self.rate_keys, self.reconnects = {}, {}
  self:reseed_faults()
  self:reset_clock()
end

function S:admin_config(req)
  local changes = json.decode(req.body ~= "" and req.body or "{}")
  if type(changes) ~= "table" or changes == NULL or json.is_array(changes) then return answers.bad_json() end
  local ok, err = pcall(self.merge_config, self, changes)
  if not ok then return reply(400, { error = tostring(err) }) end
  return reply(200, self:config_view())
end

-- POST /__mock/clock {freeze=, offset=, advance=} -> the clock (clock.lua).
function S:admin_clock(req)
  local changes = json.decode(req.body ~= "" and req.body or "{}")
  if type(changes) ~= "table" or changes == NULL or json.is_array(changes) then return answers.bad_json() end
  local ok, err = pcall(self.set_clock, self, changes)
  if not ok then return reply(400, { error = tostring(err) }) end
  return reply(200, self:clock_view())
end

local ADMIN = {
  ["GET /__mock/log"] = function(self) return reply(200, self:trim_log()) end,
  ["POST /__mock/log/clear"] = function(self)
    self:clear_log()
    return reply(200, { ok = true })
  end,
  ["GET /__mock/state"] = function(self) return reply(200, self:state_view()) end,
  ["GET /__mock/config"] = function(self) return reply(200, self:config_view()) end,
  ["POST /__mock/config"] = S.admin_config,
  ["GET /__mock/clock"] = function(self) return reply(200, self:clock_view()) end,
  ["POST /__mock/clock"] = S.admin_clock,
  ["POST /__mock/reset"] = function(self)
    self:reset()
    return reply(200, { ok = true })
  end,
}

function S:handle_admin(req)
  local path = req.path:gsub("/+$", "")
  local handler = ADMIN[req.method .. " " .. path]
  if not handler then return answers.cannot(req.method, req.path) end
  return handler(self, req)
end

return M
