-- Testing a limit policy with busted against the mock, the way you would test your own:
--   busted examples/spec/ramp_limits_spec.lua      (from the repository root)
-- t.mock() starts the mock SmartLead on loopback with the bundled fleet (or your own copy:
-- t.mock { fixtures = "fleet.json" }, made by `smartlua fixtures --anonymize > fleet.json`), and
-- points smartlead.client() at it, so the script runs unchanged.
local t = require "smartlead.testing"
local policy = require "smartlead.policy"

describe("examples/ramp_limits.lua", function()
  local mock, client

  setup(function() mock, client = t.mock() end)
  teardown(function() mock:stop() end)
  before_each(function() mock:reset() end) -- every test starts from the same fleet

  it("--dry-run prints the plan and sends no write", function()
    local r = mock:run("examples/ramp_limits.lua", { "--dry-run" })
    assert.is_true(r.ok, r.error)
    assert.matches("changes planned; nothing sent %(%-%-dry%-run%)", r.output)
    assert.same({}, mock:writes())
  end)

  it("raises good inboxes by 5, halves weak ones, stops disconnected ones", function()
    local before = assert(client:get_email_account(3003))
    local r = mock:run("examples/ramp_limits.lua")
    assert.is_true(r.ok, r.error)
    assert.equal(before.message_per_day + 5, mock:account(3003).message_per_day) -- reputation 95%
    assert.equal(0, mock:account(3004).message_per_day)                            -- SMTP disconnected
    assert.equal(12, mock:account(3005).message_per_day)                           -- 80%: 25 -> 12
    assert.equal(1, #mock:writes("/email-accounts/3003"))
    for _, w in ipairs(mock:writes()) do
      assert.equal("POST", w.method)
      assert.matches("^/email%-accounts/%d+$", w.path) -- only limit updates, nothing else
    end
  end)

  it("the policy alone: what it decides for the fleet, before any script runs it", function()
    local changes = policy.ramp(assert(client:all_accounts()), { step = 10, ceiling = 100 })
    for _, c in ipairs(changes) do
      assert.equal("update", c.op)
      assert.is_true(c.fields.max_email_per_day <= 100)
    end
    assert.same({}, mock:writes()) -- a policy only decides
  end)
end)
