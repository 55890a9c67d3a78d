-- smartlead.show: the pretty printer of the REPL and of scripts.
local show = require "smartlead.show"
local core = require "smartlead.core"
local json = require "smartlead.json"

local function lines(...) return table.concat({ ... }, "\n") end

-- Three accounts as the list endpoint sends them (decoded by the project's JSON).
local ACCOUNTS = [[ [
  {"id": 7, "from_email": "ann@acme.io", "type": "SMTP", "max_email_per_day": 40,
   "warmup_details": {"status": "ACTIVE", "warmup_reputation": "97%"},
   "is_smtp_success": true, "is_imap_success": true, "campaign_count": 3,
   "smtp_password": "pw-ann"},
  {"id": 1204, "from_email": "bob.builder@example.com", "type": "GMAIL", "max_email_per_day": 100,
   "warmup_details": null, "is_smtp_success": false, "is_imap_success": true, "campaign_count": 0,
   "smtp_password": "pw-bob"},
  {"id": 88, "from_email": "cy@acme.io", "type": "OUTLOOK", "max_email_per_day": 5,
   "warmup_details": {"status": "PAUSED", "warmup_reputation": 88},
   "is_smtp_success": true, "is_imap_success": false, "campaign_count": 12,
   "smtp_password": "pw-cy"}
] ]]

local function accounts() return assert(json.decode(ACCOUNTS)) end

describe("show.format scalars", function()
  it("prints strings quoted, numbers as Lua does, integral floats without .0", function()
    assert.equal('"abc"', show.format("abc"))
    assert.equal("42", show.format(42))
    assert.equal("42", show.format(42.0))
    assert.equal("0.5", show.format(0.5))
    assert.equal("true", show.format(true))
  end)

  it("prints nil as nil and JSON null as null", function()
    assert.equal("nil", show.format(nil))
    assert.equal("null", show.format(json.null))
  end)

  it("escapes quotes, backslashes and control characters but keeps UTF-8 readable", function()
    assert.equal([["a\"b\\c\n\tZoë \001"]], show.format('a"b\\c\n\tZoë \1'))
  end)

  it("cuts long strings with a marker, at max_width or 60", function()
    assert.equal('"abcd…"', show.format("abcdefgh", { max_width = 5 }))
    assert.equal('"' .. ("x"):rep(59) .. '…"', show.format(("x"):rep(100)))
    assert.equal('"' .. ("x"):rep(60) .. '"', show.format(("x"):rep(60)))
  end)

  it("names functions and threads by type", function()
    assert.equal("<function>", show.format(print))
    assert.equal("<thread>", show.format(coroutine.create(print)))
  end)
end)

describe("show.format tables", function()
  it("indents by two spaces: sequence first, then string keys sorted, then other keys", function()
    local t = { "first", "second", zeta = 1, alpha = { beta = true, [2] = "two" }, ["not id"] = 0, [10] = "ten" }
    assert.equal(lines(
      "{",
      '  "first",',
      '  "second",',
      "  alpha = {",
      "    beta = true,",
      '    [2] = "two"',
      "  },",
      '  ["not id"] = 0,',
      "  zeta = 1,",
      '  [10] = "ten"',
      "}"), show.format(t))
  end)

  it("quotes keys that are not identifiers or are reserved words", function()
    assert.equal(lines("{", '  ["end"] = 1,', '  ["from-email"] = 2', "}"),
      show.format({ ["end"] = 1, ["from-email"] = 2 }))
  end)

  it("tells an empty JSON array from an empty object, and shows null", function()
    local v = json.decode('{"tags": [], "meta": {}, "warmup_details": null}')
    assert.equal(lines("{", "  meta = {},", "  tags = [],", "  warmup_details = null", "}"), show.format(v))
    assert.equal("[]", show.format(json.array()))
    assert.equal("{}", show.format({}))
  end)

  it("puts a short array of scalars on one line", function()
    assert.equal(lines("{", "  campaign_ids = { 3, 5, 8 }", "}"), show.format({ campaign_ids = { 3, 5, 8 } }))
  end)

  it("shows a cycle as <cycle> and a table shared by two keys twice", function()
    local t = { name = "loop" }
    t.self = t
    assert.equal(lines("{", '  name = "loop",', "  self = <cycle>", "}"), show.format(t))
    local shared = { 1 }
    assert.equal(lines("{", "  a = { 1 },", "  b = { 1 }", "}"), show.format({ a = shared, b = shared }))
  end)

  it("stops at depth with {…}", function()
    local deep = { a = { b = { c = { d = 1 } } } }
    assert.equal(lines("{", "  a = {", "    b = {…}", "  }", "}"), show.format(deep, { depth = 2 }))
    assert.equal("{…}", show.format(deep, { depth = 0 }))
    assert.truthy(show.format({ { { { { { { { "bottom" } } } } } } } }):find("{…}", 1, true)) -- default 6
  end)

  it("shows the first max_rows items of an array and how many more", function()
    assert.equal(lines("{", "  1,", "  2,", "  … 3 more", "}"), show.format({ 1, 2, 3, 4, 5 }, { max_rows = 2 }))
  end)

  it("prints a single account nested, not as a table", function()
    local out = show.format(accounts()[1])
    assert.truthy(out:find('\n  from_email = "ann@acme.io",\n', 1, true))
    assert.truthy(out:find('\n  warmup_details = {\n    status = "ACTIVE",\n', 1, true))
  end)
end)

describe("show.format secrets", function()
  it("masks secret-named fields whatever their value, and leaves null as null", function()
    local v = { smtp_password = "hunter2", imap_password = 42, api_key = "k-1", apiKey = "k-2",
                client_secret = "s", token = { access_token = "a" }, refresh_token = json.null, user = "u" }
    assert.equal(lines(
      "{",
      '  apiKey = "********",',
      '  api_key = "********",',
      '  client_secret = "********",',
      '  imap_password = "********",',
      "  refresh_token = null,",
      '  smtp_password = "********",',
      '  token = "********",',
      '  user = "u"',
      "}"), show.format(v))
  end)

  it("never prints a key the process knows, in values, keys, cells or cut strings", function()
    local KEY = "sk-test-DISTINCTIVE-123"
    core.add_secret(KEY)
    local v = { note = "key is " .. KEY, [KEY] = 1, list = { KEY }, url = "https://x/?api_key=" .. KEY }
    local rows = { { id = 1, from_email = KEY .. "@x.io" }, { id = 2, from_email = "b@x.io", signature = KEY } }
    for _, out in ipairs({ show.format(v), show.format(rows), show.format(rows, { columns = { "signature" } }),
                           show.format("......" .. KEY, { max_width = 12 }) }) do
      assert.is_nil(out:find(KEY, 1, true))
      assert.is_nil(out:find("DISTINCTIVE", 1, true))
    end
  end)

  it("prints a Client by its own __tostring, which never shows the key", function()
    local smartlead = require "smartlead"
    local client = smartlead.client { api_key = "sk-CLIENT-KEY-4242", base_url = "http://127.0.0.1:9" }
    local out = show.format({ client = client })
    client:close()
    assert.truthy(out:find("client = smartlead.Client(", 1, true))
    assert.is_nil(out:find("sk-CLIENT-KEY-4242", 1, true))
  end)
end)

describe("show.format account tables", function()
  it("aligns the default columns, numbers to the right, and counts the accounts", function()
    assert.equal(lines(
      "  id  from_email               type     daily  warmup  reputation  smtp   imap   campaigns",
      "----  -----------------------  -------  -----  ------  ----------  -----  -----  ---------",
      "   7  ann@acme.io              SMTP        40  ACTIVE          97  true   true           3",
      "1204  bob.builder@example.com  GMAIL      100                      false  true           0",
      "  88  cy@acme.io               OUTLOOK      5  PAUSED          88  true   false         12",
      "(3 accounts)"), show.format(accounts()))
  end)

  it("leaves out the campaigns column when no account has a count", function()
    local list = accounts()
    for _, a in ipairs(list) do a.campaign_count = nil end
    local header = show.format(list):match("^[^\n]*")
    assert.equal("  id  from_email               type     daily  warmup  reputation  smtp   imap", header)
  end)

  -- the dotted path holds "97%" and 88: not all numbers, so left-aligned
  it("takes columns by name or dotted path, and masks secret columns", function()
    assert.equal(lines(
      "from_email               warmup_details.warmup_reputation  reputation  smtp_password",
      "-----------------------  --------------------------------  ----------  -------------",
      "ann@acme.io              97%                                       97  ********",
      "bob.builder@example.com                                                ********",
      "cy@acme.io               88                                        88  ********",
      "(3 accounts)"),
      show.format(accounts(),
        { columns = { "from_email", "warmup_details.warmup_reputation", "reputation", "smtp_password" } }))
  end)

  it("cuts cells at max_width", function()
    local out = show.format(accounts(), { columns = { "from_email" }, max_width = 8 })
    assert.equal(lines("from_email", "----------", "ann@acm…", "bob.bui…", "cy@acme…", "(3 accounts)"), out)
  end)

  it("shows max_rows rows, how many more, and the full count", function()
    assert.equal(lines("  id", "----", "   7", "1204", "… 1 more", "(3 accounts)"),
      show.format(accounts(), { columns = { "id" }, max_rows = 2 }))
  end)

  it("prints uniform flat records as a table, id first", function()
    local stats = { { sent = 5, id = 2, date = "2024-05-01" }, { sent = 12, id = 3, date = "2024-05-02" } }
    assert.equal(lines(
      "id  date        sent",
      "--  ----------  ----",
      " 2  2024-05-01     5",
      " 3  2024-05-02    12",
      "(2 rows)"), show.format(stats))
  end)

  it("nests records that differ in shape", function()
    assert.equal(lines("{", "  {", "    a = 1", "  },", "  {", "    b = 2", "  }", "}"),
      show.format({ { a = 1 }, { b = 2 } }))
  end)
end)

describe("show colour", function()
  local value = { name = "x", n = 1, gone = json.null, list = { true } }

  it("is off by default in format and then leaves no escape byte", function()
    assert.is_nil(show.format(value):find("\27", 1, true))
    assert.is_nil(show.format(accounts()):find("\27", 1, true))
    assert.is_nil(show.format(value, { color = false }):find("\27", 1, true))
  end)

  it("paints strings green, numbers cyan, null dim, keys plain", function()
    assert.equal(lines(
      "{",
      "  gone = \27[2mnull\27[0m,",
      "  list = { \27[33mtrue\27[0m },",
      "  n = \27[36m1\27[0m,",
      "  name = \27[32m\"x\"\27[0m",
      "}"), show.format(value, { color = true }))
  end)

  it("keeps table columns aligned: only the header and the count are painted", function()
    local plain = show.format(accounts())
    local painted = show.format(accounts(), { color = true })
    assert.equal(plain, (painted:gsub("\27%[%d*m", "")))
    assert.truthy(painted:find("^\27%[1m"))
  end)
end)

describe("show.show", function()
  local real_stdout, real_isatty, real_getenv, written

  before_each(function()
    real_stdout, real_isatty, real_getenv = io.stdout, core.isatty, os.getenv
    written = {}
    io.stdout = { -- luacheck: ignore 122
      write = function(self, ...) for _, s in ipairs({ ... }) do written[#written + 1] = s end return self end }
  end)

  after_each(function()
    io.stdout, core.isatty, os.getenv = real_stdout, real_isatty, real_getenv -- luacheck: ignore 122
  end)

  -- os.getenv as if the environment held only NO_COLOR=no_color
  local function env(no_color)
    -- luacheck: ignore 122
    os.getenv = function(name) if name == "NO_COLOR" then return no_color end return real_getenv(name) end
  end

  it("writes the formatted value and a newline to io.stdout", function()
    show.show({ a = 1 }, { color = false })
    assert.equal(lines("{", "  a = 1", "}") .. "\n", table.concat(written))
  end)

  it("colours by default on a terminal when NO_COLOR is unset or empty", function()
    core.isatty = function() return true end
    env(nil)
    show.show(1)
    env("")
    show.show(2)
    assert.equal("\27[36m1\27[0m\n\27[36m2\27[0m\n", table.concat(written))
  end)

  it("does not colour when NO_COLOR is set, nor when stdout is not a terminal", function()
    core.isatty = function() return true end
    env("1")
    show.show(1)
    core.isatty = function() return false end
    env(nil)
    show.show(2)
    assert.equal("1\n2\n", table.concat(written))
  end)

  it("lets opts.color override the default either way", function()
    core.isatty = function() return false end
    show.show(1, { color = true })
    core.isatty = function() return true end
    env(nil)
    show.show(2, { color = false })
    assert.equal("\27[36m1\27[0m\n2\n", table.concat(written))
  end)

  it("refuses opts that are not a table", function()
    local ok, err = pcall(show.show, 1, "wide")
    assert.is_false(ok)
    assert.truthy(err:find("smartlead.show: opts must be a table", 1, true))
  end)
end)
