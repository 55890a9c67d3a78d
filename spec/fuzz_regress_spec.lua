-- What the fuzz targets (fuzz/, `make fuzz`) found, kept as cases, and hostile inputs for each
-- reader with the clean outcome it must give: a value, or nil and a message that says what is
-- wrong; never a Lua runtime error ("attempt to index a nil value") from bad input.
local json = require "smartlead.json"
local csv = require "smartlead.csv"
local journal = require "smartlead.journal"
local planlib = require "smartlead.plan"
local core = require "smartlead.core"
local support = require "support"

-- Calls f under pcall and fails the test on a raise; returns what f returned.
local function clean(f, ...)
  local r = table.pack(pcall(f, ...))
  assert(r[1], "raised: " .. tostring(r[2]))
  return table.unpack(r, 2, r.n)
end

describe("fuzz regressions", function()
  describe("json.decode", function()
    -- fuzz_json: a server answer with a Latin-1 byte decoded, and then the journal's
    -- json.encode of that answer raised "cannot encode a string that is not valid UTF-8".
    -- The old codec wrote U+FFFD for such bytes; since lua-cjson, such text is refused where the
    -- bad byte is, so nothing that is not UTF-8 is ever decoded (and so all that is decoded encodes).
    it("refuses bytes that are not UTF-8, so what was decoded always encodes", function()
      local cases = {
        { '{"ok":true,"warmupKey":"apple-key\149\149es"}', 34 },
        { '"\192\175"', 2 },                 -- overlong "/"
        { '"\237\160\128"', 2 },             -- a surrogate written as UTF-8
        { '"\226\130"', 2 },                 -- a sequence cut short by the quote
        { '"\244\144\128\128"', 2 },         -- above U+10FFFF
        { '{"k\255":1}', 4 },                -- in a key
      }
      for _, c in ipairs(cases) do
        local v, err = clean(json.decode, c[1])
        assert.is_nil(v, c[1])
        assert.equal(("invalid JSON at byte %d: invalid UTF-8 in a string"):format(c[2]), err)
      end
      local s = assert(json.decode('"caf\195\169"')) -- valid UTF-8 stays as it is
      assert.equal("caf\195\169", s)
      assert.equal('"caf\195\169"', json.encode(s))
    end)

    -- fuzz_json: 1e400 decoded as infinity, which no encoding holds.
    it("refuses numbers beyond the range of a double instead of decoding infinity", function()
      for _, text in ipairs { "1e400", "[-1e999]", '{"a":1E+309}' } do
        local v, err = json.decode(text)
        assert.is_nil(v, text)
        assert.matches("number out of range", err, 1, true)
      end
      assert.equal(1.7976931348623157e308, json.decode("1.7976931348623157e308"))
      assert.equal(0.0, json.decode("1e-400"))
    end)

    -- fuzz_json: integral floats of 2^53 and more went out as 1e+20 (or 2.9223372036854776e+19).
    -- lua-cjson reads numbers as doubles: 2^63 - 1 comes back as the double 2^63 (a float, beyond
    -- the integers), where the old codec kept it exact.
    it("writes integers in plain digits up to 10^21, whether they are integers or floats", function()
      assert.equal("9223372036854775808", json.encode(json.decode("9223372036854775807")))
      assert.equal("9223372036854775807", json.encode(math.maxinteger))
      assert.equal("integer", math.type(json.decode("-9223372036854775808")))
      assert.equal("12345678901234567168", json.encode(json.decode("12345678901234567890")))
      assert.equal("1152921504606846976", json.encode(2 ^ 60))
      assert.equal("100000000000000000000", json.encode(1e20))
      assert.equal("1e+21", json.encode(1e21))
      assert.equal("[29223372036854775808]", json.encode(json.decode("[29223372036854775807]")))
      local big = json.decode(json.encode(2 ^ 60))
      assert.equal("integer", math.type(big)) -- and it comes back as an integer
    end)

    -- fuzz_json: -0.0 encoded as "-0", which decodes as the integer 0: two texts for one value.
    it("writes -0.0 as 0, so encoding is stable after one round", function()
      assert.equal("0", json.encode(-0.0))
      assert.equal("0", json.encode(json.decode("-0.0")))
      assert.equal("[0,0]", json.encode(json.decode("[-0,-0.0]")))
    end)

    -- Keys were sorted and pushed as C strings: "a\0b" became "a" and its value was lost.
    it("keeps object keys that hold NUL bytes", function()
      local v = assert(json.decode('{"a\\u0000b":1,"a":2,"a\\u0000c":3}'))
      local back = assert(json.decode(json.encode(v)))
      assert.same({ ["a\0b"] = 1, a = 2, ["a\0c"] = 3 }, back)
      assert.equal('{"a":2,"a\\u0000b":1,"a\\u0000c":3}', json.encode(v))
    end)

    it("answers hostile text with nil and where it went wrong", function()
      local cases = {
        { ("["):rep(101) .. ("]"):rep(101), "nested too deeply" },
        { ('{"a":'):rep(101) .. "1" .. ("}"):rep(101), "nested too deeply" },
        { '{"ok":true,"data":{"id":28', "byte 27: expected ',' or '}'" },
        { '{"ok":true,"data":', "unexpected end" },
        { '{"ok":true,"message":"Email acc', "unterminated string" },
        { '"a\0b"', "control character" },
        { "\0", "unexpected character" },
        { "[1]\0", "trailing characters" },
        { "1" .. ("0"):rep(80), "number too long" },
        { '"\\u12"', "short \\u escape" },
        { '"\\x41"', "bad escape" },
        { "\239\187\191{}", "unexpected character" }, -- a byte-order mark is not JSON
        { "", "unexpected end" },
      }
      for _, c in ipairs(cases) do
        local v, err = clean(json.decode, c[1])
        assert.is_nil(v, c[1])
        assert.matches("^invalid JSON at byte %d+: ", err)
        assert.matches(c[2], err, 1, true)
      end
      assert.is_table(json.decode(("["):rep(100) .. ("]"):rep(100)))
      assert.equal("a\0b", json.decode('"a\\u0000b"'))
    end)
  end)

  describe("csv", function()
    local function round_trip(rows)
      for _, eol in ipairs { "\r\n", "\n" } do
        assert.same(rows, assert(csv.parse(csv.encode(rows, { eol = eol }))))
      end
    end

    -- fuzz_csv: the one-field row "" was written as a blank line, which the reader skips.
    it("writes a row of one empty field so that it reads back", function()
      local rows = assert(csv.parse('""\n'))
      assert.same({ { "" } }, rows)
      round_trip(rows)
      round_trip { { "a" }, { "" }, { "b" } }
      assert.equal('""\r\n', csv.encode { { "" } })
    end)

    -- A first field starting with a byte-order mark lost it on the way back.
    it("quotes a field that starts with a byte-order mark", function()
      round_trip { { "\239\187\191id", "x" }, { "1", "2" } }
      assert.same({ { "id" } }, csv.parse("\239\187\191id\n")) -- the file's own mark is dropped
    end)

    it("answers hostile text with nil and the line", function()
      local cases = {
        { "a,b\n\"unterminated\n", "line 2: unterminated quoted field" },
        { "a\n\"x\"y\n", "line 2: unexpected text after a closing quote" },
        { 'a,b\n1,x"y\n', "line 2: quote inside an unquoted field (quote the whole field)" },
        { "a,b\n1\n", "line 2: 1 fields where the first row has 2" },
        { "a\nb\n\255\n", "line 3: invalid UTF-8 at byte 5" },
        { "\"a\n\n\nb\"\n\"", "line 5: unterminated quoted field" }, -- the quote opens line 5
      }
      for _, c in ipairs(cases) do
        local rows, err = clean(csv.parse, c[1])
        assert.is_nil(rows, c[1])
        assert.equal(c[2], err)
      end
      assert.same({ { "a\0b", "c" } }, csv.parse("a\0b,c")) -- NUL is a byte like any other
      local records, err = csv.records("name,name\n1,2\n")
      assert.is_nil(records)
      assert.equal("line 1: column 'name' appears twice", err)
      assert.same({ ("x"):rep(100000) }, csv.parse(("x"):rep(100000))[1])
    end)
  end)

  describe("journal.parse", function()
    local BEGIN = '{"type":"begin","journal":1,"mode":"journal","pid":1}'
    local INTENT = '{"type":"intent","seq":1,"op":"update_email_account","target":{"account":3002},'
      .. '"fields":{"max_email_per_day":5},"before":{"max_email_per_day":10}}'
    local RESULT = '{"type":"result","seq":1,"status":"ok","answer":{"ok":true}}'

    -- fuzz_journal: records undo and --resume cannot read were accepted, and undo then died
    -- with "attempt to index a nil value (field 'target')" (or a bad argument to format).
    it("refuses records that undo and resume could not read, naming the line and why", function()
      local cases = {
        { '{"type":"intent","seq":1,"op":"update_email_account"}', "target is not an object" },
        { '{"type":"intent","seq":1,"op":"update_email_account","target":{"account":1}}', "fields is not an object" },
        { '{"type":"intent","seq":"1","op":"update_email_account","target":{"account":1},"fields":{}}',
          "seq is not a positive integer" },
        { '{"type":"intent","seq":1.5,"op":"update_warmup","target":{"account":1},"fields":{}}',
          "seq is not a positive integer" },
        { '{"type":"intent","seq":1,"op":"add_campaign_email_accounts","target":{"campaign":1.5},'
          .. '"fields":{"email_account_ids":[1]}}', "target.campaign is not a positive integer" },
        { '{"type":"intent","seq":1,"op":"remove_campaign_email_accounts","target":{"campaign":7},'
          .. '"fields":{"email_account_ids":"3001"}}', "email_account_ids is not a list of ids" },
        { '{"type":"intent","seq":1,"op":"add_campaign_email_accounts","target":{"campaign":7},'
          .. '"fields":{"email_account_ids":[1]},"before":{"attached":{"a":1}}}',
          "before.attached is not a list of ids" },
        { '{"type":"intent","seq":1,"op":"update_email_account","target":{"account":1},"fields":{},"before":null}',
          "before is not an object" },
        { '{"type":"intent","seq":1,"op":"request","target":{"method":"POST"},"fields":{}}',
          "request without target.method and target.path" },
        { '{"type":"intent","seq":1,"op":"add_smtp_account","target":{"email":42},"fields":{}}',
          "target.email is not a string" },
        { '{"type":"intent","seq":1,"op":"drop_everything","target":{},"fields":{}}', 'unknown op "drop_everything"' },
        { '{"type":"result","seq":1}', "a result without a status" },
        { '{"type":7}', "no record type" },
        { "null", "not a JSON object" },
        { "[1,2]", "no record type" },
        { "{broken", "invalid JSON" },
      }
      for _, c in ipairs(cases) do
        local records, err = clean(journal.parse, BEGIN .. "\n" .. c[1] .. "\n" .. RESULT .. "\n")
        assert.is_nil(records, c[1])
        assert.matches("^line 2 is not a journal record: ", err)
        assert.matches(c[2], err, 1, true)
      end
    end)

    it("still reads what the program writes, and drops only a last line cut short", function()
      local records = assert(journal.parse(BEGIN .. "\n" .. INTENT .. "\n" .. RESULT .. "\n"))
      assert.equal(3, #records)
      assert.equal("ok", journal.index(records).by_seq[1].result.status)
      assert.equal(2, #assert(journal.parse(BEGIN .. "\r\n" .. INTENT .. "\r\n" .. '{"type":"result","se')))
      assert.same({}, journal.parse(""))
      assert.same({}, journal.parse("\n\n"))
      local with_null =
        '{"type":"intent","seq":2,"op":"update_email_account","target":{"account":3},"fields":{"bcc":null}}'
      assert.equal(json.null, journal.parse(with_null .. "\n")[1].fields.bcc)
      local odd, oerr = clean(journal.parse, '{"type":"begin","note":"caf\255"}\n') -- invalid UTF-8 in a value
      assert.is_nil(odd)
      assert.equal("line 1 is not a journal record: invalid JSON at byte 28: invalid UTF-8 in a string", oerr)
      local ok, err = clean(journal.parse, 42)
      assert.is_nil(ok)
      assert.matches("a journal is text", err)
    end)

    -- Found while profiling fuzz_journal (390 inputs/s): text:match("([^\n]*)$") retried from
    -- every byte, so a journal whose last line is 64 KB took 35 s to read.
    it("reads a journal with very long lines in linear time", function()
      local long = '{"type":"begin","note":"' .. ("a"):rep(1 << 18) .. '"}'
      local started = os.clock()
      local records = assert(journal.parse(long .. "\n" .. long))
      assert.equal(1, #records) -- the second line has no newline: cut short
      assert.is_true(os.clock() - started < 2, "took " .. (os.clock() - started) .. " s")
    end)
  end)

  describe("plan.decode (smartlua apply FILE)", function()
    local OP = '{"op":"update_email_account","target":{"account":3009},"fields":{"max_email_per_day":50},'
      .. '"before":{"max_email_per_day":100}}'
    local function doc(ops, names) return ('{"smartlua_plan":1,"ops":%s,"names":%s}'):format(ops, names or "[]") end

    -- fuzz_plan: a plan file with an op lacking its target read fine, and then apply died in
    -- Plan:totals with "attempt to index a nil value (field 'target')".
    it("refuses a plan whose ops apply could not read, before anything uses it", function()
      local cases = {
        { doc('[{"op":"update_email_account","fields":{}}]'), "op 1: target is not an object" },
        { doc("[" .. OP .. ',{"op":"update_warmup","target":{"account":true},"fields":{}}]'),
          "op 2: target.account is not a positive integer" },
        { doc('[{"op":"add_campaign_email_accounts","target":{"campaign":{}},"fields":{"email_account_ids":[1]}}]'),
          "target.campaign is not a positive integer" },
        { doc('[{"op":"request","target":{"method":"POST","path":7},"fields":{}}]'), "target.path is not a string" },
        { doc('[{"op":"add_oauth_account","target":{"email":"a@b.co"}}]'), "fields is not an object" },
        { doc("[5]"), "op 1: not an object" },
        { doc("5"), "ops is not a list" },
        { doc('{"a":1}'), "ops is not a list" },
        { doc("[" .. OP .. "]", '[{"id":true,"email":"a@b.co"}]'), "names[1] is not" },
        { doc("[" .. OP .. "]", '[{"id":3009,"email":{}}]'), "names[1] is not" },
      }
      for _, c in ipairs(cases) do
        local p, err = clean(planlib.decode, c[1], "plan.json")
        assert.is_nil(p, c[1])
        assert.matches("^plan%.json: not a valid smartlua plan: ", err)
        assert.matches(c[2], err, 1, true)
      end
    end)

    it("reads a good plan and everything apply does with it before sending works", function()
      local p = assert(planlib.decode(doc("[" .. OP .. "]", '[{"id":3009,"email":"liam@x.io"},{"id":1,"email":null}]'),
        "plan.json"))
      assert.equal(1, p:totals().accounts)
      assert.same({ "3009 liam@x.io", "  max_email_per_day: 100 -> 50",
        "Plan: 1 account changed, 1 field changed, 0 attaches, 0 detaches." }, p:lines())
      local again = assert(planlib.decode(p:encode(), "again.json"))
      assert.same(p:lines(), again:lines())
    end)

    it("answers other hostile files with nil and the file name", function()
      local cases = {
        { "", "plan.json: not a smartlua plan (invalid JSON at byte 1: unexpected end)" },
        { ('{"smartlua_plan":1,"ops":[' .. OP), "plan.json: not a smartlua plan (invalid JSON" },
        { "[]", "plan.json: not a smartlua plan" },
        { '{"smartlua_plan":{"v":2}}', 'plan.json: plan version {"v":2}, this smartlua reads 1' },
        { '{"smartlua_plan":2}', "plan.json: plan version 2, this smartlua reads 1" },
        { "\0\1\2", "plan.json: not a smartlua plan (invalid JSON" },
      }
      for _, c in ipairs(cases) do
        local p, err = clean(planlib.decode, c[1], "plan.json")
        assert.is_nil(p)
        assert.equal(c[2], err:sub(1, #c[2]))
      end
      assert.same({}, assert(planlib.decode('{"smartlua_plan":1}', "plan.json")).ops)
    end)
  end)

  describe("endpoint validation and query strings", function()
    local client
    setup(function() client = core.new_client { api_key = "fuzz-spec-key-0123", base_url = "http://127.0.0.1:9" } end)
    teardown(function() client:close() end)

    local OAUTH = { from_name = "Oz", from_email = "oz@x.io", username = "oz@x.io", type = "GMAIL",
      token = { token_type = "Bearer", scope = "s", access_token = "a", refresh_token = "r", expiry_date = 1 },
      warmup_enabled = false,
      use_whitelabel_credentials = false }
    local function with(fields)
      local t = {}
      for k, v in pairs(OAUTH) do t[k] = v end
      for k, v in pairs(fields) do t[k] = v end
      return t
    end

    -- Enum values and field names were compared as C strings: "GMAIL\0x" passed as GMAIL and
    -- went into the body as is; {["limit\0x"] = 5} passed as limit.
    it("compares enum values and field names with their whole length", function()
      assert.is_true(core.validators.add_oauth_account(client, OAUTH))
      local ok, err = core.validators.add_oauth_account(client, with { type = "GMAIL\0x" })
      assert.is_nil(ok)
      assert.equal("type", err.field)
      ok, err = core.validators.get_email_accounts(client, { ["limit\0x"] = 5 })
      assert.is_nil(ok)
      assert.matches("contains a NUL byte", err.message, 1, true)
      ok, err = core.validators.add_oauth_account(client, with { token = { access_token = "a", refresh_token = "r",
        expiry_date = 1, ["scope\0"] = "x" } })
      assert.is_nil(ok)
      assert.equal("token", err.field)
    end)

    it("puts only the id's digits in a path, whatever the value", function()
      local _, err = core.validators.update_email_account(client, 42.0, { bogus = 1 })
      assert.equal("/email-accounts/42", err.path)
      for _, id in ipairs { 0, -1, 1.5, math.mininteger } do
        local ok, e = core.validators.get_warmup_stats(client, id)
        assert.is_nil(ok)
        assert.equal("/email-accounts/{id}/warmup-stats", e.path)
      end
      assert.has_error(function() core.validators.update_email_account(client, "../42", {}) end)
    end)

    describe("client:request query values", function()
      local server, sclient
      setup(function()
        server = support.server()
        sclient = server:client()
      end)
      teardown(function()
        sclient:close()
        server:stop()
      end)

      -- fuzz_request: floats went out with %.14g: 1e15 as "1e+15", whose '+' a server reads as
      -- a space, NaN as "nan", and 0.1 + 0.2 as 0.3.
      it("writes numbers in plain digits or exactly, percent-encoded, and refuses NaN and infinity", function()
        local q = { big = 1e15, half = 0.5, sum = 0.1 + 0.2, tiny = 1e-300, int = 7.0, neg = -0.0 }
        sclient:request("GET", "/email-accounts/", { query = q })
        local got = support.last_request(server).query
        assert.equal("1000000000000000", got.big)
        assert.equal("0.5", got.half)
        assert.equal(0.1 + 0.2, tonumber(got.sum))
        assert.equal(1e-300, tonumber(got.tiny))
        assert.equal("7", got.int)
        assert.equal("0", got.neg)
        for _, bad in ipairs { 0 / 0, math.huge, -math.huge } do
          local ok, err = sclient:request("GET", "/email-accounts/", { query = { x = bad } })
          assert.is_nil(ok)
          assert.equal("validation", err.kind)
          assert.matches("must be a finite number", err.message, 1, true)
        end
      end)

      -- A key with a NUL byte went out cut short ("a\0b" as "a").
      it("refuses query names with a NUL byte", function()
        local ok, err = sclient:request("GET", "/email-accounts/", { query = { ["limit\0x"] = 5 } })
        assert.is_nil(ok)
        assert.equal("validation", err.kind)
        assert.matches("must not contain a NUL byte", err.message, 1, true)
      end)
    end)
  end)

  describe("answer headers (fuzz_headers)", function()
    local function retry_after(value)
      return core.parse_headers("Retry-After: " .. value .. "\r\n").retry_after
    end

    it("takes only delta-seconds or an HTTP date for Retry-After, never inf or exponents", function()
      -- strtod took these: "inf" made err.retry_after inf and the message "Retry-After infs"
      for _, v in ipairs { "inf", "infinity", "1e999", "0x10", "nan", "-3", "1e3", "12abc", "9999999999" } do
        assert.equal(-1, retry_after(v), v)
      end
      assert.equal(30, retry_after("30"))
      assert.equal(1.5, retry_after("1.5"))
      assert.equal(12, retry_after("  12  "))
      assert.equal(0, retry_after("Wed, 21 Oct 2015 07:28:00 GMT")) -- a date in the past: now
    end)

    it("reads x-ratelimit-* as counts, -1 when absent or not a count", function()
      local h = core.parse_headers("x-ratelimit-limit: 10\r\nx-ratelimit-remaining: 7\r\nX-RateLimit-Reset: -5\r\n")
      assert.same({ 10, 7, -1 }, { h.rl_limit, h.rl_remaining, h.rl_reset })
      assert.equal(-1, core.parse_headers("x-ratelimit-limit: 1e99\r\n").rl_limit)
    end)
  end)
end)
