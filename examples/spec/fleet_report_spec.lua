-- A read-only report: check what it prints, and that it never writes.
local t = require "smartlead.testing"

describe("examples/fleet_report.lua", function()
  local mock

  setup(function() mock = t.mock() end)
  teardown(function() mock:stop() end)

  it("lists the accounts that need attention, worst first, and writes nothing", function()
    local r = mock:run("examples/fleet_report.lua")
    assert.is_true(r.ok, r.error)
    assert.matches("^%s*ID%s+ADDRESS", r.output)
    assert.matches("260 accounts, %d+ need attention", r.output)
    assert.matches("SMTP failed", r.output)
    assert.same({}, mock:writes())
  end)

  it("--all lists every account", function()
    local r = mock:run("examples/fleet_report.lua", { "--all" })
    local rows = select(2, r.output:gsub("\n%s*%d+%s+%S+@", "")) -- lines that start with an id and an address
    assert.equal(260, rows)
  end)

  it("a page that fails is an error, not a short report", function()
    mock:faults { p5xx = 1, seed = 1 }
    local r = mock:run("examples/fleet_report.lua")
    assert.is_false(r.ok)
    assert.matches("SERVER_ERROR", r.error)
    mock:faults()
  end)
end)
