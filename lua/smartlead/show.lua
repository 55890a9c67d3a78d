-- smartlead.show: the pretty printer behind the REPL and smartlead.show(value[, opts]).
-- Nested tables print as indented `key = value` lines; an array of accounts (or of uniform flat
-- records) prints as an aligned table. Secrets never print: secret-named fields are masked, and
-- every string goes through core.mask, which knows the API keys the process has seen.
local core = require "smartlead.core"
local json = require "smartlead.json"
local output = require "smartlead.output"

local M = {}

local NULL = json.null
local MASK = "********"
local INLINE_WIDTH = 60 -- an array of scalars fits on one line up to this many characters
local MAX_RECORD_KEYS = 8 -- wider uniform records stay nested rather than make a wide table
local COLORS = { string = "32", number = "36", boolean = "33", null = "2", other = "35", note = "2", header = "1" }

local RESERVED = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or repeat
  return then true until while]]):gmatch("%a+") do RESERVED[w] = true end

local function paint(st, kind, s)
  if not st.color then return s end
  return "\27[" .. COLORS[kind] .. "m" .. s .. "\27[0m"
end

local is_secret_key = require("smartlead.journal").is_secret -- the journal's rule, one for all

local function number_text(n)
  local i = math.tointeger(n) -- 42.0 prints as 42, as the API meant it
  return i and string.format("%d", i) or tostring(n)
end

local ESCAPES = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

-- Lua-style quoting that leaves UTF-8 text readable; bytes of invalid UTF-8 are escaped.
local function quote(s)
  local pattern = utf8.len(s) and '[%c"\\]' or '[%c"\\\128-\255]'
  return '"' .. s:gsub(pattern, function(c) return ESCAPES[c] or ("\\%03d"):format(c:byte()) end) .. '"'
end

local function cut(s, n)
  if utf8.len(s) then return output.truncate(s, n) end
  return #s > n and s:sub(1, n - 1) .. "…" or s -- not UTF-8: cut bytes
end

-- An object with methods that prints itself (a Client), not data: printed by its __tostring.
local function is_object(v)
  local mt = type(v) == "table" and getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__methods") ~= nil and rawget(mt, "__tostring") ~= nil
end

-- Userdata with __tostring and objects print themselves; anything else opaque is named by its type.
local function opaque(v)
  local mt = getmetatable(v)
  if (type(v) == "userdata" or is_object(v)) and type(mt) == "table" and mt.__tostring then
    local ok, s = pcall(tostring, v)
    if ok and type(s) == "string" then return core.mask(s) end
  end
  return "<" .. type(v) .. ">"
end

local function scalar(v, st)
  local t = type(v)
  if t == "string" then return paint(st, "string", quote(cut(core.mask(v), st.max_width))) end
  if t == "number" then return paint(st, "number", number_text(v)) end
  if t == "boolean" then return paint(st, "boolean", tostring(v)) end
  if v == nil then return paint(st, "null", "nil") end
  if v == NULL then return paint(st, "null", "null") end
  return paint(st, "other", cut(opaque(v), st.max_width))
end

-- Length of the sequence 1..n, ignoring __len and __index.
local function seq_len(t)
  local n = 0
  while rawget(t, n + 1) ~= nil do n = n + 1 end
  return n
end

local function count_keys(t)
  local n = 0
  for _ in next, t do n = n + 1 end
  return n
end

local function key_text(k)
  if type(k) == "string" then
    k = core.mask(k)
    if k:match("^[%a_][%w_]*$") and not RESERVED[k] then return k end
    return "[" .. quote(k) .. "]"
  end
  if type(k) == "number" then return "[" .. number_text(k) .. "]" end
  if type(k) == "boolean" then return "[" .. tostring(k) .. "]" end
  return "[" .. opaque(k) .. "]"
end

