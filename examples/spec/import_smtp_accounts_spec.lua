-- Importing accounts from a CSV file: bad rows are not sent, existing addresses are not doubled.
local t = require "smartlead.testing"

describe("examples/import_smtp_accounts.lua", function()
  local mock

  setup(function() mock = t.mock() end)
  teardown(function() mock:stop() end)
  before_each(function() mock:reset() end)

  it("--dry-run checks every row and sends nothing", function()
    local r = mock:run("examples/import_smtp_accounts.lua", { "--dry-run", "examples/accounts.csv" })
    assert.is_true(r.ok, r.error)
    assert.matches("line 5: bad row, not sent: imap_port", r.output)
    assert.matches("5 rows: 4 to send, 1 bad", r.output)
    assert.same({}, mock:requests())
  end)

  it("adds the good rows once, reports the address already there, exits 1 for the bad row", function()
    local before = #mock:state().accounts
    local r = mock:run("examples/import_smtp_accounts.lua", { "examples/accounts.csv" })
    assert.equal(1, r.code) -- a bad row makes the run fail, after the good ones
    assert.matches("added 3, added with connection errors 0, already there 1, failed 0, bad rows 1", r.output)
    assert.equal(before + 3, #mock:state().accounts)
    assert.equal(4, #mock:writes("/email-accounts/save"))
    assert.is_nil(r.output:find("FAKE-import-pw", 1, true)) -- passwords never printed
  end)
end)
