-- Output writers for the command line: table (for people), json, ndjson and csv (for pipes).
--
--   local w = formats.writer("ndjson", io.stdout, { fields = { "id", "warmup_details.status" } })
--   for a in client:accounts() do w:add(a) end
--   w:close()
--
-- json and ndjson are written as records arrive (ndjson flushed per line, so it streams while
-- pages are still being fetched); table is buffered, since column widths need every row; csv
-- writes its header with the first row. opts.fields picks values by name or dotted path
-- (opts.get may compute others); without it, json/ndjson write whole records and table/csv
-- the first record's keys. Secret-named fields (password, token, secret, api_key) print as
-- "********" in every format. JSON null stays null in json/ndjson, is "" in csv and "null" in
-- a table; a field the record lacks is null in json, "" elsewhere.
local core = require "smartlead.core"
local json = require "smartlead.json"
local csv = require "smartlead.csv"
local output = require "smartlead.output"

local M = {}

M.NAMES = { "table", "json", "ndjson", "csv" }
M.MASK = "********"
local KNOWN = {}
for _, name in ipairs(M.NAMES) do KNOWN[name] = true end

function M.known(name) return KNOWN[name] == true end

-- table on a terminal, json in a pipe.
function M.default()
  return core.isatty(1) and "table" or "json"
end

