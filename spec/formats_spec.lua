-- smartlead.formats: the output writers of the command line, written into a string buffer.
local formats = require "smartlead.formats"
local json = require "smartlead.json"
local csv = require "smartlead.csv"

-- An out handle collecting writes; flushes counts how often the writer flushed.
local function buffer()
  local b = { parts = {}, flushes = 0 }
  function b:write(...)
    for _, s in ipairs { ... } do self.parts[#self.parts + 1] = s end
    return self
  end
  function b:flush() self.flushes = self.flushes + 1 end
  function b:text() return table.concat(self.parts) end
  return b
end

local ACCOUNT = {
  id = 3001, from_email = "olivia@x.io", type = "GMAIL", message_per_day = 100,
  password = "pw-in-clear-1", imap_password = json.null, signature = json.null,
  warmup_details = { status = "ACTIVE", warmup_reputation = "99%", token_like = "tok-2" },
  tags = json.array {},
}

local function write_all(format, records, opts)
  local out = buffer()
  local w = formats.writer(format, out, opts)
  for _, r in ipairs(records) do w:add(r) end
  w:close()
  return out:text(), out
end

describe("formats.writer json", function()
  it("writes [] for no records and a valid array otherwise", function()
    assert.equal("[]\n", (write_all("json", {})))
    local text = write_all("json", { { id = 1 }, { id = 2 } })
    assert.same({ { id = 1 }, { id = 2 } }, json.decode(text))
  end)

  it("writes each record as it is added, not at close", function()
    local out = buffer()
    local w = formats.writer("json", out, {})
    w:add { id = 1 }
    assert.matches('^%[\n  {"id":1}$', out:text())
    assert.is_true(out.flushes >= 1)
    w:close()
    assert.same({ { id = 1 } }, json.decode(out:text()))
  end)

  it("masks secret fields at any depth and keeps null as null", function()
    local got = json.decode((write_all("json", { ACCOUNT })))[1]
    assert.equal("********", got.password)
    assert.equal(json.null, got.imap_password)
    assert.equal("********", got.warmup_details.token_like)
    assert.equal(json.null, got.signature)
    assert.is_true(json.is_array(got.tags))
  end)

  it("projects --fields by dotted path, nesting them, with null for missing", function()
    local text = write_all("json", { ACCOUNT }, { fields = { "id", "warmup_details.status", "nope", "password" } })
    assert.same({ { id = 3001, warmup_details = { status = "ACTIVE" }, nope = json.null, password = "********" } },
      json.decode(text))
  end)

  it("single writes one object", function()
    assert.same({ id = 7 }, json.decode((write_all("json", { { id = 7 } }, { single = true }))))
  end)
end)

describe("formats.writer ndjson", function()
  it("writes one compact object per line and flushes each", function()
    local text, out = write_all("ndjson", { { id = 1, a = "x" }, { id = 2, a = "y" } })
    assert.equal('{"a":"x","id":1}\n{"a":"y","id":2}\n', text)
    assert.is_true(out.flushes >= 2)
  end)

  it("writes nothing for no records", function()
    assert.equal("", (write_all("ndjson", {})))
  end)
end)

describe("formats.writer csv", function()
  it("quotes comma, quote, CR and LF per RFC 4180, with CRLF line ends and UTF-8 as is", function()
    local rec = { id = 1, s = 'Hi, "Bob"\nBye', u = "Grüße – Zoë", cr = "a\rb", plain = "x" }
    local text = write_all("csv", { rec }, { fields = { "id", "s", "u", "cr", "plain" } })
    assert.equal('id,s,u,cr,plain\r\n1,"Hi, ""Bob""\nBye",Grüße – Zoë,"a\rb",x\r\n', text)
    local back = csv.records(text)
    assert.same({ id = "1", s = 'Hi, "Bob"\nBye', u = "Grüße – Zoë", cr = "a\rb", plain = "x" }, back[1])
  end)

  it("null is empty, booleans and integral floats print plainly, tables as JSON, secrets masked", function()
    local text = write_all("csv", { ACCOUNT },
      { fields = { "signature", "message_per_day", "password", "tags", "warmup_details.status" } })
    assert.equal("signature,message_per_day,password,tags,warmup_details.status\r\n,100,********,[],ACTIVE\r\n", text)
    text = write_all("csv", { { ok = true, n = 42.0 } }, { fields = { "ok", "n" } })
    assert.equal("ok,n\r\ntrue,42\r\n", text)
  end)

  it("writes the header even with no records", function()
    assert.equal("id,from_email\r\n", (write_all("csv", {}, { fields = { "id", "from_email" } })))
  end)

  it("uses a getter for computed fields", function()
    local text = write_all("csv", { { id = 1 } }, { fields = { "id", "double" },
      get = function(r, name) if name == "double" then return r.id * 2 end return r[name] end })
    assert.equal("id,double\r\n1,2\r\n", text)
  end)
end)

describe("formats.writer table", function()
  it("buffers, aligns, right-aligns numbers, prints null as null and never colours when asked not to", function()
    local text = write_all("table", { ACCOUNT, { id = 12, from_email = "b@x.io", signature = "hi" } },
      { fields = { "id", "from_email", "signature", "password" }, color = false })
    assert.equal(table.concat({
      "  ID  FROM_EMAIL   SIGNATURE  PASSWORD",
      "----  -----------  ---------  --------",
      "3001  olivia@x.io  null       ********",
      "  12  b@x.io       hi",
      "" }, "\n"), text)
  end)

  it("makes the header bold when colour is on", function()
    local text = write_all("table", { { id = 1 } }, { fields = { "id" }, color = true })
    assert.equal("\27[1mID\27[0m\n--\n 1\n", text)
  end)

  it("shows a line break inside a cell as \\n so rows stay rows", function()
    local text = write_all("table", { { s = "a\nb" } }, { fields = { "s" }, color = false })
    assert.equal("S\n----\na\\nb\n", text)
  end)
end)

describe("formats helpers", function()
  it("refuses an unknown format naming the known ones", function()
    assert.has_error(function() formats.writer("xml", buffer()) end,
      "formats: unknown format 'xml' (use table, json, ndjson, csv)")
  end)

  it("default() is json when stdout is not a terminal (as under busted)", function()
    if not require("smartlead.core").isatty(1) then assert.equal("json", formats.default()) end
  end)

  it("pretty_json indents, sorts keys, keeps empty arrays and objects apart, masks secrets", function()
    local v = { b = json.array {}, a = { x = 1, api_key = "k-123456789" }, c = { 1, 2 }, d = {}, e = json.null }
    local text = formats.pretty_json(v)
    assert.equal(table.concat({
      "{",
      '  "a": {',
      '    "api_key": "********",',
      '    "x": 1',
      "  },",
      '  "b": [],',
      '  "c": [',
      "    1,",
      "    2",
      "  ],",
      '  "d": {},',
      '  "e": null',
      "}" }, "\n"), text)
    assert.same({ a = { api_key = "********", x = 1 }, b = {}, c = { 1, 2 }, d = {}, e = json.null }, json.decode(text))
  end)

  it("is_secret_key covers password, token, secret and api_key in any case", function()
    for _, k in ipairs { "password", "smtp_password", "IMAP_PASSWORD", "refresh_token", "client_secret", "api_key",
                         "apiKey" } do
      assert.is_true(formats.is_secret_key(k), k)
    end
    for _, k in ipairs { "id", "warmup_key_id", "from_email", "username" } do
      assert.is_false(formats.is_secret_key(k), k)
    end
  end)
end)
