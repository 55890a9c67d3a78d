-- tools/check_report.lua (make check-report): renders the fleet report in a real headless browser.
-- Builds 30 simulated days over the fixture fleet (fleet/simulate.lua against the mock), writes
-- the report, then has Debian's chromium load it from a file with no network: --dump-dom for the
-- DOM the browser built, --screenshot at desktop and phone widths. Fails unless the browser
-- exits 0, reports no failed load, and the DOM holds every chart with its marks drawn.
--   build/smartlua tools/check_report.lua [OUTDIR]     (default build/report)
local smartlead = require "smartlead"
local mock_server = require "smartlead.mock.server"
local simulate = require "smartlead.fleet.simulate"

local out = arg[1] or "build/report"
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function read(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
local failures = 0
local function check(ok, what)
  print((ok and "ok    " or "FAIL  ") .. what)
  if not ok then failures = failures + 1 end
end

assert(os.execute("mkdir -p " .. q(out)))
local db = out .. "/fleet.db"
os.remove(db); os.remove(db .. "-wal"); os.remove(db .. "-shm")
local server = mock_server.start {}
local client = server:client()
local sim = simulate.new(server, { seed = 7, start = "2026-11-01" })
for _ = 1, 30 do
  sim:advance()
  assert(smartlead.snapshot(client, { db = db, workspace = "acme", day = sim:day() }))
end
client:close()
server:stop()
local html_path = out .. "/report.html"
local _, info = assert(smartlead.fleet.report(db, { html = html_path }))
print(("report: %s (%d accounts, %d at risk, %d charts)"):format(html_path, info.accounts, info.alerts, info.charts))

local abs = io.popen("readlink -f " .. q(html_path)):read("l")
local browser = os.getenv("CHROMIUM") or "chromium"
-- no network at all: every host resolves nowhere, so any fetch would fail and be logged
local flags = "--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-extensions "
  .. "--host-resolver-rules='MAP * ~NOTFOUND' --enable-logging=stderr --v=0 --virtual-time-budget=2000"
local function run(extra, log)
  local ok, _, code = os.execute(("%s %s %s file://%s >%s.out 2>%s.err"):format(browser, flags, extra, abs, log, log))
  return ok, code, (read(log .. ".out") or ""), (read(log .. ".err") or "")
end

local ok, code, dom, err = run("--dump-dom", out .. "/dom")
check(ok, ("chromium --dump-dom exits 0 (got %s)"):format(tostring(code)))
check(not err:find("Failed to load resource", 1, true) and not err:find("Uncaught", 1, true),
  "no failed load and no script error in the browser's log")
local charts, polylines, bars = 0, 0, 0
for _ in dom:gmatch('<svg class="chart"') do charts = charts + 1 end
for pts in dom:gmatch('<polyline class="series"[^>]-points="([^"]*)"') do
  local n = 0
  for _ in pts:gmatch("[%d.]+,[%d.]+") do n = n + 1 end
  if n >= 2 then polylines = polylines + 1 end
end
for h in dom:gmatch('<rect class="bar"[^>]-height="([%d.]+)"') do
  if tonumber(h) > 0 then bars = bars + 1 end
end
check(charts == info.charts, ("the DOM holds %d SVG charts (expected %d)"):format(charts, info.charts))
check(polylines >= 5, ("%d trend lines drawn with 2+ points"):format(polylines))
check(bars >= 7 + 5, ("%d bars drawn (reputation bands and campaigns)"):format(bars))
check(dom:find("At risk (", 1, true) ~= nil, "the at-risk list is there")

for _, shot in ipairs({ { "report.png", "1100,2600" }, { "report-phone.png", "390,3000" } }) do
  local png = out .. "/" .. shot[1]
  os.remove(png)
  ok = run(("--screenshot=%s --window-size=%s"):format(q(png), shot[2]), out .. "/shot")
  local bytes = read(png) or ""
  check(ok and bytes:sub(2, 4) == "PNG" and #bytes > 20000, ("screenshot %s (%d bytes)"):format(png, #bytes))
end
print(failures == 0 and "check-report: all passed" or ("check-report: %d failed"):format(failures))
os.exit(failures == 0 and 0 or 1)
