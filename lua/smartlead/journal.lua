-- The write journal: one JSON object per line (JSONL), appended and flushed per record, so a
-- run killed at any moment leaves at most its last line cut short.
--
-- Records: {type="begin", journal=1, mode=, time=, pid=}, then per write an intent
-- {type="intent", seq=, time=, op=, target=, fields=, before=} written before the request is
-- sent and a result {type="result", seq=, time=, status="ok"|"failed", answer= | error=} after.
local core = require "smartlead.core"
local json = require "smartlead.json"
local operations = require "smartlead.operations"

local M = {}

M.VERSION = 1

local SECRET_KEYS = { password = true, imap_password = true, token = true, access_token = true,
  refresh_token = true, id_token = true, api_key = true, secret = true }

-- True for field names whose values must never be written down.
function M.is_secret(key)
  if type(key) ~= "string" then return false end
  local k = key:lower()
  return SECRET_KEYS[k] or k == "apikey" or k:find("password", 1, true) ~= nil or k:find("token", 1, true) ~= nil
    or k:find("secret", 1, true) ~= nil
end

-- A deep copy of v with every secret value replaced by "***".
function M.redact(v)
  if type(v) ~= "table" or v == json.null then return v end
  local out = {}
  for k, x in pairs(v) do
    if M.is_secret(k) then out[k] = "***" else out[k] = M.redact(x) end
  end
  return setmetatable(out, getmetatable(v)) -- keeps json arrays arrays
end

-- True when v (a redacted table) lost a secret: it cannot be sent as it stands.
function M.has_redacted(v)
  if type(v) ~= "table" or v == json.null then return false end
  for k, x in pairs(v) do
    if (M.is_secret(k) and x == "***") or M.has_redacted(x) then return true end
  end
  return false
end

-- This process's pid (names the default journal and goes into its begin record).
function M.pid() return core.os.getpid() end

-- The directory under $XDG_STATE_HOME/smartlua that default journals go to; runs against
-- --mock set it to "mock-journal", so they never mix with the real ones.
M.DIR = "journal"

-- $XDG_STATE_HOME/smartlua/journal (default ~/.local/state/smartlua/journal).
function M.dir()
  local base = os.getenv("XDG_STATE_HOME")
  if not base or base == "" then
    local home = os.getenv("HOME")
    if not home or home == "" then return nil, "neither XDG_STATE_HOME nor HOME is set" end
    base = home .. "/.local/state"
  end
  return base .. "/smartlua/" .. M.DIR
end

local named = {} -- default names given out by this process: a second run in the same second gets -2

function M.default_path()
  local dir, err = M.dir()
  if not dir then return nil, err end
  local base = ("%s/%s-%d"):format(dir, os.date("!%Y%m%dT%H%M%SZ"), M.pid())
  named[base] = (named[base] or 0) + 1
  if named[base] == 1 then return base .. ".jsonl" end
  return ("%s-%d.jsonl"):format(base, named[base])
end

local Journal = {}
Journal.__index = Journal

-- The highest seq in an existing journal (0 for a new or empty one), after dropping a last
-- line cut short, so that appending continues its numbering on a clean line. Returns seq and
-- the mode ("0644") the file had if others could use it | nil, err.
local function existing_seq(path)
  local f, widened = core.os.open_private(path, "rb")
  if not f then
    if widened:match("No such file") then return 0 end
    return nil, widened
  end
  local empty = f:seek("end") == 0
  f:close()
  if empty then return 0, widened end
  local ok, err = M.repair(path)
  if not ok then return nil, err end
  local records, rerr = M.read(path)
  if not records then return nil, rerr end
  return M.index(records).max_seq, widened
end

-- journal.open(path, {create_dirs=bool}) -> Journal | nil, err. Appends to an existing file,
-- never through a symbolic link; a new one is 0600, and one that others could read or write is
-- tightened to 0600, which is said on stderr.
function M.open(path, opts)
  -- the opens below refuse a link too (O_NOFOLLOW); this says so as the write it is
  if core.os.is_symlink(path) then return nil, path .. " is a symbolic link; refusing to write through it" end
  if opts and opts.create_dirs then
    local dir = path:match("^(.*)/[^/]*$")
    if dir and dir ~= "" then
      local ok, err = core.os.mkdir_private(dir)
      if not ok then return nil, err end
    end
  end
  local seq, widened = existing_seq(path)
  if not seq then return nil, widened end
  local f, now_widened = core.os.open_private(path, "a") -- a repaired journal is 0600 already
  if not f then return nil, now_widened end
  widened = now_widened or widened
  if widened then
    io.stderr:write(("smartlua: journal: %s had mode %s; tightened to 0600\n"):format(path, widened))
  end
  f:setvbuf("full", 1 << 16)
  return setmetatable({ path = path, file = f, seq = seq, writes = 0 }, Journal)
end

