-- Add SMTP email accounts from a CSV file, one account per row. Every row is checked first; a
-- bad row is reported with its line number and nothing is sent for it. An address SmartLead
-- already has is reported as "already there", not as a failure. Passwords are read only from
-- the file (never from the command line) and never printed.
-- Columns (header row; any order): from_name, from_email, user_name, password, smtp_host,
-- smtp_port, imap_host, imap_port (required); warmup_enabled (default true), max_email_per_day,
-- type, imap_user_name, imap_password, signature, bcc, custom_tracking_url, time_to_wait_in_mins,
-- total_warmup_per_day, daily_rampup, reply_rate_percentage, client_id,
-- different_reply_to_address (optional; an empty cell means "not set").
-- usage: smartlua examples/import_smtp_accounts.lua [--dry-run] FILE.csv
-- (try: smartlua --mock examples/import_smtp_accounts.lua examples/accounts.csv)
local smartlead = require "smartlead"
local csv = require "smartlead.csv"

local function text(v) return v end
local function integer(lo, hi)
  return function(v)
    local n = math.tointeger(tonumber(v))
    if n and n >= lo and n <= hi then return n end
    return nil, ("must be a whole number from %d to %d"):format(lo, hi)
  end
end
local function number(v)
  local n = tonumber(v)
  if n then return n end
  return nil, "must be a number"
end
local function email(v)
  if v:match("^[^@%s]+@[^@%s]+%.[^@%s]+$") then return v end
  return nil, "must be an email address"
end
local BOOL = { ["true"] = true, yes = true, ["1"] = true, ["false"] = false, no = false, ["0"] = false }
local function boolean(v)
  local b = BOOL[v:lower()]
  if b == nil then return nil, "must be true or false" end
  return b
end
local function esp(v)
  local t = v:upper()
  if t == "SMTP" or t == "GMAIL" or t == "OUTLOOK" then return t end
  return nil, "must be SMTP, GMAIL or OUTLOOK"
end

local PORT = integer(1, 65535)
-- column -> {parse, required, secret}; the column names are the API's request fields.
local COLUMNS = {
  from_name = { text, true }, from_email = { email, true }, user_name = { text, true },
  password = { text, true, true }, smtp_host = { text, true }, smtp_port = { PORT, true },
  imap_host = { text, true }, imap_port = { PORT, true }, warmup_enabled = { boolean },
  max_email_per_day = { integer(0, 100000) }, type = { esp }, imap_user_name = { text },
  imap_password = { text, false, true }, signature = { text }, bcc = { email },
  custom_tracking_url = { text }, time_to_wait_in_mins = { integer(0, 100000) },
  total_warmup_per_day = { integer(0, 100000) }, daily_rampup = { integer(0, 100000) },
  reply_rate_percentage = { number }, client_id = { integer(0, math.maxinteger) },
  different_reply_to_address = { email },
}

local dry_run, path = false, nil
for _, a in ipairs(arg or {}) do
  if a == "--dry-run" then dry_run = true else path = a end
end
if not path then error("usage: import_smtp_accounts.lua [--dry-run] FILE.csv", 0) end

local function read_records(file)
  local f, err = io.open(file, "rb")
  if not f then error(err, 0) end
  local content = f:read("a")
  f:close()
  local records, header, lines = csv.records(content)
  if not records then error(file .. ": " .. header, 0) end
  for _, name in ipairs(header) do
    if not COLUMNS[name] then error(("%s: unknown column '%s'"):format(file, name), 0) end
  end
  local present = {}
  for _, name in ipairs(header) do present[name] = true end
  for name, col in pairs(COLUMNS) do
    if col[2] and not present[name] then error(("%s: missing column '%s'"):format(file, name), 0) end
  end
  return records, lines
end

-- The request fields for one row, or nil and every problem found (never a secret's value).
local function check_row(rec)
  local fields, problems = { warmup_enabled = true }, {}
  for name, col in pairs(COLUMNS) do
    local raw = rec[name]
    if raw == nil or raw == "" then
      if col[2] then problems[#problems + 1] = name .. " is empty" end
    else
      local v, why = col[1](raw)
      if v == nil then
        problems[#problems + 1] = col[3] and (name .. " " .. why) or ("%s %s (got '%s')"):format(name, why, raw)
      else
        fields[name] = v
      end
    end
  end
  table.sort(problems)
  if #problems > 0 then return nil, table.concat(problems, "; ") end
  return fields
end

-- Error text with the row's secrets masked, whatever the server echoed.
local function scrub(s, fields)
  for _, name in ipairs({ "password", "imap_password" }) do
    local secret = fields[name]
    if secret and #secret > 0 then
      s = s:gsub(secret:gsub("%W", "%%%0"), "***")
    end
  end
  return s
end

local records, lines = read_records(path)
local good, seen, bad = {}, {}, 0
for i, rec in ipairs(records) do
  local fields, why = check_row(rec)
  local addr = fields and fields.from_email:lower()
  if fields and seen[addr] then fields, why = nil, ("from_email repeats line %d"):format(seen[addr]) end
  if fields then
    seen[addr] = lines[i]
    good[#good + 1] = { line = lines[i], fields = fields }
  else
    bad = bad + 1
    print(("line %d: bad row, not sent: %s"):format(lines[i], why))
  end
end
print(("%d rows: %d to send, %d bad"):format(#records, #good, bad))
if dry_run then return end

local client = smartlead.client()
local added, there, failed = 0, 0, 0
for _, row in ipairs(good) do
  local res, err = client:add_smtp_account(row.fields)
  local who = ("line %d %s: "):format(row.line, row.fields.from_email)
  if res then
    added = added + 1
    print(who .. ("added (id %s)"):format(res.email_account_id or (res.data and res.data.id) or "?"))
  elseif err.code == "ACCOUNT_ALREADY_EXIST" then
    there = there + 1
    print(who .. ("already there (id %s)"):format(err.email_account_id or "?"))
  else
    failed = failed + 1
    print(who .. "failed: " .. scrub(tostring(err), row.fields))
  end
end
print(("added %d, already there %d, failed %d, bad rows %d"):format(added, there, failed, bad))
if failed > 0 or bad > 0 then os.exit(1) end
