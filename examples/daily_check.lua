-- daily_check.lua: the fleet's daily check, for cron. Takes today's snapshot of the workspace,
-- runs the trend signals over the history, prints one line per alert, and exits 1 when there is
-- any (so cron mails it), 0 when the fleet is quiet.
--
--   build/smartlua examples/daily_check.lua [DB]            # DB: default ~/.local/share/smartlua/fleet.db
--   build/smartlua --profile acme examples/daily_check.lua  # one history per workspace (profile)
--   build/smartlua --mock examples/daily_check.lua /tmp/fleet.db
--
-- crontab: 15 6 * * *  SMARTLEAD_API_KEY=... /usr/local/bin/smartlua /path/daily_check.lua
local smartlead = require "smartlead"
local signals = smartlead.fleet.signals

local db = arg and arg[1] or nil
local workspace = smartlead.defaults.profile or os.getenv("SMARTLUA_PROFILE") or (smartlead.mock and "mock") or nil
local client = smartlead.client()

local snap, err = smartlead.snapshot(client, { db = db, workspace = workspace })
if not snap then
  io.stderr:write("daily_check: snapshot failed: ", tostring(err), "\n")
  os.exit(2)
end
io.stderr:write(("daily_check: %s %s: %d accounts in %d requests\n"):format(snap.workspace, snap.day, snap.accounts,
  snap.requests))

local history = assert(smartlead.history(snap.path, { workspace = snap.workspace }))
local ev = signals.evaluate(history, {
  reputation_drop = { points = 5, days = 7 },  -- reputation fell 5 points in a week
  spam_rising = { days = 7, ratio = 1.5, min = 2 },
  burnout = { share = 0.9, days = 5 },         -- at 90% of the limit five days running
})
history:close()

for _, a in ipairs(ev.alerts) do
  for _, r in ipairs(a.reasons) do print(("%d\t%s\t%s\t%s"):format(a.id, a.email, r.code, r.message)) end
end
io.stderr:write(("daily_check: %d accounts at risk, %d unused, %d ready to launch\n"):format(#ev.alerts, #ev.unused,
  #ev.ready))
os.exit(#ev.alerts > 0 and 1 or 0)