function M.now() return os.date("!%Y-%m-%dT%H:%M:%SZ") end

-- The error a journal that cannot be written raises: fatal, so bulk runs stop at once.
function M.write_error(path, why)
  return core.new_error { kind = "journal", code = "JOURNAL_WRITE_FAILED", fatal = true, path = path,
    message = ("cannot write the journal %s: %s; no write is sent without its record"):format(path, tostring(why)) }
end

-- Appends one record as one line and hands it to the kernel before returning; raises
-- journal.write_error when the disk refuses (full, read-only, gone).
function Journal:append(record)
  record.time = record.time or M.now()
  -- every API key the process knows masked, wherever a script put it (a field name, a value)
  local line = core.mask(json.encode(record)) .. "\n"
  local ok, err = self.file:write(line)
  if ok then ok, err = self.file:flush() end
  if not ok then error(M.write_error(self.path, err), 0) end
end

function Journal:begin(mode, extra)
  local r = { type = "begin", journal = M.VERSION, mode = mode, pid = M.pid() }
  for k, v in pairs(extra or {}) do r[k] = v end
  self:append(r)
end

-- Writes the intent of a write; returns its seq.
function Journal:intent(record)
  self.seq = self.seq + 1
  self.writes = self.writes + 1
  record.type, record.seq = "intent", self.seq
  record.fields = M.redact(record.fields)
  self:append(record)
  return self.seq
end

-- A short, secret-free form of an error value.
function M.error_fields(err)
  if type(err) ~= "table" then return { message = tostring(err) } end
  -- ambiguous: the server may have acted although the call failed (undo and resume check values)
  return { kind = err.kind, status = err.status, code = err.code, message = err.message, field = err.field,
           ambiguous = err.ambiguous or nil }
end

function Journal:result(seq, ok, value, extra)
  local r = { type = "result", seq = seq, status = ok and "ok" or "failed" }
  if ok then r.answer = M.redact(value) else r.error = M.error_fields(value) end
  for k, v in pairs(extra or {}) do r[k] = v end
  self:append(r)
end

function Journal:close()
  if self.file then self.file:close() end
  self.file = nil
end

---------------------------------------------------------------------------- reading

local function positive_integer(v) return math.type(v) == "integer" and v > 0 end

