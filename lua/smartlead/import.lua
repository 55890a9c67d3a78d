-- smartlead.import: SMTP accounts read from a CSV file, every row checked before anything is sent.
-- Used by `smartlua accounts add --csv FILE` and by examples/import_smtp_accounts.lua.
--
-- import.smtp_rows(text) -> rows | nil, err
-- import.smtp_file(path) -> rows | nil, err        (path "-" reads stdin; err names the file)
-- import.row_result(row, answer, err) -> result    (what became of one row)
-- import.scrub(text, fields) -> text               (the row's passwords and any API key masked)
-- import.COLUMNS, import.REQUIRED                  (column -> registry type name; column -> true)
--
-- The columns are the request fields of the add_smtp_account endpoint, but id (this adds, it does
-- not update); the header names them in any order. An empty cell means "not set"; warmup_enabled
-- is true unless the file says otherwise. rows[i] is, for the record that starts on line N:
--   {line = N, from_email = "as written", fields = {typed request fields}}   a row to send
--   {line = N, from_email = "as written", problems = {"smtp_port must be ...", ...}}   a bad one
-- A problem names the column and the value, but never a password's. The same from_email twice
-- (in any case) makes the later row bad. err (a missing or unknown column, bad CSV) ends the
-- whole file: nothing in it is checked further.
-- result = {line =, from_email =, status = "added"|"added_with_errors"|"exists"|"failed"|"invalid", id =,
-- error =}. added_with_errors: saved, but its connection check failed (fix it with save and its id).
local csv = require "smartlead.csv"
local convert = require "smartlead.convert"

local M = {}

M.REQUIRED = { from_name = true, from_email = true, user_name = true, password = true, smtp_host = true,
  smtp_port = true, imap_host = true, imap_port = true }
local SECRETS = { password = true, imap_password = true }
-- Column names people write for the ones we take.
local HINTS = { username = "user_name", imap_username = "imap_user_name", email = "from_email",
  name = "from_name", max_emails_per_day = "max_email_per_day", message_per_day = "max_email_per_day" }

---------------------------------------------------------------------------- cell types

-- column -> the registry field it fills, for every field of add_smtp_account but id; each cell
-- is read by that field type's converter (smartlead.convert).
local READ = {}
M.COLUMNS = {} -- column -> registry type name
for _, f in ipairs(require("smartlead.operations").get("add_smtp_account").fields) do
  if f.name ~= "id" then
    READ[f.name], M.COLUMNS[f.name] = convert.field(f), f.type
  end
end

---------------------------------------------------------------------------- checking

-- nil when the header is usable, else why not.
local function header_problem(header)
  local present = {}
  for _, name in ipairs(header) do
    if not M.COLUMNS[name] then
      local hint = HINTS[name] and (" (did you mean '" .. HINTS[name] .. "'?)") or ""
      return ("unknown column '%s'%s"):format(name, hint)
    end
    present[name] = true
  end
  local missing = {}
  for name in pairs(M.REQUIRED) do
    if not present[name] then missing[#missing + 1] = name end
  end
  table.sort(missing)
  if #missing > 0 then
    return ("missing column%s: %s"):format(#missing > 1 and "s" or "", table.concat(missing, ", "))
  end
end

-- One record's request fields and its problems (sorted; empty when the row is good).
local function check_record(rec)
  local fields, problems = { warmup_enabled = true }, {}
  for name in pairs(M.COLUMNS) do
    local raw = rec[name]
    if raw ~= nil and raw ~= "" then
      local v, must = READ[name](raw)
      if v ~= nil then
        fields[name] = v
      elseif SECRETS[name] then
        problems[#problems + 1] = name .. " must be " .. must
      else
        problems[#problems + 1] = ("%s must be %s, got '%s'"):format(name, must, raw)
      end
    elseif M.REQUIRED[name] then
      problems[#problems + 1] = name .. " is empty"
    end
  end
  table.sort(problems)
  return fields, problems
end

function M.smtp_rows(text)
  local records, header, lines = csv.records(text)
  if not records then return nil, header end
  local bad_header = header_problem(header)
  if bad_header then return nil, bad_header end
  local rows, seen = {}, {}
  for i, rec in ipairs(records) do
    local row, fields, problems = { line = lines[i], from_email = rec.from_email }, check_record(rec)
    local addr = #problems == 0 and fields.from_email:lower()
    if addr and seen[addr] then problems = { ("from_email repeats line %d"):format(seen[addr]) } end
    if #problems == 0 then
      seen[addr], row.fields = row.line, fields
    else
      row.problems = problems
    end
    rows[i] = row
  end
  return rows
end

local function read_all(path)
  if path == "-" then return io.stdin:read("a") end
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

function M.smtp_file(path)
  local text, err = read_all(path)
  if not text then return nil, err end
  local rows, why = M.smtp_rows(text)
  if not rows then return nil, ("%s: %s"):format(path, why) end
  return rows
end

---------------------------------------------------------------------------- results

function M.scrub(text, fields)
  for name in pairs(SECRETS) do
    local secret = fields[name]
    if type(secret) == "string" and #secret > 0 then text = text:gsub(secret:gsub("%W", "%%%0"), "***") end
  end
  return require("smartlead.core").mask(text)
end

-- The outcome of a row: a bad row (no answer needed), or the answer of
-- client:add_smtp_account(row.fields), which may be nil, err.
function M.row_result(row, answer, err)
  local r = { line = row.line, from_email = row.from_email }
  if not row.fields then
    r.status, r.error = "invalid", table.concat(row.problems, "; ")
  elseif answer then
    r.status = answer.created_with_errors and "added_with_errors" or "added"
    r.id = answer.email_account_id or answer.emailAccountId or (type(answer.data) == "table" and answer.data.id) or nil
    if answer.created_with_errors then r.error = M.scrub(tostring(answer.message), row.fields) end
  elseif err.code == "ACCOUNT_ALREADY_EXIST" then
    r.status, r.id, r.error = "exists", err.email_account_id, "already in SmartLead"
  else
    r.status, r.error = "failed", M.scrub(tostring(err), row.fields)
  end
  return r
end

return M
