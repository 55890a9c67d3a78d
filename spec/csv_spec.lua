-- smartlead.csv: RFC 4180 reading (with the liberties spreadsheets take) and writing.
local csv = require "smartlead.csv"

describe("csv.parse", function()
  it("reads plain rows, with or without a final line end", function()
    assert.same({ { "a", "b" }, { "1", "2" } }, (csv.parse("a,b\n1,2\n")))
    assert.same({ { "a", "b" }, { "1", "2" } }, (csv.parse("a,b\n1,2")))
  end)

  it("keeps empty fields, leading and trailing ones too", function()
    assert.same({ { "", "x", "" }, { "", "", "" } }, (csv.parse(",x,\n,,\n")))
  end)

  it("reads CRLF, LF and lone CR line ends", function()
    assert.same({ { "a" }, { "b" }, { "c" }, { "d" } }, (csv.parse("a\r\nb\nc\rd\r\n")))
  end)

  it("reads quoted fields with commas, doubled quotes and line breaks inside", function()
    local rows = csv.parse('name,note\r\n"Hopper, Grace","she said ""hi""\r\nand left"\r\n')
    assert.same({ { "name", "note" }, { "Hopper, Grace", 'she said "hi"\r\nand left' } }, rows)
  end)

  it("reads an empty quoted field and a field that is one quote", function()
    assert.same({ { "", '"', "x" } }, (csv.parse('"","""",x')))
  end)

  it("keeps spaces: they are part of the field", function()
    assert.same({ { " a ", "b " } }, (csv.parse(" a ,b ")))
  end)

  it("drops a UTF-8 byte-order mark and keeps UTF-8 text as it is", function()
    assert.same({ { "naïve", "Zoë" }, { "東京", "ok" } }, (csv.parse("\239\187\191naïve,Zoë\n東京,ok\n")))
  end)

  it("skips blank lines", function()
    assert.same({ { "a", "b" }, { "1", "2" } }, (csv.parse("a,b\n\n1,2\n\n")))
    assert.same({}, (csv.parse("")))
  end)

  it("gives the line on which each row starts, counting breaks inside quotes", function()
    local rows, lines = csv.parse('a,b\n"x\ny\nz",1\n\nlast,2\n')
    assert.equal(3, #rows)
    assert.same({ 1, 2, 6 }, lines)
  end)

  it("refuses an unterminated quote, naming the line it opened on", function()
    local rows, err = csv.parse('a,b\n1,2\n3,"open\nstill open\n')
    assert.is_nil(rows)
    assert.equal("line 3: unterminated quoted field", err)
  end)

  it("refuses a ragged row, naming its line", function()
    local rows, err = csv.parse("a,b,c\n1,2,3\n4,5\n")
    assert.is_nil(rows)
    assert.equal("line 3: 2 fields where the first row has 3", err)
  end)

  it("refuses text after a closing quote and a quote in an unquoted field", function()
    local _, err = csv.parse('a,b\n"x"y,2\n')
    assert.equal("line 2: unexpected text after a closing quote", err)
    _, err = csv.parse('a,b\nx"y,2\n')
    assert.matches("^line 2: quote inside an unquoted field", err)
  end)

  it("refuses invalid UTF-8, naming the line", function()
    local _, err = csv.parse("a,b\nok,fine\nbad,\255\n")
    assert.matches("^line 3: invalid UTF%-8", err)
  end)

  it("raises on a non-string argument (wrong use)", function()
    assert.has_error(function() csv.parse(nil) end, "csv.parse: text must be a string, got nil")
  end)
end)

describe("csv.records", function()
  it("maps each row by the header, and gives the header and line numbers", function()
    local recs, header, lines = csv.records("id,email\r\n1,a@x.io\r\n2,\"b@x.io\"\r\n")
    assert.same({ { id = "1", email = "a@x.io" }, { id = "2", email = "b@x.io" } }, recs)
    assert.same({ "id", "email" }, header)
    assert.same({ 2, 3 }, lines)
  end)

  it("accepts a header with no rows", function()
    local recs, header = csv.records("id,email\n")
    assert.same({}, recs)
    assert.same({ "id", "email" }, header)
  end)

  it("refuses no header, a duplicate column and an unnamed column", function()
    assert.same({ nil, "line 1: no header row" }, { csv.records("") })
    assert.same({ nil, "line 1: column 'id' appears twice" }, { csv.records("id,id\n1,2\n") })
    assert.same({ nil, "line 1: column 2 has no name" }, { csv.records("id,\n1,2\n") })
  end)

  it("passes parse errors through", function()
    assert.same({ nil, "line 2: 1 fields where the first row has 2" }, { csv.records("a,b\nonly\n") })
  end)
end)

describe("csv.encode", function()
  it("quotes only the fields that need it and ends lines with CRLF", function()
    local text = csv.encode({ { "id", "note" }, { 1, 'say "hi", then\nleave' }, { 2.0, " pad" } })
    assert.equal('id,note\r\n1,"say ""hi"", then\nleave"\r\n2," pad"\r\n', text)
  end)

  it("writes nil and JSON null as empty fields, booleans as words", function()
    local null = require("smartlead.json").null
    assert.equal("a,,,true\n", csv.encode({ { "a", null, "", true } }, { eol = "\n" }))
  end)

  it("round-trips through parse", function()
    local rows = { { "a,b", '"q"', "line\r\nbreak", "", "plain", "ünï" }, { "1", "2", "3", "4", "5", "6" } }
    assert.same(rows, (csv.parse(csv.encode(rows))))
  end)
end)
