-- smartlead.mock.clock: the mock's own time, which specs can freeze and move (POST /__mock/clock).
--
-- server.now() is the base clock (seconds; os.time unless new{now=} replaces it); the mock reads
-- server:time(), which is the base clock, or the instant it was frozen at, plus an offset. Every
-- date the mock writes, the reconnect rule and the rate windows follow it, so an hourly cap can
-- be tested in seconds. A reset puts the clock back to the base clock.

local check = require("smartlead.mock.util").check

local M = { methods = {} }
local S = M.methods -- methods of the mock server

function S:time()
  return (self.frozen_at or self.now()) + self.clock_offset
end

function S:reset_clock()
  self.clock_offset, self.frozen_at = 0, nil
end

function S:clock_view()
  return { now = self:time(), offset = self.clock_offset, frozen = self.frozen_at ~= nil }
end

local function number_or_nil(v, name)
  check(v == nil or (type(v) == "number" and v == v and math.abs(v) < 1e12), name .. " must be a number of seconds")
  return v
end

-- changes: freeze = true|false (unfreezing goes on from the frozen instant), offset = seconds
-- (set), advance = seconds (added); applied in that order. Raises a plain message on bad input.
function S:set_clock(changes)
  local offset, advance = number_or_nil(changes.offset, "offset"), number_or_nil(changes.advance, "advance")
  check(changes.freeze == nil or type(changes.freeze) == "boolean", "freeze must be a boolean")
  for k in pairs(changes) do
    check(k == "freeze" or k == "offset" or k == "advance", "unknown clock field " .. tostring(k))
  end
  if changes.freeze == true and not self.frozen_at then
    self.frozen_at = self.now()
  elseif changes.freeze == false and self.frozen_at then
    self.clock_offset = self.clock_offset + self.frozen_at - self.now()
    self.frozen_at = nil
  end
  if offset then self.clock_offset = offset end
  if advance then self.clock_offset = self.clock_offset + advance end
end

return M