-- Colour only on a terminal and only when NO_COLOR is unset or empty (https://no-color.org).
function M.color_enabled(out)
  local no_color = os.getenv("NO_COLOR")
  return (out == nil or out == io.stdout) and core.isatty(1) and (no_color == nil or no_color == "")
end

---------------------------------------------------------------------------- values

-- One rule for which field names hold secrets, shared with the journal and smartlead.show.
M.is_secret_key = require("smartlead.journal").is_secret

-- True when any segment of a dotted path names a secret.
local function secret_path(path)
  for seg in tostring(path):gmatch("[^%.]+") do
    if M.is_secret_key(seg) then return true end
  end
  return false
end

-- A copy of v with every secret-named field masked (null and absent stay as they are).
function M.mask_secrets(v)
  if type(v) ~= "table" or v == json.null then return v end
  local out = {}
  for k, x in pairs(v) do
    if M.is_secret_key(k) and x ~= json.null then out[k] = M.MASK else out[k] = M.mask_secrets(x) end
  end
  if json.is_array(v) then json.array(out) end
  return out
end

-- The value at a dotted path ("warmup_details.status"), nil when any step is missing.
M.get_path = require("smartlead.account").get_path

local function set_path(t, path, value)
  local segs = {}
  for seg in tostring(path):gmatch("[^%.]+") do segs[#segs + 1] = seg end
  for i = 1, #segs - 1 do
    if type(t[segs[i]]) ~= "table" or t[segs[i]] == json.null then t[segs[i]] = {} end
    t = t[segs[i]]
  end
  t[segs[#segs]] = value
end

local function number_text(n)
  local i = math.tointeger(n) -- 42.0 from JSON prints as 42
  return i and string.format("%d", i) or tostring(n)
end

-- Text of a scalar for csv and tables; tables as compact JSON.
local function scalar_text(v)
  if type(v) == "number" then return number_text(v) end
  if type(v) == "table" then
    local ok, text = pcall(json.encode, v)
    return ok and text or tostring(v)
  end
  return tostring(v)
end

local function table_cell(v)
  if v == nil then return "" end
  if v == json.null then return "null" end
  return (scalar_text(v):gsub("[%c]", function(c) -- a line break would break the row
    return c == "\n" and "\\n" or c == "\t" and " " or c == "\r" and "\\r" or "?"
  end))
end

local function csv_cell(v)
  if v == nil or v == json.null then return "" end
  return scalar_text(v)
end

---------------------------------------------------------------------------- projection

-- The field's value: masked when secret, with a deep mask for tables.
local function field_value(w, record, name)
  local v = w.get(record, name)
  if v ~= nil and v ~= json.null and secret_path(name) then return M.MASK end
  return M.mask_secrets(v)
end

-- The record as JSON writes it: the named fields (nested by path), or all of it, masked.
local function json_record(w, record)
  if not w.fields then return M.mask_secrets(record) end
  local out = {}
  for _, name in ipairs(w.fields) do
    local v = field_value(w, record, name)
    if v == nil then v = json.null end
    set_path(out, name, v)
  end
  return out
end

-- Field names from a record: its keys, sorted, id first.
local function keys_of(record)
  local names = {}
  for k in pairs(type(record) == "table" and record or {}) do
    if type(k) == "string" and k ~= "id" then names[#names + 1] = k end
  end
  table.sort(names)
  if type(record) == "table" and record.id ~= nil then table.insert(names, 1, "id") end
  return names
end

local function row_values(w, record, cell)
  local row = {}
  for i, name in ipairs(w.fields) do row[i] = cell(field_value(w, record, name)) end
  return row
end

---------------------------------------------------------------------------- writers

local Writer = {}
Writer.__index = Writer

local function emit(w, text)
  w.out:write(text)
  if w.flush then w.out:flush() end
end

local ADD, CLOSE = {}, {}

function ADD.json(w, record)
  local text = json.encode(json_record(w, record))
  if w.single then
    emit(w, text .. "\n")
  else
    emit(w, (w.count == 0 and "[\n  " or ",\n  ") .. text)
  end
end

function CLOSE.json(w)
  if w.single then
    if w.count == 0 then emit(w, "null\n") end
  else
    emit(w, w.count == 0 and "[]\n" or "\n]\n")
  end
end

function ADD.ndjson(w, record)
  emit(w, json.encode(json_record(w, record)) .. "\n")
end

function CLOSE.ndjson() end

local function csv_header(w)
  if w.header_done then return end
  w.header_done = true
  emit(w, csv.encode({ w.fields }))
end

function ADD.csv(w, record)
  w.fields = w.fields or keys_of(record)
  csv_header(w)
  emit(w, csv.encode({ row_values(w, record, csv_cell) }))
end

function CLOSE.csv(w)
  if w.fields then csv_header(w) end
end

function ADD.table(w, record)
  w.fields = w.fields or keys_of(record)
  local row, numeric = row_values(w, record, table_cell), w.numeric
  for i, name in ipairs(w.fields) do
    local v = w.get(record, name)
    if v ~= nil and v ~= json.null then numeric[i] = numeric[i] ~= false and type(v) == "number" end
  end
  w.rows[#w.rows + 1] = row
end

function CLOSE.table(w)
  if not w.fields then return end
  local columns = {}
  for i, name in ipairs(w.fields) do
    columns[i] = { key = i, title = w.titles and w.titles[i] or name:upper(), align = w.numeric[i] and "right" or nil }
  end
  local text = output.table(w.rows, columns, { max_width = w.max_width })
  if w.color then text = text:gsub("^[^\n]*", "\27[1m%0\27[0m", 1) end
  emit(w, text)
end

-- w:add(record): writes (or buffers) one record.
function Writer:add(record)
  if self.closed then error("formats: add after close", 2) end
  ADD[self.format](self, record)
  self.count = self.count + 1
end

-- w:close(): finishes the output (closing bracket, the buffered table). Safe to call twice.
function Writer:close()
  if self.closed then return end
  self.closed = true
  CLOSE[self.format](self)
  self.out:flush()
end

-- formats.writer(format, out, opts) -> w
-- opts: fields (names or dotted paths), get(record, name) -> value (default: the path),
-- titles (table headers), single (json: one object, not an array), color (table header bold;
-- default: on a terminal without NO_COLOR), max_width (table cells, default 40).
function M.writer(format, out, opts)
  opts = opts or {}
  format = format or M.default()
  if not KNOWN[format] then
    error(("formats: unknown format '%s' (use %s)"):format(tostring(format), table.concat(M.NAMES, ", ")), 2)
  end
  out = out or io.stdout
  local color = opts.color
  if color == nil then color = M.color_enabled(out) end
  return setmetatable({
    format = format, out = out, fields = opts.fields, titles = opts.titles,
    get = opts.get or M.get_path, single = opts.single, color = color, max_width = opts.max_width,
    flush = format ~= "table", rows = {}, numeric = {}, count = 0,
  }, Writer)
end

---------------------------------------------------------------------------- pretty JSON

local function pretty(v, indent, out)
  if type(v) ~= "table" or v == json.null then
    out[#out + 1] = json.encode(v)
    return
  end
  local inner = indent .. "  "
  local n, count = #v, 0
  for _ in pairs(v) do count = count + 1 end
  if json.is_array(v) or (n > 0 and count == n) then
    if n == 0 then out[#out + 1] = "[]" return end
    out[#out + 1] = "[\n"
    for i = 1, n do
      out[#out + 1] = inner
      pretty(v[i], inner, out)
      out[#out + 1] = i < n and ",\n" or "\n"
    end
    out[#out + 1] = indent .. "]"
    return
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  if #keys == 0 then out[#out + 1] = "{}" return end
  out[#out + 1] = "{\n"
  for i, k in ipairs(keys) do
    out[#out + 1] = inner .. json.encode(k) .. ": "
    local x = v[k]
    if x == nil then x = v[tonumber(k)] end
    pretty(x, inner, out)
    out[#out + 1] = i < #keys and ",\n" or "\n"
  end
  out[#out + 1] = indent .. "}"
end

-- formats.pretty_json(v) -> indented JSON text (keys sorted), secrets masked, no final newline
function M.pretty_json(v)
  local out = {}
  pretty(M.mask_secrets(v), "", out)
  return table.concat(out)
end

return M
