-- Rotation across campaigns, rehearsed on a small fleet written in the spec itself: a fixtures
-- table is the quickest way to set up exactly the case a test is about.
local t = require "smartlead.testing"

local function account(id, limit, rep, ok)
  return { id = id, from_email = ("a%d@example.com"):format(id), message_per_day = limit, is_smtp_success = ok,
    is_imap_success = true, type = "SMTP",
    warmup_details = { status = "ACTIVE", warmup_reputation = rep .. "%", blocked_reason = require("smartlead").null } }
end

local FLEET = {
  accounts = { account(1, 50, 99, true), account(2, 40, 98, true), account(3, 30, 97, true),
    account(4, 20, 50, false) },
  campaigns = {
    { id = 10, user_id = 1001, status = "ACTIVE", name = "a", email_account_ids = { 4 } },
    { id = 20, user_id = 1001, status = "ACTIVE", name = "b", email_account_ids = {} },
  },
}

describe("examples/rotate_pool.lua", function()
  local mock

  setup(function() mock = t.mock { fixtures = FLEET } end)
  teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)

  it("without campaign ids takes the campaigns get_campaigns lists that take accounts", function()
    local r = mock:run("examples/rotate_pool.lua", { "--dry-run" })
    assert.is_true(r.ok, r.error)
    assert.same({}, mock:writes())
  end)

  it("spreads the free healthy accounts by capacity and takes the sick one out", function()
    local r = mock:run("examples/rotate_pool.lua", { "10", "20" })
    assert.is_true(r.ok, r.error)
    local a, b = mock:campaign(10).email_account_ids, mock:campaign(20).email_account_ids
    -- largest first into the campaign with the least capacity: 1 (50/day) to 10, then 2 (40) and
    -- 3 (30) to 20; 4 (disconnected) leaves 10, which is not empty once 1 is in
    assert.same({ 1 }, a)
    assert.same({ 2, 3 }, b)
  end)

  it("--dry-run leaves every campaign as it was", function()
    assert.is_true(mock:run("examples/rotate_pool.lua", { "--dry-run", "10", "20" }).ok)
    assert.same({ 4 }, mock:campaign(10).email_account_ids)
    assert.same({}, mock:writes())
  end)
end)
