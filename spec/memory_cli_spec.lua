-- The fleet memory commands through the real binary: snapshot, diff, report, check.
local proc = require "proc"
local support = require "support"
local q = proc.q

describe("smartlua snapshot | diff | report | check", function()
  local tmp, server
  support.shared_server(function(s) server = s end)
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  local function smartlua(args) -- run in tmp: the files it writes by relative path land there
    return proc.smartlua(args, ("cd %s && env XDG_DATA_HOME=%s SMARTLEAD_API_KEY=%s SMARTLEAD_BASE_URL=%s"):format(
      q(tmp), q(tmp .. "/data"), q(support.KEY), q(server:url())))
  end

  it("stores two days, diffs them, writes the report and checks the signals", function()
    local db = tmp .. "/fleet.db"
    for _, day in ipairs { "2026-11-01", "2026-11-02" } do
      local r = smartlua { "snapshot", "--db", db, "--workspace", "acme", "--day", day }
      assert.equal(0, r.code, r.err)
      local took = "^acme: 260 accounts, %d+ campaigns in 4 requests, took the snapshot of "
      assert.matches(took .. day:gsub("%-", "%%-"), r.out)
    end
    local d = smartlua { "diff", "--db", db, "--workspace", "acme", "--from", "2026-11-01", "--to", "2026-11-02",
      "--format", "json" }
    assert.equal(0, d.code, d.err)
    assert.matches("diff 2026%-11%-01 %-> 2026%-11%-02: %d+ changes", d.err)
    local html = tmp .. "/report.html"
    local r = smartlua { "report", "--db", db, "--workspace", "acme", "--html", html }
    assert.equal(0, r.code, r.err)
    assert.truthy(proc.read(html):find("<svg", 1, true))
    local c = smartlua { "check", "--db", db, "--workspace", "acme", "--format", "csv" }
    assert.truthy(c.code == 0 or c.code == 1, c.err)
    assert.equal(c.code == 1, #c.lines > 1, "exit 1 exactly when there are alerts")
    local u = smartlua { "report", "--db", db }
    assert.equal(2, u.code)
    assert.equal("", u.out)
  end)
end)
