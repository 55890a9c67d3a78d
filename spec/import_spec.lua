-- smartlead.import: the rows of an SMTP accounts CSV, checked and typed, with their line numbers.
local import = require "smartlead.import"
local json = require "smartlead.json"

local HEADER = "from_name,from_email,user_name,password,smtp_host,smtp_port,imap_host,imap_port"

-- A CSV text: the required columns, then the `extra` ones (comma-separated), then the rows.
local function sheet(extra, rows)
  local lines = { HEADER .. (extra and ("," .. extra) or "") }
  for _, row in ipairs(rows) do lines[#lines + 1] = row end
  return table.concat(lines, "\r\n") .. "\r\n"
end

-- The 8 required cells of a good row for this address, then `tail` (",cell,cell" or nil).
local function good_row(email, tail)
  return ("Ada,%s,%s,pw-%s,smtp.x.io,587,imap.x.io,993"):format(email, email, email) .. (tail or "")
end

describe("import.smtp_rows", function()
  it("types the cells of good rows and numbers each row by its line", function()
    local rows = assert(import.smtp_rows(sheet(
      "warmup_enabled,max_email_per_day,type,client_id,reply_rate_percentage,is_suspended,bcc",
      { good_row("a@x.io", ",no,40,gmail,12,30,yes,copy@x.io"), good_row("b@x.io", ",,,,null,,,") })))
    assert.equal(2, #rows)
    assert.same({
      from_name = "Ada", from_email = "a@x.io", user_name = "a@x.io", password = "pw-a@x.io",
      smtp_host = "smtp.x.io", smtp_port = 587, imap_host = "imap.x.io", imap_port = 993,
      warmup_enabled = false, max_email_per_day = 40, type = "GMAIL", client_id = 12,
      reply_rate_percentage = 30, is_suspended = true, bcc = "copy@x.io",
    }, rows[1].fields)
    assert.same({ 2, "a@x.io" }, { rows[1].line, rows[1].from_email })
    assert.is_nil(rows[1].problems)
    assert.equal(3, rows[2].line)
    assert.is_true(rows[2].fields.warmup_enabled) -- the default
    assert.equal(json.null, rows[2].fields.client_id)
    assert.is_nil(rows[2].fields.max_email_per_day) -- an empty cell is "not set"
    assert.equal(math.type(rows[2].fields.smtp_port), "integer")
  end)

  it("reads quoted cells with commas, quotes and line breaks, and counts the lines they span", function()
    local rows = assert(import.smtp_rows(sheet("signature", {
      '"Hopper, Grace",g@x.io,g,"pw,with ""quotes""",smtp.x.io,465,imap.x.io,993,"Grace\r\nHopper"',
      good_row("b@x.io", ',"one\ntwo\nthree"'),
      good_row("c@x.io", ","),
    })))
    assert.same({ 2, 4, 7 }, { rows[1].line, rows[2].line, rows[3].line })
    assert.equal("Hopper, Grace", rows[1].fields.from_name)
    assert.equal('pw,with "quotes"', rows[1].fields.password)
    assert.equal("Grace\r\nHopper", rows[1].fields.signature)
    assert.equal("one\ntwo\nthree", rows[2].fields.signature)
  end)

  it("reports each kind of bad cell with what it must be and the value given", function()
    local cases = {
      { "", "Ada,not-an-email,u,pw,smtp.x.io,587,imap.x.io,993",
        "from_email must be an email address, got 'not-an-email'" },
      { "", "Ada,a@x.io,u,pw,smtp.x.io,99999,imap.x.io,993",
        "smtp_port must be a whole number from 1 to 65535, got '99999'" },
      { "", "Ada,a@x.io,u,pw,smtp.x.io,587,imap.x.io,99x3",
        "imap_port must be a whole number from 1 to 65535, got '99x3'" },
      { "", "Ada,a@x.io,u,pw,smtp.x.io,0,imap.x.io,993", "smtp_port must be a whole number from 1 to 65535, got '0'" },
      { "max_email_per_day", good_row("a@x.io", ",-1"), "max_email_per_day must be a whole number >= 0, got '-1'" },
      { "daily_rampup", good_row("a@x.io", ",2.5"), "daily_rampup must be a whole number >= 0, got '2.5'" },
      { "reply_rate_percentage", good_row("a@x.io", ",101"),
        "reply_rate_percentage must be a whole number from 0 to 100, got '101'" },
      { "warmup_enabled", good_row("a@x.io", ",maybe"), "warmup_enabled must be true or false, got 'maybe'" },
      { "type", good_row("a@x.io", ",yahoo"), "type must be one of GMAIL, OUTLOOK, SMTP, got 'yahoo'" },
      { "client_id", good_row("a@x.io", ",0"), "client_id must be a whole number >= 1, got '0'" },
      { "bcc", good_row("a@x.io", ",copy at x"), "bcc must be an email address, got 'copy at x'" },
      { "", "Ada,a@x.io,,pw,smtp.x.io,587,imap.x.io,993", "user_name is empty" },
    }
    for _, c in ipairs(cases) do
      local extra = c[1] ~= "" and c[1] or nil
      local rows = assert(import.smtp_rows(sheet(extra, { good_row("ok@x.io", extra and ","), c[2] })))
      assert.same({ line = 3, problems = { c[3] } }, { line = rows[2].line, problems = rows[2].problems })
      assert.is_nil(rows[2].fields)
      assert.truthy(rows[1].fields) -- a bad row does not spoil the others
    end
  end)

  it("lists every problem of a row, sorted, and never a password", function()
    local rows = assert(import.smtp_rows(sheet("imap_password,warmup_enabled",
      { "Ada,bad,,PW-secret-1,smtp.x.io,,imap.x.io,993,IMAP-secret-1,sometimes" })))
    assert.same({
      "from_email must be an email address, got 'bad'",
      "smtp_port is empty",
      "user_name is empty",
      "warmup_enabled must be true or false, got 'sometimes'",
    }, rows[1].problems)
    local text = table.concat(rows[1].problems, "\n")
    assert.is_nil(text:find("secret", 1, true))
  end)

  it("makes the second row with the same address bad, whatever its case", function()
    local rows = assert(import.smtp_rows(sheet(nil, { good_row("a@x.io"), good_row("b@x.io"), good_row("A@X.io") })))
    assert.truthy(rows[2].fields)
    assert.same({ "from_email repeats line 2" }, rows[3].problems)
    assert.equal("A@X.io", rows[3].from_email)
  end)

  it("refuses a file whose header is not usable, or that is not CSV", function()
    assert.same({ nil, "unknown column 'username' (did you mean 'user_name'?)" },
      { import.smtp_rows("from_email,username\na@b.io,x\n") })
    assert.same({ nil, "unknown column 'id'" }, { import.smtp_rows(HEADER .. ",id\n") })
    assert.same({ nil, "missing columns: imap_host, imap_port, password" },
      { import.smtp_rows("from_name,from_email,user_name,smtp_host,smtp_port\n") })
    assert.same({ nil, "missing column: password" },
      { import.smtp_rows((HEADER:gsub("password,", ""))) })
    local rows, err = import.smtp_rows(sheet(nil, { 'Ada,"a@x.io,a,pw,smtp.x.io,587,imap.x.io,993' }))
    assert.is_nil(rows)
    assert.matches("^line 2: ", err)
  end)

  it("takes every field of add_smtp_account but id as a column", function()
    assert.equal("port", import.COLUMNS.smtp_port)
    assert.equal("bool", import.COLUMNS.is_suspended)
    assert.equal("text", import.COLUMNS.signature)
    assert.is_nil(import.COLUMNS.id)
    assert.is_true(import.REQUIRED.password)
  end)
end)

describe("import.smtp_file", function()
  it("reads a file and names it in errors", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(sheet(nil, { good_row("a@x.io") }))
    f:close()
    local rows = assert(import.smtp_file(path))
    assert.same({ 2, "a@x.io" }, { rows[1].line, rows[1].fields.from_email })
    f = assert(io.open(path, "wb"))
    f:write("from_email,username\n")
    f:close()
    local _, err = import.smtp_file(path)
    os.remove(path)
    assert.equal(path .. ": unknown column 'username' (did you mean 'user_name'?)", err)
    _, err = import.smtp_file(path)
    assert.matches("No such file", err)
  end)
end)

describe("import.row_result and import.scrub", function()
  local PW, IMAP_PW = "p%w.(1)*,\"x\"", "imap-PW-2"
  local row = { line = 7, from_email = "a@x.io",
    fields = { from_email = "a@x.io", password = PW, imap_password = IMAP_PW } }
  local function api_error(code, message, extra)
    local e = { code = code, message = message, kind = "http", status = 400 }
    for k, v in pairs(extra or {}) do e[k] = v end
    return setmetatable(e, { __tostring = function(x) return "http 400 " .. x.code .. ": " .. x.message end })
  end

  it("masks both passwords, pattern characters and all, wherever they stand", function()
    local text = import.scrub(("login %s failed; imap %s; again %s"):format(PW, IMAP_PW, PW), row.fields)
    assert.equal("login *** failed; imap ***; again ***", text)
    assert.equal("nothing to hide", import.scrub("nothing to hide", {}))
  end)

  it("says added with the new id, exists with the old one, failed without a password", function()
    assert.same({ line = 7, from_email = "a@x.io", status = "added", id = 3300 },
      import.row_result(row, { ok = true, email_account_id = 3300 }))
    assert.same({ line = 7, from_email = "a@x.io", status = "added", id = 3301 },
      import.row_result(row, { ok = true, data = { id = 3301 } }))
    assert.same({ line = 7, from_email = "a@x.io", status = "exists", id = 3001, error = "already in SmartLead" },
      import.row_result(row, nil, api_error("ACCOUNT_ALREADY_EXIST", "exists", { email_account_id = 3001 })))
    local r = import.row_result(row, nil, api_error("ACCOUNT_VERIFICATION_FAILED", "cannot log in with " .. PW))
    assert.same({ "failed", "http 400 ACCOUNT_VERIFICATION_FAILED: cannot log in with ***" }, { r.status, r.error })
  end)

  it("says invalid, with every problem, for a bad row", function()
    local bad = { line = 4, from_email = "x",
      problems = { "from_email must be an email address, got 'x'", "smtp_port is empty" } }
    assert.same({ line = 4, from_email = "x", status = "invalid",
      error = "from_email must be an email address, got 'x'; smtp_port is empty" }, import.row_result(bad))
  end)
end)
