-- smartlead.fleet: fleet memory, the daily history of a SmartLead workspace in SQLite.
--   fleet.snapshot(client, opts)   one pass over the accounts, stored as today's snapshot (snapshot.lua)
--   fleet.history(db, opts)        series per account and for the fleet (history.lua)
--   fleet.signals                  trend signals: reputation_drop, spam_rising, burnout, ... (signals.lua)
--   fleet.diff(db, opts)           what changed between two snapshots (diff.lua)
--   fleet.report(db, opts)         one self-contained HTML page (report.lua)
--   fleet.store, fleet.days, fleet.simulate, fleet.commands
-- Loaded on first use, so `require "smartlead"` costs nothing more for scripts that never use them.
local M = {}

local FIELDS = {
  snapshot = function() return require("smartlead.fleet.snapshot").snapshot end,
  history = function() return require("smartlead.fleet.history").open end,
  signals = function() return require "smartlead.fleet.signals" end,
  diff = function() return require("smartlead.fleet.diff").diff end,
  report = function() return require("smartlead.fleet.report").report end,
  store = function() return require "smartlead.fleet.store" end,
  days = function() return require "smartlead.fleet.days" end,
  simulate = function() return require "smartlead.fleet.simulate" end,
  commands = function() return require "smartlead.fleet.commands" end,
}

return setmetatable(M, {
  __index = function(t, k)
    local f = FIELDS[k]
    if not f then return nil end
    local v = f()
    rawset(t, k, v)
    return v
  end,
})
