-- smartlead.fleet.commands: what `smartlua snapshot`, `smartlua diff` and `smartlua report` run.
-- The command line parses flags into an options table and calls these; each prints its result and
-- returns an exit code (0 ok, 1 error, 2 usage), as every smartlua command does.
--
--   commands.snapshot{db=, workspace=, profile=, stats=, day=, format=, client=}
--   commands.diff{db=, workspace=, since=, from=, to=, reputation=, format=}
--   commands.report{db=, workspace=, html=FILE, days=, to=}
--   commands.check{db=, workspace=, days=, format=}   the signals' alerts; exit 1 when there are any
--
-- db: a path, else $XDG_DATA_HOME/smartlua/fleet.db. workspace: else the profile's name (--profile),
-- else a name made from a fingerprint of the base URL and key. out/err: streams (io.stdout/io.stderr).
local M = {}

local function streams(opts) return opts.out or io.stdout, opts.err or io.stderr end

local function failed(err_stream, err, code)
  err_stream:write("smartlua: ", tostring(err), "\n")
  return code or 1
end

local function writer(opts, out, fields)
  local formats = require "smartlead.formats"
  local fmt = opts.format or formats.default()
  if not formats.known(fmt) then return nil end
  return formats.writer(fmt, out, { fields = fields })
end

function M.snapshot(opts)
  local out, err = streams(opts)
  local smartlead = require "smartlead"
  local client = opts.client
  if not client then
    local ok, c = pcall(smartlead.client, opts.profile and { profile = opts.profile } or nil)
    if not ok then return failed(err, c, 2) end
    client = c
  end
  local ok, res, serr = pcall(smartlead.snapshot, client, { db = opts.db, workspace = opts.workspace or opts.profile,
    stats = opts.stats, day = opts.day })
  if not ok then return failed(err, res, 2) end
  if not res then return failed(err, serr) end
  for _, why in ipairs(res.skipped) do err:write("smartlua: snapshot: skipped ", why, "\n") end
  out:write(("%s: %d accounts, %d campaigns in %d requests, %s snapshot of %s (%s)\n"):format(res.workspace,
    res.accounts, res.campaigns, res.requests, res.replaced and "replaced the" or "took the", res.day, res.path))
  return 0
end

function M.diff(opts)
  local out, err = streams(opts)
  local diff = require "smartlead.fleet.diff"
  local ok, rows, span = pcall(diff.diff, opts.db, { since = opts.since, from = opts.from, to = opts.to },
    { workspace = opts.workspace, reputation = opts.reputation })
  if not ok then return failed(err, rows, 2) end
  if not rows then return failed(err, span, (type(span) == "table" and span.kind == "usage") and 2 or 1) end
  local w = writer(opts, out, diff.COLUMNS)
  if not w then return failed(err, "unknown --format " .. tostring(opts.format), 2) end
  for _, r in ipairs(rows) do w:add(r) end
  w:close()
  err:write(("smartlua: diff %s -> %s: %d changes\n"):format(span.from, span.to, #rows))
  return 0
end

function M.report(opts)
  local out, err = streams(opts)
  if not opts.html then return failed(err, "report: --html FILE is required", 2) end
  local report = require "smartlead.fleet.report"
  local ok, html, info = pcall(report.report, opts.db, { html = opts.html, days = opts.days, to = opts.to,
    workspace = opts.workspace })
  if not ok then return failed(err, html, 2) end
  if not html then return failed(err, info) end
  out:write(("%s: %s to %s, %d accounts, %d at risk, %d charts\n"):format(opts.html, info.from, info.to, info.accounts,
    info.alerts, info.charts))
  return 0
end

function M.check(opts)
  local out, err = streams(opts)
  local history = require "smartlead.fleet.history"
  local signals = require "smartlead.fleet.signals"
  local h, herr = history.open(opts.db, { workspace = opts.workspace })
  if not h then return failed(err, herr) end
  local ok, ev = pcall(signals.evaluate, h, { days = opts.days })
  h:close()
  if not ok then return failed(err, ev) end
  local w = writer(opts, out, { "id", "email", "code", "message" })
  if not w then return failed(err, "unknown --format " .. tostring(opts.format), 2) end
  for _, a in ipairs(ev.alerts) do
    for _, r in ipairs(a.reasons) do w:add({ id = a.id, email = a.email, code = r.code, message = r.message }) end
  end
  w:close()
  return #ev.alerts > 0 and 1 or 0
end

return M
