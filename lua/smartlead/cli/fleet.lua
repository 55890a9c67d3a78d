-- `smartlua snapshot`, `smartlua diff`, `smartlua report`, `smartlua check`: fleet memory from
-- the command line (the work is smartlead.fleet.commands'; this file only names the flags).
local options = require "smartlead.cli.options"

local opt = options.opt

local DB = opt({ "--db" }, "db", "value", "FILE", "the history database (default $XDG_DATA_HOME/smartlua/fleet.db)")
local WORKSPACE = opt({ "--workspace" }, "workspace", "value", "NAME",
  "whose history (default: the profile's name, else a fingerprint of the base URL and key)")

local function runner(name)
  return function(ctx)
    local o = {}
    for k, v in pairs(ctx.opts) do o[k] = v end
    if name == "snapshot" then o.client = ctx:client() end
    return require("smartlead.fleet.commands")[name](o)
  end
end

return {
  snapshot = {
    summary = "store today's state of the fleet in its history (one request per 100 accounts)",
    run = runner("snapshot"),
    options = { DB, WORKSPACE,
      opt({ "--stats" }, "stats", "flag", nil, "also store each campaign's mailbox statistics"),
      opt({ "--day" }, "day", "value", "YYYY-MM-DD", "store it as this day (default: today, UTC)") },
    globals = options.scope("client"),
  },
  diff = {
    summary = "what changed in the fleet between two snapshots",
    run = runner("diff"),
    options = { DB, WORKSPACE,
      opt({ "--since" }, "since", "value", "AGE", "from the snapshot this long ago (1d, 7d) to the latest"),
      opt({ "--from" }, "from", "value", "YYYY-MM-DD", "the earlier snapshot"),
      opt({ "--to" }, "to", "value", "YYYY-MM-DD", "the later snapshot"),
      opt({ "--reputation" }, "reputation", "value", "N", "report reputation moves of at least N points (default 5)") },
    globals = options.scope("format"),
  },
  report = {
    summary = "one self-contained HTML page: summary, trends, capacity and the at-risk list",
    run = runner("report"),
    options = { DB, WORKSPACE,
      opt({ "--html" }, "html", "value", "FILE", "the page to write"),
      opt({ "--days" }, "days", "value", "N", "the window, in days (default 30)") },
    globals = {},
  },
  check = {
    summary = "the trend signals' alerts on the latest snapshot; exit 1 when there are any (for cron)",
    run = runner("check"),
    options = { DB, WORKSPACE, opt({ "--days" }, "days", "value", "N", "the window, in days (default 30)") },
    globals = options.scope("format"),
  },
}
