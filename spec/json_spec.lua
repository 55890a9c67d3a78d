local json = require "smartlead.json"

describe("smartlead.json", function()
  describe("decode", function()
    -- lua-cjson reads every number as a double: what has an integral value becomes an integer
    -- (so 1.0 and 1e3 do too, where the old codec kept them floats), ids up to 2^53 - 1 are
    -- exact, and a larger integer is the nearest double (123456789012345678 -> ...680).
    it("gives integers as Lua integers and keeps floats", function()
      local v = assert(json.decode('{"id":42,"rate":0.5,"big":9007199254740991,"neg":-7,"exp":1e3,"one":1.0}'))
      assert.equal("integer", math.type(v.id))
      assert.equal(42, v.id)
      assert.equal("float", math.type(v.rate))
      assert.equal(9007199254740991, v.big)
      assert.equal("integer", math.type(v.big))
      assert.equal(-7, v.neg)
      assert.equal(1000, v.exp)
      assert.equal("integer", math.type(v.exp))
      assert.equal("integer", math.type(v.one))
      assert.equal("/x/42", "/x/" .. v.id)
      assert.equal(123456789012345680, json.decode("123456789012345678"))
    end)

    it("keeps [] and {} apart and marks arrays", function()
      local v = assert(json.decode('{"a":[],"o":{},"l":[1,2]}'))
      assert.is_true(json.is_array(v.a))
      assert.is_false(json.is_array(v.o))
      assert.is_true(json.is_array(v.l))
      assert.same({ 1, 2 }, { v.l[1], v.l[2] })
      assert.equal('{"a":[],"l":[1,2],"o":{}}', json.encode(v))
      v = assert(json.decode(' [ [ ] , { } , [ [\n] ] ] '))
      local marks = { json.is_array(v[1]), json.is_array(v[2]), json.is_array(v[3]), json.is_array(v[3][1]) }
      assert.same({ true, false, true, true }, marks)
      assert.equal(0, #v[1])
      assert.is_nil(next(v[1]))
      assert.equal("[[],{},[[]]]", json.encode(v))
    end)

    -- Each empty array reaches cjson as [nan]; nothing from the text can look like that marker.
    it("never turns a string, a number or an object into an array", function()
      local v = assert(json.decode('{"s":"[]","t":"[ ]","u":["[]"],"w":"[nan]","k":{"[]":[]},"e":{}}'))
      assert.same({ "[]", "[ ]", "[nan]" }, { v.s, v.t, v.w })
      assert.equal("[]", v.u[1])
      assert.is_false(json.is_array(v.k))
      assert.is_true(json.is_array(v.k["[]"]))
      assert.is_false(json.is_array(v.e))
      for _, text in ipairs { "[nan]", "[NaN]", "[-nan]", "[inf]", "[Infinity]", "[0x0]", '{"a":nan}' } do
        local r, err = json.decode(text)
        assert.is_nil(r, text)
        assert.matches("^invalid JSON at byte %d+: ", err)
      end
    end)

    it("gives null as json.null, distinct from an absent key", function()
      local v = assert(json.decode('{"warmup_details":null}'))
      assert.equal(json.null, v.warmup_details)
      assert.is_nil(v.other)
      assert.equal('{"warmup_details":null}', json.encode(v))
    end)

    -- cjson refuses a lone surrogate; the old codec wrote U+FFFD for it.
    it("decodes escapes and surrogate pairs to UTF-8, and refuses lone surrogates", function()
      assert.equal("é😀\n\"/", json.decode('"\\u00e9\\ud83d\\ude00\\n\\"\\/"'))
      for _, text in ipairs { '"\\ud800"', '"\\udc00"', '"\\ud800\\u0041"' } do
        local v, err = json.decode(text)
        assert.is_nil(v, text)
        assert.equal("invalid JSON at byte 2: lone surrogate in \\u escape", err)
      end
    end)

    -- Invalid UTF-8 is refused where it is (the old codec wrote U+FFFD for each bad byte).
    it("refuses strings and keys that are not valid UTF-8, naming the byte", function()
      local cases = {
        { '{"ok":true,"warmupKey":"apple-key\149es"}', 34 },
        { '{"caf\233":1}', 6 },
        { '["\192\175"]', 3 }, { '"\237\160\128"', 2 }, { '"\226\130"', 2 }, { '"\244\144\128\128"', 2 },
      }
      for _, c in ipairs(cases) do
        local v, err = json.decode(c[1])
        assert.is_nil(v, c[1])
        assert.equal(("invalid JSON at byte %d: invalid UTF-8 in a string"):format(c[2]), err)
      end
      assert.equal("caf\195\169", json.decode('"caf\195\169"'))
    end)

    -- The pre-pass reads strings 8 bytes at a time: a bad byte is found at every offset.
    it("finds a control byte, bad UTF-8 or the closing quote wherever it falls in a string", function()
      for i = 0, 17 do
        local pad = ("a"):rep(i)
        assert.equal(pad, json.decode('"' .. pad .. '"'))
        assert.equal(pad .. "é" .. pad, json.decode('"' .. pad .. "é" .. pad .. '"'))
        assert.equal(pad .. '"' .. pad, json.decode('"' .. pad .. '\\"' .. pad .. '"'))
        -- the bad byte: at i + 2, or one later after an ASCII DEL
        local bads = { { "\1", "control character", 2 }, { "\127\255", "invalid UTF-8", 3 },
          { "\128", "invalid UTF-8", 2 } }
        for _, bad in ipairs(bads) do
          local v, err = json.decode('"' .. pad .. bad[1] .. ("b"):rep(9) .. '"')
          assert.is_nil(v)
          assert.equal(("invalid JSON at byte %d: %s"):format(i + bad[3], bad[2]), (err:gsub(" in .*", "")))
        end
      end
    end)

    it("refuses malformed text with the byte position", function()
      local cases = {
        { "[1,2", "byte 5" }, { '{"a":1} x', "trailing" }, { "", "unexpected end" },
        { "{'a':1}", "byte 2: unexpected character" },
        { "01", "leading zero" }, { "[1,]", "byte 4: expected a value, found ']'" }, { '"a\tb"', "control character" },
        { "<html>", "unexpected character" }, { "nul", "unexpected word" }, { "1.", "fraction" },
        { "{1:2}", "byte 2: expected a string key" }, { '{"a" 1}', "byte 6: expected ':'" },
        { "[1}x", "byte 3: expected ',' or ']'" },
      }
      for _, c in ipairs(cases) do
        local v, err = json.decode(c[1])
        assert.is_nil(v, c[1])
        assert.matches(c[2], err, 1, true)
      end
    end)

    it("refuses nesting deeper than 100 levels instead of exhausting the stack", function()
      local v, err = json.decode(("["):rep(5000) .. ("]"):rep(5000))
      assert.is_nil(v)
      assert.matches("nested too deeply", err)
      assert.is_table(json.decode(("["):rep(50) .. ("]"):rep(50)))
    end)
  end)

  describe("encode", function()
    it("writes integers of 10^14 and more without an exponent", function()
      assert.equal("[100000000000000,1700000000000,9007199254740993]",
        json.encode({ 10 ^ 14 // 1, 1700000000000, 9007199254740993 }))
      assert.equal("42", json.encode(42.0))
      assert.equal("0.1", json.encode(0.1))
      assert.equal(0.1 + 0.2, json.decode(json.encode(0.1 + 0.2))) -- not cjson's %.14g
    end)

    it("writes an empty array as [] only when marked", function()
      assert.equal("{}", json.encode({}))
      assert.equal("[]", json.encode(json.array()))
      assert.equal('{"ids":[]}', json.encode({ ids = json.array {} }))
    end)

    it("sorts object keys so the same value gives the same text", function()
      assert.equal('{"a":1,"b":2,"c":{"x":true,"y":false}}', json.encode({ c = { y = false, x = true }, b = 2, a = 1 }))
    end)

    it("refuses what JSON cannot hold, naming where", function()
      local cyc = {}
      cyc.me = cyc
      local cases = {
        { { a = { b = print } }, "function value at a.b" },
        { cyc, "contains itself at me" },
        { { 1, 2, x = 3 }, "mixes array items" },
        { { [1] = 1, [3] = 3 }, "mixes array items" },
        { 0 / 0, "NaN" },
        { math.huge, "infinity" },
        { { s = "\xff\xfe" }, "not valid UTF-8 at s" },
      }
      for _, c in ipairs(cases) do
        local ok, err = pcall(json.encode, c[1])
        assert.is_false(ok)
        assert.matches(c[2], err, 1, true)
      end
    end)

    it("escapes control characters and quotes, and leaves slashes alone", function()
      assert.equal('"a\\"b\\\\c\\n\\u0001"', json.encode('a"b\\c\n\1'))
      assert.equal('["https://x.io/a","a/\\\\/\\n","\\u007f"]', json.encode { "https://x.io/a", "a/\\/\n", "\127" })
    end)

    it("refuses keys that are not valid UTF-8, naming them", function()
      local ok, err = pcall(json.encode, { a = { ["k\255"] = 1 } })
      assert.is_false(ok)
      assert.matches("not valid UTF-8 at a.k", err, 1, true)
    end)

    it("uses a private lua-cjson: a script's own cjson keeps its settings", function()
      local cjson = require "cjson"
      local deep = ("["):rep(500) .. ("]"):rep(500)
      assert.is_table(cjson.decode(deep)) -- cjson's default depth is 1000; ours is 100
      assert.is_nil(json.decode(deep))
      assert.equal("1.0", tostring(cjson.decode("1")))
      assert.equal("1", tostring(json.decode("1")))
    end)

    it("round-trips the bundled fixtures exactly", function()
      local f = assert(io.open("spec/fixtures/seed.json", "rb"))
      local text = f:read("a")
      f:close()
      local v = assert(json.decode(text))
      assert.same(v, json.decode(json.encode(v)))
    end)
  end)
end)
