-- bench/fleet_bench.lua: how the fleet history scales. Builds a history of N accounts x D days
-- (default 50,000 x 90) through the same write path as smartlead.snapshot (snapshot.store_day),
-- then times the queries the signals, diff and report run, and prints the figures.
--   lua5.4 bench/fleet_bench.lua [accounts] [days] [db-path]     (from the repository root)
--   build/smartlua bench/fleet_bench.lua ...
-- The history is generated (no mock): snapshots' reading side costs ceil(N/100) requests, which the
-- specs and `make bench` (workload SNAP) count; this measures the storage side. The last line on
-- stdout is `RESULT {json}` with the figures, for bench/run.py.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local core = require "smartlead.core"
local store = require "smartlead.fleet.store"
local snapshot = require "smartlead.fleet.snapshot"
local history = require "smartlead.fleet.history"
local signals = require "smartlead.fleet.signals"
local diff = require "smartlead.fleet.diff"
local days = require "smartlead.fleet.days"

local N = tonumber(arg[1]) or 50000
local D = tonumber(arg[2]) or 90
local tmpbase = not arg[3] and os.tmpname() -- an empty file os.tmpname made: removed at the end
local path = arg[3] or tmpbase .. "-fleet.db"
local START = days.parse("2026-01-01")

local function clock() return core.monotime() end
local function mb(bytes) return ("%.1f MB"):format(bytes / 1e6) end
local function size(p)
  local f = io.open(p, "rb")
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n
end

-- splitmix64 draws, as the simulation makes them
local function draw(id, d, salt)
  local z = id * 0xBF58476D1CE4E5B9 + d * 0x94D049BB133111EB + salt
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  z = z ~ (z >> 31)
  return (z >> 11) * (1.0 / 9007199254740992.0)
end

local TYPES = { "GMAIL", "OUTLOOK", "SMTP", "SMTP", "ZOHO" }
local function day_rows(d, state)
  local rows = {}
  for id = 1, N do
    local s = state[id]
    if not s then
      s = { rep = 70 + math.floor(draw(id, 0, 1) * 31), limit = 5 * (4 + math.floor(draw(id, 0, 2) * 17)),
        sent = 0, spam = 0, campaign = draw(id, 0, 3) < 0.4 and tostring(4100 + id % 20) or "" }
      state[id] = s
    end
    s.rep = math.max(40, math.min(100, s.rep + math.floor(draw(id, d, 4) * 3) - 1))
    s.sent = s.sent + 20
    s.spam = s.spam + (20 * (100 - s.rep) + 50) // 100
    local ok = draw(id, d, 5) > 0.02
    rows[id] = { id = 1000000 + id, email = ("bench%d@bulk%d.example.com"):format(id, id % 50),
      type = TYPES[id % 5 + 1],
      message_per_day = s.limit, daily_sent = s.campaign ~= "" and math.floor(s.limit * draw(id, d, 6)) or 0,
      reputation = s.rep, warmup_status = "ACTIVE", warmup_blocked = 0, total_sent = s.sent, total_spam = s.spam,
      smtp_ok = ok and 1 or 0, imap_ok = 1, campaign_ids = s.campaign, campaign_count = s.campaign ~= "" and 1 or 0,
      tags = "", client_id = nil }
  end
  return rows
end

io.write(("fleet bench: %d accounts x %d days into %s (sqlite %s)\n"):format(N, D, path, core.sqlite.sqlite_version))
os.remove(path)
local s = assert(store.open(path))
local state, write_total, worst = {}, 0, 0
for i = 1, D do
  local rows = day_rows(START + i - 1, state)
  local t0 = clock()
  assert(snapshot.store_day(s, { workspace = "bench", day = START + i - 1, rows = rows,
    requests = math.ceil(N / 100) }))
  local dt = clock() - t0
  write_total, worst = write_total + dt, math.max(worst, dt)
  if i % 10 == 0 then io.stderr:write(("  day %d/%d\n"):format(i, D)) end
end
s.db:exec("PRAGMA wal_checkpoint(TRUNCATE)")
s:close()
local rows_total = N * D
io.write(("write: one day of %d accounts in %.2f s on average (worst %.2f s); %d rows in %.1f s\n")
  :format(N, write_total / D, worst, rows_total, write_total))
io.write(("file: %s (%d bytes a row)\n"):format(mb(size(path)), size(path) // rows_total))

local figures = { accounts = N, days = D, write_avg = write_total / D, write_worst = worst, write_total = write_total,
  file_bytes = size(path), bytes_per_row = size(path) // rows_total }
local h = assert(history.open(path))
local function timed(label, fn, name)
  local best = math.huge
  local out
  for _ = 1, 3 do
    local t0 = clock()
    out = fn()
    best = math.min(best, clock() - t0)
  end
  io.write(("%-62s %8.3f s  %s\n"):format(label, best, out or ""))
  if name then figures[name] = best end
end
timed(("trend: reputation change over %d days, every account"):format(D), function()
  local ch = h:change("reputation", { days = D })
  local fell = 0
  for _, c in ipairs(ch) do if c.delta and c.delta <= -5 then fell = fell + 1 end end
  return ("%d accounts, %d fell >= 5 points"):format(#ch, fell)
end, "trend_s")
timed(("fleet series over %d days"):format(D), function() return #h:fleet({ days = D }) .. " days" end, "fleet_s")
timed(("one account's series over %d days"):format(D), function()
  return #h:series(1000000 + N // 2, { days = D }) .. " days"
end, "series_s")
timed("diff since 1d", function() return #assert(diff.diff(path, { since = "1d" })) .. " changes" end, "diff_s")
timed("one day's rows (report's distribution and summary)", function() return #h:day() .. " rows" end)
local function eval(span)
  return function()
    local ev = signals.evaluate(h, { days = span })
    return ("%d alerts, %d unused, %d ready"):format(#ev.alerts, #ev.unused, #ev.ready)
  end
end
timed("every signal, every account, 15-day window (what they need)", eval(15), "signals15_s")
timed("every signal, every account, 30-day window", eval(30), "signals30_s")
h:close()
io.write("RESULT ", require("smartlead.json").encode(figures), "\n")
if tmpbase then os.remove(path); os.remove(path .. "-wal"); os.remove(path .. "-shm"); os.remove(tmpbase) end
