-- smartlead.csv: RFC 4180 CSV, read and written.
--
-- csv.parse(text)   -> rows (array of arrays of strings), lines | nil, err
-- csv.records(text) -> records (array of {header = value}), header, lines | nil, err
-- csv.encode(rows, opts) -> text
--
-- Reading accepts what spreadsheets write: quoted fields with "" escapes, commas and line breaks
-- inside quotes, CRLF or LF line ends, a UTF-8 byte-order mark (dropped). Blank lines are
-- skipped. lines[i] is the line on which row i starts, so callers can point at the source.
-- Errors name the line: an unterminated quote, text after a closing quote, a quote inside an
-- unquoted field, invalid UTF-8, a row whose field count differs from the first row's.

local json = require "smartlead.json"

local M = {}

local BOM = "\239\187\191"

-- Parser state: text, pos (next byte), line (current physical line).
local function new_state(text)
  local pos = 1
  if text:sub(1, 3) == BOM then pos = 4 end
  return { text = text, pos = pos, line = 1 }
end

local function fail(line, message) return nil, ("line %d: %s"):format(line, message) end

-- Counts the line breaks in text[i..j] (CRLF, LF or a lone CR each count once).
local function count_breaks(text, i, j)
  local n = 0
  for _ in text:sub(i, j):gsub("\r\n", "\n"):gmatch("[\r\n]") do n = n + 1 end
  return n
end

-- A quoted field starting at st.pos (the opening quote). Returns the value or nil, err.
local function quoted_field(st)
  local text, start_line, parts, i = st.text, st.line, {}, st.pos + 1
  while true do
    local q = text:find('"', i, true)
    if not q then return fail(start_line, "unterminated quoted field") end
    parts[#parts + 1] = text:sub(i, q - 1)
    st.line = st.line + count_breaks(text, i, q - 1)
    if text:sub(q + 1, q + 1) == '"' then -- "" is an escaped quote
      parts[#parts + 1] = '"'
      i = q + 2
    else
      st.pos = q + 1
      local after = text:sub(st.pos, st.pos)
      if after ~= "" and not after:find("[,\r\n]") then
        return fail(st.line, "unexpected text after a closing quote")
      end
      return table.concat(parts)
    end
  end
end

-- An unquoted field: everything up to the next comma or line end.
local function plain_field(st)
  local text = st.text
  local e = text:find("[,\r\n]", st.pos) or #text + 1
  local value = text:sub(st.pos, e - 1)
  if value:find('"', 1, true) then return fail(st.line, "quote inside an unquoted field (quote the whole field)") end
  st.pos = e
  return value
end

-- Consumes one line end at st.pos, if any; true when the row ended there.
local function end_of_row(st)
  local text, pos = st.text, st.pos
  if text:sub(pos, pos + 1) == "\r\n" then st.pos = pos + 2
  elseif text:find("^[\r\n]", pos) then st.pos = pos + 1
  else return pos > #text end
  st.line = st.line + 1
  return true
end

-- One row starting at st.pos. Returns the fields or nil, err.
local function read_row(st)
  local row = {}
  while true do
    local value, err
    if st.text:sub(st.pos, st.pos) == '"' then value, err = quoted_field(st) else value, err = plain_field(st) end
    if not value then return nil, err end
    row[#row + 1] = value
    if end_of_row(st) then return row end
    st.pos = st.pos + 1 -- the comma
  end
end

-- csv.parse(text) -> rows, lines | nil, err
function M.parse(text)
  if type(text) ~= "string" then error("csv.parse: text must be a string, got " .. type(text), 2) end
  local valid, bad = utf8.len(text)
  if not valid then return fail(1 + count_breaks(text, 1, bad - 1), ("invalid UTF-8 at byte %d"):format(bad)) end
  local st, rows, lines, width = new_state(text), {}, {}, nil
  while st.pos <= #text do
    local start = st.line
    if not end_of_row(st) then -- a blank line is skipped, not a row of one empty field
      local row, err = read_row(st)
      if not row then return nil, err end
      width = width or #row
      if #row ~= width then return fail(start, ("%d fields where the first row has %d"):format(#row, width)) end
      rows[#rows + 1], lines[#rows + 1] = row, start
    end
  end
  return rows, lines
end

-- Header names must be present and distinct, or records would silently lose values.
local function check_header(header, line)
  local seen = {}
  for i, name in ipairs(header) do
    if name == "" then return fail(line, ("column %d has no name"):format(i)) end
    if seen[name] then return fail(line, ("column '%s' appears twice"):format(name)) end
    seen[name] = true
  end
  return true
end

-- csv.records(text) -> records, header, lines | nil, err
-- The first row names the columns; lines[i] is where record i starts.
function M.records(text)
  local rows, lines = M.parse(text)
  if not rows then return nil, lines end
  if #rows == 0 then return nil, "line 1: no header row" end
  local header = rows[1]
  local ok, err = check_header(header, lines[1])
  if not ok then return nil, err end
  local records, record_lines = {}, {}
  for r = 2, #rows do
    local rec = {}
    for i, name in ipairs(header) do rec[name] = rows[r][i] end
    records[#records + 1], record_lines[#records + 1] = rec, lines[r]
  end
  return records, header, record_lines
end

local function field_text(v)
  if v == nil or v == json.null then return "" end
  if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2^53 then
    return tostring(math.tointeger(v)) -- 42.0 from JSON prints as 42
  end
  return tostring(v)
end

local function encode_field(v)
  local s = field_text(v)
  -- a leading byte-order mark would be dropped by the reader as the file's own
  if s:find('[,"\r\n]') or s:find("^%s") or s:find("%s$") or s:sub(1, 3) == BOM then
    return '"' .. s:gsub('"', '""') .. '"'
  end
  return s
end

-- csv.encode(rows, {eol = "\r\n"}) -> text; fields are quoted only when they need it.
function M.encode(rows, opts)
  local eol = opts and opts.eol or "\r\n"
  local out = {}
  for r, row in ipairs(rows) do
    local fields = {}
    for i = 1, #row do fields[i] = encode_field(row[i]) end
    -- one empty field alone would be a blank line, which the reader skips
    if #row == 1 and fields[1] == "" then fields[1] = '""' end
    out[r] = table.concat(fields, ",") .. eol
  end
  return table.concat(out)
end

return M
