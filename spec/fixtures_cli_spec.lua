-- `smartlua fixtures`: the fleet as mock fixtures, on stdout or in a new 0600 file, anonymized
-- on request; then `smartlua --mock=FILE --plan script` rehearses a policy on the copy and plans
-- what it plans on the original.
local proc = require "proc"
local json = require "smartlead.json"

describe("smartlua fixtures", function()
  local tmp

  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  local function env() return proc.keyless_env(tmp) end

  it("writes the fleet as fixtures the mock reads, with fake passwords", function()
    local r = proc.smartlua({ "--mock", "fixtures" }, env())
    assert.equal(0, r.code, r.err)
    local fx = assert(json.decode(r.out))
    assert.equal(260, #fx.accounts)
    assert.is_true(#fx.campaigns >= 1)
    assert.equal("olivia.hall@hypergrowth.dev", fx.accounts[1].from_email) -- not anonymized unless asked
    for _, a in ipairs(fx.accounts) do
      assert.equal("FAKEPW-" .. a.id, a.password)
      assert.equal(1001, a.user_id)
      assert.is_nil(a.campaign_ids)
    end
    assert.is_nil(r.out:find("FAKEPW-3001-", 1, true)) -- the fixtures' own passwords never leave the mock
  end)

  it("anonymizes into a new 0600 file, and the copy plans what the original plans", function()
    local file = tmp .. "/fleet.json"
    local r = proc.smartlua({ "--mock", "fixtures", "--anonymize", "-o", file }, env())
    assert.equal(0, r.code, r.err)
    assert.equal("", r.out)
    assert.matches("260 accounts, %d+ campaigns written to .*fleet.json %(anonymized%)", r.err)
    assert.equal("600", proc.sh("stat -c %a " .. proc.q(file)).lines[1])
    local text = proc.read(file)
    assert.is_nil(text:find("hypergrowth", 1, true))
    assert.is_nil(text:find("Olivia", 1, true))
    local original = proc.smartlua({ "--mock", "--plan", "examples/ramp_limits.lua" }, env())
    local copy = proc.smartlua({ "--mock=" .. file, "--plan", "examples/ramp_limits.lua" }, env())
    assert.equal(0, original.code, original.err)
    assert.equal(0, copy.code, copy.err)
    local function summary(out) return out:match("Plan: [^\n]*") end
    assert.is_not_nil(summary(copy.out .. copy.err))
    assert.equal(summary(original.out .. original.err), summary(copy.out .. copy.err))
  end)

  it("is a command with its own help and refuses write options", function()
    local r = proc.smartlua({ "fixtures", "--help" }, env())
    assert.equal(0, r.code)
    assert.matches("--anonymize", r.out, 1, true)
    r = proc.smartlua({ "--mock", "fixtures", "--yes" }, env())
    assert.equal(2, r.code)
  end)
end)
