-- Pausing sick inboxes: which accounts leave which campaigns, and that no campaign is emptied.
local t = require "smartlead.testing"

describe("examples/pause_unhealthy.lua", function()
  local mock

  setup(function() mock = t.mock() end)
  teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)

  it("--dry-run plans detaches and zero limits, and sends no write", function()
    local r = mock:run("examples/pause_unhealthy.lua", { "--dry-run" })
    assert.is_true(r.ok, r.error)
    assert.matches("detach %d+ accounts from campaign 4101", r.output)
    assert.matches("update 3004 max_email_per_day 50 %-> 0", r.output)
    assert.same({}, mock:writes())
  end)

  it("takes sick accounts out of the given campaign only, and stops their sending", function()
    local r = mock:run("examples/pause_unhealthy.lua", { "4101" })
    assert.is_true(r.ok, r.error)
    assert.equal(0, mock:account(3004).message_per_day)
    local members = {}
    for _, id in ipairs(mock:campaign(4101).email_account_ids) do members[id] = true end
    assert.is_nil(members[3004])
    assert.is_true(next(members) ~= nil) -- never emptied
    assert.same({}, mock:writes("/campaigns/4106/email-accounts"))
  end)

  it("refuses what is not a campaign id", function()
    local r = mock:run("examples/pause_unhealthy.lua", { "four" })
    assert.equal(1, r.code)
    assert.matches("usage: pause_unhealthy.lua", r.error)
  end)
end)
