-- Add SMTP email accounts from a CSV file, one account per row. Every row is checked first; a
-- bad row is reported with its line number and nothing is sent for it. An address SmartLead
-- already has is reported as "already there", not as a failure. Passwords are read only from
-- the file (never from the command line) and never printed.
-- Columns (header row; any order; the request fields of add_smtp_account): from_name,
-- from_email, user_name, password, smtp_host, smtp_port, imap_host, imap_port (required);
-- warmup_enabled (default true), max_email_per_day, type, imap_user_name, imap_password,
-- signature, bcc, custom_tracking_url, time_to_wait_in_mins, total_warmup_per_day, daily_rampup,
-- reply_rate_percentage, client_id, different_reply_to_address, is_suspended (optional; an empty
-- cell means "not set").
-- usage: smartlua examples/import_smtp_accounts.lua [--dry-run] FILE.csv
-- (try: smartlua --mock examples/import_smtp_accounts.lua examples/accounts.csv)
local smartlead = require "smartlead"
local import = require "smartlead.import"

local dry_run, path = false, nil
for _, a in ipairs(arg or {}) do
  if a == "--dry-run" then dry_run = true else path = a end
end
if not path then error("usage: import_smtp_accounts.lua [--dry-run] FILE.csv", 0) end

local rows, err = import.smtp_file(path)
if not rows then error(err, 0) end
local good = {}
for _, row in ipairs(rows) do
  if row.fields then
    good[#good + 1] = row
  else
    print(("line %d: bad row, not sent: %s"):format(row.line, table.concat(row.problems, "; ")))
  end
end
local bad = #rows - #good
print(("%d rows: %d to send, %d bad"):format(#rows, #good, bad))
if dry_run then return end

local client = smartlead.client()
local count = { added = 0, added_with_errors = 0, exists = 0, failed = 0 }
for _, row in ipairs(good) do
  local r = import.row_result(row, client:add_smtp_account(row.fields))
  count[r.status] = count[r.status] + 1
  local who = ("line %d %s: "):format(r.line, r.from_email)
  if r.status == "added" then
    print(who .. ("added (id %s)"):format(r.id or "?"))
  elseif r.status == "added_with_errors" then -- the account exists: fix its credentials, never add it again
    print(who .. ("%s (id %s)"):format(r.error, r.id or "?"))
  elseif r.status == "exists" then
    print(who .. ("already there (id %s)"):format(r.id or "?"))
  else
    print(who .. "failed: " .. r.error) -- the row's passwords are masked in r.error
  end
end
print(("added %d, added with connection errors %d, already there %d, failed %d, bad rows %d"):format(count.added,
  count.added_with_errors, count.exists, count.failed, bad))
if count.failed > 0 or count.added_with_errors > 0 or bad > 0 then os.exit(1) end
