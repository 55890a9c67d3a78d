-- The policies check what they are given: a campaign id where a campaign table belongs, an
-- iterator where a list belongs, a client that is not one: a clear error that names the
-- argument and the shape it takes, raised at the caller, never `attempt to index a number`.
local policy = require "smartlead.policy"

local function account(id) return { id = id, message_per_day = 50, is_smtp_success = true, is_imap_success = true } end

local function raised(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok)
  assert.is_string(err)
  assert.is_nil(err:find("attempt to", 1, true), err)
  return err
end

describe("policy arguments", function()
  it("rotate and pause name the campaigns argument and its shape when given ids", function()
    for _, name in ipairs { "rotate", "pause" } do
      local err = raised(policy[name], { 4101, 4106 }, { account(1) })
      assert.matches(("policy.%s: campaigns[1] must be one of campaign tables ({id=, status=, account_ids={...}}), "
        .. "got the number 4101"):format(name), err, 1, true)
    end
  end)

  it("say so when the accounts come first", function()
    local err = raised(policy.rotate, { { id = 1, from_email = "a@b.c", message_per_day = 5 } }, {})
    assert.matches("campaigns[1] must be one of campaign tables", err, 1, true)
    assert.matches("(an account: campaigns come first)", err, 1, true)
  end)

  it("name a list argument that is no list, and point from the iterator to all_accounts", function()
    local err = raised(policy.ramp, function() end)
    assert.matches("policy.ramp: accounts must be a list of account tables", err, 1, true)
    assert.matches("client:all_accounts()", err, 1, true)
    err = raised(policy.rotate, {}, 3001)
    assert.matches("policy.rotate: accounts must be a list of account tables", err, 1, true)
    assert.matches("got the number 3001", err, 1, true)
    err = raised(policy.ramp, { 3001, 3002 })
    assert.matches("policy.ramp: accounts[1] must be one of account tables", err, 1, true)
    err = raised(policy.ramp, { account(1), { id = "2" } })
    assert.matches("accounts[2] must be one of account tables", err, 1, true)
    assert.matches("(its id is not an integer)", err, 1, true)
  end)

  it("health names an account that is not a table", function()
    assert.matches("policy.health: account must be an account table", raised(policy.health, 3001), 1, true)
  end)

  it("apply, run and describe check the client and the change list", function()
    assert.matches("policy.apply: client must be a smartlead client", raised(policy.apply, {}, {}), 1, true)
    assert.matches("policy.apply: client must be a smartlead client (smartlead.client()), got the number 7",
      raised(policy.apply, 7, {}), 1, true)
    local fake = { update_email_account = function() return {} end }
    assert.matches("policy.apply: changes must be a list of changes", raised(policy.apply, fake, "x"), 1, true)
    assert.matches("policy.run: client must be", raised(policy.run, nil, {}), 1, true)
    assert.matches("policy.describe: changes must be a list", raised(policy.describe, 5), 1, true)
  end)

  it("raise at the caller's line", function()
    local ok, err = pcall(function() policy.rotate({ 1 }, {}) end)
    assert.is_false(ok)
    assert.matches("policy_args_spec.lua:%d+: policy.rotate", err)
  end)

  it("still take what they took", function()
    local changes = policy.rotate({ { id = 1, account_ids = {} } }, { account(7) })
    assert.equal("attach", changes[1].op)
    assert.same({}, policy.ramp({}))
    assert.equal("", policy.describe({}))
  end)
end)
