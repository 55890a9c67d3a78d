local json = require "smartlead.json"

describe("smartlead.json", function()
  describe("decode", function()
    it("gives integers as Lua integers and keeps floats", function()
      local v = assert(json.decode('{"id":42,"rate":0.5,"big":123456789012345678,"neg":-7,"exp":1e3}'))
      assert.equal("integer", math.type(v.id))
      assert.equal(42, v.id)
      assert.equal("float", math.type(v.rate))
      assert.equal(123456789012345678, v.big)
      assert.equal("integer", math.type(v.big))
      assert.equal(-7, v.neg)
      assert.equal("float", math.type(v.exp))
      assert.equal("/x/42", "/x/" .. v.id)
    end)

    it("keeps [] and {} apart and marks arrays", function()
      local v = assert(json.decode('{"a":[],"o":{},"l":[1,2]}'))
      assert.is_true(json.is_array(v.a))
      assert.is_false(json.is_array(v.o))
      assert.is_true(json.is_array(v.l))
      assert.same({ 1, 2 }, { v.l[1], v.l[2] })
      assert.equal('{"a":[],"l":[1,2],"o":{}}', json.encode(v))
    end)

    it("gives null as json.null, distinct from an absent key", function()
      local v = assert(json.decode('{"warmup_details":null}'))
      assert.equal(json.null, v.warmup_details)
      assert.is_nil(v.other)
      assert.equal('{"warmup_details":null}', json.encode(v))
    end)

    it("decodes escapes and surrogate pairs to UTF-8", function()
      assert.equal("é😀\n\"/", json.decode('"\\u00e9\\ud83d\\ude00\\n\\"\\/"'))
      assert.equal("\u{FFFD}", json.decode('"\\ud800"'))
    end)

    it("refuses malformed text with the byte position", function()
      local cases = {
        { "[1,2", "byte 5" }, { '{"a":1} x', "trailing" }, { "", "unexpected end" }, { "{'a':1}", "string key" },
        { "01", "trailing" }, { "[1,]", "unexpected character" }, { '"a\tb"', "control character" },
        { "<html>", "unexpected character" }, { "nul", "unexpected word" }, { "1.", "fraction" },
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
      assert.equal("[100000000000000,1700000000000,9007199254740993]", json.encode({ 10 ^ 14 // 1, 1700000000000, 9007199254740993 }))
      assert.equal("42", json.encode(42.0))
      assert.equal("0.1", json.encode(0.1))
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

    it("escapes control characters and quotes", function()
      assert.equal('"a\\"b\\\\c\\n\\u0001"', json.encode('a"b\\c\n\1'))
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