-- Keys after the sequence part: strings sorted, then numbers in order, then the rest by tostring.
local function other_keys(t, n)
  local strs, nums, rest = {}, {}, {}
  for k in next, t do
    local in_seq = math.type(k) == "integer" and k >= 1 and k <= n
    if type(k) == "string" then strs[#strs + 1] = k
    elseif type(k) == "number" and not in_seq then nums[#nums + 1] = k
    elseif not in_seq then rest[#rest + 1] = k end
  end
  table.sort(strs)
  table.sort(nums)
  table.sort(rest, function(a, b) return tostring(a) < tostring(b) end)
  table.move(nums, 1, #nums, #strs + 1, strs)
  table.move(rest, 1, #rest, #strs + 1, strs)
  return strs
end

local function plain_width(s)
  s = s:gsub("\27%[[%d;]*m", "")
  return utf8.len(s) or #s
end

-- { 1, 2, 3 } on one line when t is a short sequence of scalars; nil otherwise.
local function inline(t, st, n)
  if n == 0 or n > st.max_rows or count_keys(t) ~= n then return nil end
  local parts = {}
  for i = 1, n do
    if type(t[i]) == "table" then return nil end
    parts[i] = scalar(rawget(t, i), st)
  end
  local s = "{ " .. table.concat(parts, ", ") .. " }"
  return plain_width(s) <= INLINE_WIDTH and s or nil
end

local render

local function field(t, k, st, indent)
  local v = rawget(t, k)
  if is_secret_key(k) and v ~= NULL then return paint(st, "string", quote(MASK)) end
  return render(v, st, indent)
end

local function block(t, st, indent, n)
  local inner = indent .. "  "
  local lines, notes = {}, {}
  local shown = math.min(n, st.max_rows)
  for i = 1, shown do lines[#lines + 1] = inner .. render(rawget(t, i), st, inner) end
  if n > shown then
    lines[#lines + 1] = inner .. paint(st, "note", ("… %d more"):format(n - shown))
    notes[#lines] = true
  end
  for _, k in ipairs(other_keys(t, n)) do
    lines[#lines + 1] = inner .. key_text(k) .. " = " .. field(t, k, st, inner)
  end
  for i = 1, #lines - 1 do
    if not notes[i] then lines[i] = lines[i] .. "," end
  end
  return "{\n" .. table.concat(lines, "\n") .. "\n" .. indent .. "}"
end

-- indent: the indentation of the line the value starts on.
function render(v, st, indent)
  if type(v) ~= "table" or is_object(v) then return scalar(v, st) end
  if next(v) == nil then return json.is_array(v) and "[]" or "{}" end
  if st.open[v] then return paint(st, "other", "<cycle>") end -- only ancestors: shared tables print twice
  if st.level >= st.depth then return paint(st, "note", "{…}") end
  st.open[v], st.level = true, st.level + 1
  local n = seq_len(v)
  local s = inline(v, st, n) or block(v, st, indent, n)
  st.open[v], st.level = nil, st.level - 1
  return s
end

---------------------------------------------------------------------------- table view

local function reputation(a)
  local w = a.warmup_details
  local r = type(w) == "table" and w.warmup_reputation or nil
  if type(r) == "string" then -- "97%", "97" or " 97 % "
    local digits = r:match("^%s*(-?[%d.]+)%s*%%?%s*$")
    r = digits and tonumber(digits)
  end
  return type(r) == "number" and r or nil
end

local function campaign_count(a)
  if type(a.campaign_count) == "number" then return a.campaign_count end
  local ids = a.campaign_ids or a.campaigns
  if type(ids) == "table" then return seq_len(ids) end
end

local function path_getter(path)
  local parts = {}
  for p in path:gmatch("[^.]+") do parts[#parts + 1] = p end
  return function(row)
    local v = row
    for _, p in ipairs(parts) do
      if type(v) ~= "table" then return nil end
      local nv = v[p]
      if nv == nil and tonumber(p) then nv = v[tonumber(p)] end -- "tags.1.name"
      v = nv
    end
    return v
  end, parts[#parts]
end

local function daily_limit(a)
  local v = a.message_per_day
  if v == nil then v = a.max_email_per_day end
  return v
end

-- Account columns by name; opts.columns may name these too, or give any dotted field path.
local ACCOUNT_COLUMNS = {
  { name = "id" }, { name = "from_email" }, { name = "type" },
  { name = "daily", get = daily_limit }, -- message_per_day in answers, max_email_per_day in writes
  { name = "warmup", path = "warmup_details.status" },
  { name = "reputation", get = reputation },
  { name = "smtp", path = "is_smtp_success" },
  { name = "imap", path = "is_imap_success" },
  { name = "campaigns", get = campaign_count, optional = true }, -- only when some account has it
}
local NAMED = {}
for _, c in ipairs(ACCOUNT_COLUMNS) do NAMED[c.name] = c end

local function column(spec)
  if type(spec) == "string" then spec = NAMED[spec] or { name = spec } end
  if spec.get then return { title = spec.name, get = spec.get, optional = spec.optional } end
  local get, last = path_getter(spec.path or spec.name)
  return { title = spec.name, get = get, secret = is_secret_key(last) }
end

-- Columns of uniform records: their keys, sorted, id first.
local function record_columns(first)
  local names = other_keys(first, 0)
  for i, k in ipairs(names) do
    if k == "id" then table.remove(names, i); table.insert(names, 1, "id"); break end
  end
  return names
end

local function list_text(t)
  local parts = {}
  for i = 1, seq_len(t) do
    local v = rawget(t, i)
    if type(v) == "table" then return "{…}" end
    parts[i] = type(v) == "number" and number_text(v) or core.mask(tostring(v))
  end
  return table.concat(parts, ",")
end

local function cell_text(v, secret)
  if v == nil or v == NULL then return "" end
  if secret then return MASK end
  if type(v) == "string" then return (core.mask(v):gsub("%c", " ")) end -- a line break would break the row
  if type(v) == "number" then return number_text(v) end
  if type(v) == "boolean" then return tostring(v) end
  if type(v) == "table" and not is_object(v) then return list_text(v) end
  return opaque(v)
end

-- Text rows and the output.table columns for them; numeric columns are right-aligned.
local function table_cells(rows, cols)
  local texts, outcols = {}, {}
  for c, col in ipairs(cols) do
    local numeric, any = true, false
    for r, row in ipairs(rows) do
      local v = col.get(row)
      if v ~= nil and v ~= NULL then any = true; numeric = numeric and type(v) == "number" end
      texts[r] = texts[r] or {}
      texts[r][c] = cell_text(v, col.secret)
    end
    if any or not col.optional then
      outcols[#outcols + 1] = { key = c, title = col.title, align = (any and numeric) and "right" or nil }
    end
  end
  return texts, outcols
end

local function table_view(t, n, noun, names, st)
  local cols = {}
  for i, name in ipairs(names) do cols[i] = column(name) end
  local shown = {}
  for i = 1, math.min(n, st.max_rows) do shown[i] = t[i] end
  local texts, outcols = table_cells(shown, cols)
  local text = output.table(texts, outcols, { max_width = st.cell_width })
  if st.color then text = text:gsub("^[^\n]*", function(h) return paint(st, "header", h) end, 1) end
  if n > #shown then text = text .. paint(st, "note", ("… %d more"):format(n - #shown)) .. "\n" end
  return text .. paint(st, "note", ("(%d %s%s)"):format(n, noun, n == 1 and "" or "s"))
end

local function is_account(v)
  return type(v) == "table" and rawget(v, "id") ~= nil and rawget(v, "from_email") ~= nil
end

local function flat_keys(v) -- sorted string keys of a record of scalars, or nil
  if type(v) ~= "table" or seq_len(v) > 0 then return nil end
  for k, x in next, v do
    if type(k) ~= "string" or type(x) == "table" then return nil end
  end
  local keys = other_keys(v, 0)
  return #keys > 0 and #keys <= MAX_RECORD_KEYS and table.concat(keys, "\0") or nil
end

-- How a sequence of n tables prints as a table: noun and column names, or nil to nest it.
local function table_kind(t, n, st)
  if n == 0 or count_keys(t) ~= n then return nil end
  local accounts, shape = true, flat_keys(t[1])
  for i = 1, n do
    local v = t[i]
    if type(v) ~= "table" then return nil end
    accounts = accounts and is_account(v)
    if shape and flat_keys(v) ~= shape then shape = nil end
  end
  if accounts then return "account", st.columns or ACCOUNT_COLUMNS end
  if shape and n >= 2 then return "row", st.columns or record_columns(t[1]) end
  if st.columns then return "row", st.columns end
end

---------------------------------------------------------------------------- entry points

local function settings(opts)
  if opts ~= nil and type(opts) ~= "table" then error("smartlead.show: opts must be a table", 3) end
  opts = opts or {}
  if opts.columns ~= nil and type(opts.columns) ~= "table" then
    error("smartlead.show: opts.columns must be an array of column names", 3)
  end
  return {
    color = opts.color == true, columns = opts.columns,
    max_width = opts.max_width or 60, cell_width = opts.max_width or 40,
    depth = opts.depth or 6, max_rows = opts.max_rows or math.huge,
    open = {}, level = 0,
  }
end

-- M.format(value[, opts]) -> text without a final newline
-- opts: columns, max_width (60 nested, 40 in table cells), color (false), depth (6), max_rows (all)
function M.format(value, opts)
  local st = settings(opts)
  if type(value) == "table" and st.depth > 0 then
    local n = seq_len(value)
    local noun, names = table_kind(value, n, st)
    if noun then return table_view(value, n, noun, names, st) end
  end
  return render(value, st, "")
end

-- Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
function M.default_color()
  local no_color = os.getenv("NO_COLOR")
  return core.isatty(1) and (no_color == nil or no_color == "")
end

-- M.show(value[, opts]): format(value, opts) and a newline on io.stdout
function M.show(value, opts)
  if opts ~= nil and type(opts) ~= "table" then error("smartlead.show: opts must be a table", 2) end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.color == nil then o.color = M.default_color() end
  io.stdout:write(M.format(value, o), "\n")
end

return M