local function id_list(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  if n ~= #v then return false end
  for _, id in ipairs(v) do
    if not positive_integer(id) then return false end
  end
  return true
end

-- What an op's target must name: its row's target, a create's lookup key, a request's method and path.
local function needed_target(op)
  if op.op == "request" then return "request" end
  local row = operations.get(op.op)
  if not row then return nil end
  if row.kind == "create" and row.lookup then return "email" end
  return row.target
end

local function check_target(op)
  local t, need = op.target, needed_target(op)
  for _, k in ipairs { "account", "campaign" } do
    if t[k] ~= nil and not positive_integer(t[k]) then return nil, ("target.%s is not a positive integer"):format(k) end
  end
  for _, k in ipairs { "email", "method", "path" } do
    if t[k] ~= nil and type(t[k]) ~= "string" then return nil, ("target.%s is not a string"):format(k) end
  end
  if need and need ~= "request" then
    if t[need] == nil then return nil, ("%s without target.%s"):format(op.op, need) end
  elseif need == "request" and (t.method == nil or t.path == nil) then
    return nil, "request without target.method and target.path"
  end
  return true
end

-- journal.check_op(op) -> true | nil, why: the shape every reader of a recorded op (plan, apply,
-- undo, resume) relies on: {op=, target={...}, fields={...}, before={...}?}, ids positive integers.
function M.check_op(op)
  if type(op) ~= "table" then return nil, "not an object" end
  if type(op.op) ~= "string" then return nil, "no op name" end
  local row = operations.get(op.op)
  if not row and op.op ~= "request" and not (type(op.method) == "string" and type(op.path) == "string") then
    return nil, ("unknown op %q"):format(op.op)
  end
  local kind = op.kind or (row and row.kind) or "action" -- records written before kinds were recorded
  if not operations.KINDS[kind] or kind == "read" then
    return nil, ("kind %q is not a kind of write"):format(tostring(kind))
  end
  if row and row.kind ~= kind then return nil, ("op %s is a %s, not a %s"):format(op.op, row.kind, kind) end
  if type(op.target) ~= "table" then return nil, "target is not an object" end
  if op.inverse ~= nil and (type(op.inverse) ~= "table" or type(op.inverse.op) ~= "string"
    or type(op.inverse.method) ~= "string" or type(op.inverse.path) ~= "string") then
    return nil, "inverse is not {op=, method=, path=}"
  end
  if type(op.fields) ~= "table" then return nil, "fields is not an object" end
  if op.before ~= nil and type(op.before) ~= "table" then return nil, "before is not an object" end
  if op.removes ~= nil and type(op.removes) ~= "boolean" then return nil, "removes is not a boolean" end
  for _, k in ipairs { "flag", "members" } do
    if op[k] ~= nil and (type(op[k]) ~= "string" or not op[k]:match("^[%a_][%w_]*$")) then
      return nil, k .. " is not a field name"
    end
  end
  local ok, why = check_target(op)
  if not ok then return nil, why end
  if row and row.arg == "id_pairs" then
    if not id_list(op.fields.email_account_ids) or not id_list(op.fields.tag_ids) then
      return nil, "fields.email_account_ids and fields.tag_ids are not lists of ids"
    end
  end
  if row and row.target == "campaign" and row.arg == "ids" then
    if not id_list(op.fields.email_account_ids) then return nil, "fields.email_account_ids is not a list of ids" end
    if op.before and op.before.attached ~= nil and not id_list(op.before.attached) then
      return nil, "before.attached is not a list of ids"
    end
  end
  return true
end

-- journal.complete(op) -> op: a checked op from an older file gets what its row says today
-- (kind, method, path, inverse), so undo and resume read every file alike.
function M.complete(op)
  local row = operations.get(op.op)
  op.kind = op.kind or (row and row.kind) or "action"
  if row then
    local function path(template) return (template:gsub("{id}", tostring(row.target and op.target[row.target]))) end
    op.method, op.path = op.method or row.method, op.path or path(row.path)
    if op.removes == nil then op.removes = row.removes or nil end
    if op.flag == nil then op.flag = row.flag end
    if op.members == nil then op.members = row.members end
    local inv = row.inverse and not op.inverse and operations.get(row.inverse)
    if inv then op.inverse = { op = inv.name, method = inv.method, path = path(inv.path) } end
  end
  return op
end

-- What undo and resume read of a record, checked before anyone relies on it.
local function check_record(rec)
  if type(rec) ~= "table" then return nil, "not a JSON object" end
  if type(rec.type) ~= "string" then return nil, "no record type" end
  if rec.type == "intent" or rec.type == "result" then
    if not positive_integer(rec.seq) then return nil, "seq is not a positive integer" end
  end
  if rec.type == "intent" then return M.check_op(rec) end
  if rec.type == "result" and type(rec.status) ~= "string" then return nil, "a result without a status" end
  return true
end

-- Splits text into records. A last line without its newline is the trace of a kill mid-write
-- and is dropped (even when it parses); a bad line anywhere else is an error.
function M.parse(text)
  if type(text) ~= "string" then return nil, "a journal is text, got " .. type(text) end
  local records, lines = {}, {}
  -- plain finds: text:match("([^\n]*)$") retries from every byte, quadratic in the line length
  local pos = 1
  while pos <= #text do
    local nl = text:find("\n", pos, true) or #text + 1
    lines[#lines + 1] = text:sub(pos, nl - 1)
    pos = nl + 1
  end
  local complete_last = text:sub(-1) == "\n"
  for i, line in ipairs(lines) do
    if line ~= "" then
      local rec, err = json.decode(line)
      local ok, why = rec ~= nil, err
      if ok then ok, why = check_record(rec) end
      if i == #lines and not complete_last then break end -- cut short by a kill, even if it parses
      if not ok then return nil, ("line %d is not a journal record: %s"):format(i, why) end
      records[#records + 1] = rec
    end
  end
  return records
end

function M.read(path)
  local f, err = core.os.open_private(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  local records, perr = M.parse(text)
  if not records then return nil, path .. ": " .. perr end
  return records, text
end

-- Pairs intents with their results: {by_seq = {[seq] = {intent=, result=}}, order = {seqs},
-- max_seq = n}. A later result for the same seq (a resumed write) replaces an earlier one.
function M.index(records)
  local by_seq, order, max_seq = {}, {}, 0
  for _, r in ipairs(records) do
    local seq = math.tointeger(r.seq)
    if r.type == "intent" and seq then
      by_seq[seq] = { intent = M.complete(r) }
      order[#order + 1] = seq
      if seq > max_seq then max_seq = seq end
    elseif r.type == "result" and seq and by_seq[seq] then
      by_seq[seq].result = r
    end
  end
  return { by_seq = by_seq, order = order, max_seq = max_seq }
end

-- Rewrites path without its cut-short last line (atomically, via rename), so that appending
-- after a kill starts on a clean line.
function M.repair(path)
  local records, text = M.read(path)
  if not records then return nil, text end
  if text == "" or text:sub(-1) == "\n" then return true end
  local tmp = path .. ".repair"
  os.remove(tmp)
  local f, err = core.os.open_private(tmp, "wbx")
  if not f then return nil, err end
  for _, r in ipairs(records) do f:write(json.encode(r), "\n") end
  local ok, werr = f:close()
  if not ok then
    os.remove(tmp)
    return nil, werr
  end
  return os.rename(tmp, path)
end

return M
