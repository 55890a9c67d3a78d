-- A script that writes: check the state it leaves and every request it sent.
local t = require "smartlead.testing"

describe("examples/halve_weak_gmail.lua", function()
  local mock, client

  setup(function() mock, client = t.mock() end)
  teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)

  it("needs a campaign id", function()
    local r = mock:run("examples/halve_weak_gmail.lua")
    assert.equal(1, r.code)
    assert.matches("usage: halve_weak_gmail.lua CAMPAIGN_ID", r.error)
  end)

  it("halves every Gmail inbox under 90% and detaches it from the campaign", function()
    local weak = {}
    for a in client:accounts { esp = "GMAIL" } do
      local rep = require("smartlead").reputation(a)
      if rep and rep < 90 then weak[a.id] = a.message_per_day end
    end
    assert.is_not_nil(next(weak))
    local r = mock:run("examples/halve_weak_gmail.lua", { "4101" })
    assert.is_true(r.ok, r.error)
    for id, limit in pairs(weak) do
      assert.equal(limit // 2, mock:account(id).message_per_day)
      for _, cid in ipairs(mock:account(id).campaign_ids) do assert.is_not.equal(4101, cid) end
    end
    local detach = mock:writes("/campaigns/4101/email-accounts")
    assert.equal(1, #detach)
    assert.equal("DELETE", detach[1].method)
  end)

  it("stops with the error when the listing fails, having changed nothing", function()
    mock:faults { p5xx = 1, seed = 2 }
    local r = mock:run("examples/halve_weak_gmail.lua", { "4101" })
    assert.is_false(r.ok)
    assert.matches("SERVER_ERROR", r.error)
    mock:faults()
    assert.same({}, mock:writes())
  end)
end)
