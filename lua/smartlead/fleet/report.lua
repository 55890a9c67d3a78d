-- smartlead.fleet.report(db, {html=FILE, days=30, workspace=, to=, title=}) -> html, info | nil, err
--
-- One self-contained HTML page: fleet summary, reputation distribution, capacity per campaign,
-- trends over the window, the at-risk list with reasons, and the healthiest and weakest senders.
-- Charts are inline SVG; no script, font, image or style sheet is fetched from anywhere. The page
-- reads on a phone (one column, tables scroll sideways) and prints (no backgrounds, no breaks
-- inside a chart). With html=FILE the page is also written there (mode 0600, like the history).
-- info: {from=, to=, accounts=, alerts=, charts=}
local history_mod = require "smartlead.fleet.history"
local signals = require "smartlead.fleet.signals"
local days = require "smartlead.fleet.days"
local core = require "smartlead.core"

local M = {}

local function esc(s)
  return (tostring(s == nil and "" or s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
    ['"'] = "&quot;", ["'"] = "&#39;" }))
end

local function fmt(n, places)
  if n == nil then return "–" end
  if math.type(n) == "integer" then
    local s = tostring(n)
    return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^(-?),", "%1"))
  end
  return ("%." .. (places or 1) .. "f"):format(n)
end

local CSS = [[
:root{--ink:#1d2430;--muted:#5d6878;--line:#d8dde5;--bg:#f6f7f9;--card:#fff;
  --good:#2e7d32;--warn:#b26a00;--bad:#c62828;--accent:#1f5fbf}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
  color:var(--ink);background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:0 0 .6em}
.sub{color:var(--muted);margin:0 0 1em}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:0 0 16px;
  break-inside:avoid}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 10px}
.card b{display:block;font-size:1.45em}.card span{color:var(--muted);font-size:.85em}
.bad{color:var(--bad)}.warn{color:var(--warn)}.good{color:var(--good)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:16px}
figure{margin:0}figcaption{color:var(--muted);font-size:.85em;margin-top:4px}
svg.chart{width:100%;height:auto;display:block}
svg text{font:14px system-ui,sans-serif;fill:var(--muted)}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums}
ul.why{margin:0;padding-left:1.1em}
@media (max-width:600px){main{padding:8px}section{padding:10px}.grid{grid-template-columns:1fr}
  table,tbody,tr,td{display:block}thead{display:none}tr{border-bottom:1px solid var(--line);padding:6px 0}
  td{border:none;padding:1px 0}td.n{text-align:left;font-weight:600}}
@media print{body{background:#fff}main{max-width:none;padding:0}section{border:none;padding:0 0 8px;margin:0 0 12px}
  .card{border-color:#999}a{color:inherit}}
]]

---------------------------------------------------------------------------- charts

local W, H, PAD_L, PAD_B, PAD_T, PAD_R = 640, 220, 58, 26, 12, 12

local function nice_max(v)
  if v <= 0 then return 1 end
  local p = 10 ^ math.floor(math.log(v, 10))
  for _, m in ipairs({ 1, 2, 2.5, 5, 10 }) do
    if v <= m * p then return m * p end
  end
  return 10 * p
end

-- A line chart of one or more series over days. series: {{label=, color=, values={d->v}}}
local function line_chart(id, title, xs, series, opts)
  opts = opts or {}
  local lo, hi = opts.min, opts.max
  if not hi then
    hi = 0
    for _, s in ipairs(series) do
      for _, x in ipairs(xs) do hi = math.max(hi, s.values[x] or 0) end
    end
    hi = nice_max(hi)
  end
  lo = lo or 0
  local pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B
  local function X(i) return PAD_L + (#xs > 1 and (i - 1) * pw / (#xs - 1) or pw / 2) end
  local function Y(v) return PAD_T + ph - (v - lo) / (hi - lo) * ph end
  local out = { ('<figure><svg class="chart" id="%s" data-kind="line" viewBox="0 0 %d %d" role="img" '
    .. 'aria-labelledby="%s-t"><title id="%s-t">%s</title>'):format(id, W, H, id, id, esc(title)) }
  for k = 0, 4 do
    local v = lo + (hi - lo) * k / 4
    out[#out + 1] = ('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e3e7ee"/><text x="%d" y="%.1f" '
      .. 'text-anchor="end">%s</text>'):format(PAD_L, W - PAD_R, Y(v), Y(v), PAD_L - 4, Y(v) + 4,
      esc(fmt(math.tointeger(v) or v, 0)))
  end
  local step = math.max(1, math.ceil(#xs / 6))
  for i = 1, #xs, step do
    out[#out + 1] = ('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'):format(X(i), H - 8, days.iso(xs[i]):sub(6))
  end
  local drawn = 0
  for _, s in ipairs(series) do
    local pts = {}
    for i, x in ipairs(xs) do
      local v = s.values[x]
      if v then pts[#pts + 1] = ("%.1f,%.1f"):format(X(i), Y(v)) end
    end
    if #pts > 0 then
      drawn = drawn + #pts
      out[#out + 1] = ('<polyline class="series" fill="none" stroke="%s" stroke-width="2" points="%s"/>')
        :format(s.color, table.concat(pts, " "))
    end
  end
  out[#out + 1] = "</svg>"
  local legend = {}
  for _, s in ipairs(series) do
    legend[#legend + 1] = ('<span style="color:%s">&#9632;</span> %s'):format(s.color, esc(s.label))
  end
  out[#out + 1] = ("<figcaption>%s</figcaption></figure>"):format(table.concat(legend, " &nbsp; "))
  return table.concat(out), drawn
end

-- A bar chart: bars = {{label=, value=, color=}}; horizontal when opts.horizontal.
local function bar_chart(id, title, bars, opts)
  opts = opts or {}
  local hi = 0
  for _, b in ipairs(bars) do hi = math.max(hi, b.value or 0) end
  hi = nice_max(hi)
  local out = {}
  if opts.horizontal then
    local row, left = 26, 150
    local h = PAD_T + row * #bars + 8
    out[1] = ('<figure><svg class="chart" id="%s" data-kind="bar" viewBox="0 0 %d %d" role="img" '
      .. 'aria-labelledby="%s-t">'
      .. '<title id="%s-t">%s</title>'):format(id, W, h, id, id, esc(title))
    for i, b in ipairs(bars) do
      local y, w = PAD_T + (i - 1) * row, (W - left - 190) * (b.value or 0) / hi
      out[#out + 1] = ('<text x="%d" y="%d" text-anchor="end">%s</text><rect class="bar" x="%d" y="%d" width="%.1f" '
        .. 'height="%d" fill="%s"/><text x="%.1f" y="%d">%s</text>'):format(left - 6, y + 15, esc(b.label), left, y + 3,
        math.max(w, 1), row - 8, b.color or "#1f5fbf", left + w + 6, y + 15, esc(b.note or fmt(b.value)))
    end
  else
    local pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    local bw = pw / math.max(1, #bars)
    out[1] = ('<figure><svg class="chart" id="%s" data-kind="bar" viewBox="0 0 %d %d" role="img" '
      .. 'aria-labelledby="%s-t">'
      .. '<title id="%s-t">%s</title>'):format(id, W, H, id, id, esc(title))
    for i, b in ipairs(bars) do
      local hgt = ph * (b.value or 0) / hi
      local x = PAD_L + (i - 1) * bw
      out[#out + 1] = ('<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>'
        .. '<text x="%.1f" y="%.1f" text-anchor="middle">%s</text><text x="%.1f" y="%d" text-anchor="middle">%s</text>')
        :format(x + 4, PAD_T + ph - hgt, bw - 8, math.max(hgt, 0.5), b.color or "#1f5fbf", x + bw / 2,
        PAD_T + ph - hgt - 3, fmt(b.value), x + bw / 2, H - 8, esc(b.label))
    end
  end
  out[#out + 1] = "</svg>"
  if opts.caption then out[#out + 1] = ("<figcaption>%s</figcaption>"):format(esc(opts.caption)) end
  out[#out + 1] = "</figure>"
  return table.concat(out), #bars
end

---------------------------------------------------------------------------- sections

local BUCKETS = { { "<70", 0, 69.999, "#c62828" }, { "70-79", 70, 79.999, "#e65100" },
  { "80-89", 80, 89.999, "#b26a00" },
  { "90-94", 90, 94.999, "#7cb342" }, { "95-97", 95, 97.999, "#43a047" }, { "98-100", 98, 100, "#2e7d32" } }

local function distribution(rows)
  local bars, none = {}, 0
  for i, b in ipairs(BUCKETS) do bars[i] = { label = b[1], value = 0, color = b[4] } end
  for _, r in ipairs(rows) do
    if r.reputation == nil then none = none + 1
    else
      for i, b in ipairs(BUCKETS) do
        if r.reputation >= b[2] and r.reputation <= b[3] then bars[i].value = bars[i].value + 1 end
      end
    end
  end
  bars[#bars + 1] = { label = "none", value = none, color = "#90a4ae" }
  return bars
end

local function summary(rows, ev)
  local t = { accounts = #rows, connected = 0, blocked = 0, in_campaigns = 0, capacity = 0, sent = 0, rep = 0,
    nrep = 0 }
  for _, r in ipairs(rows) do
    if r.connected then t.connected = t.connected + 1 end
    if r.blocked then t.blocked = t.blocked + 1 end
    if r.campaign_count > 0 then t.in_campaigns = t.in_campaigns + 1 end
    if r.connected and not r.suspended then t.capacity = t.capacity + (r.limit or 0) end
    t.sent = t.sent + (r.sent or 0)
    if r.reputation then t.rep, t.nrep = t.rep + r.reputation, t.nrep + 1 end
  end
  local cards = {
    { fmt(t.accounts), "accounts" },
    { fmt(t.accounts - t.connected), "disconnected", t.accounts > t.connected and "bad" },
    { fmt(t.blocked), "warmup blocked", t.blocked > 0 and "warn" },
    { t.nrep > 0 and fmt(t.rep / t.nrep) .. "%" or "–", "average reputation" },
    { fmt(t.in_campaigns), "in campaigns" },
    { fmt(t.capacity), "daily capacity (connected)" },
    { fmt(t.sent), "sent today" },
    { fmt(#ev.alerts), "accounts at risk", #ev.alerts > 0 and "bad" or "good" },
    { fmt(#ev.unused), "unused inboxes", #ev.unused > 0 and "warn" },
    { fmt(#ev.ready), "ready to launch", "good" },
  }
  local out = { '<div class="cards">' }
  for _, c in ipairs(cards) do
    out[#out + 1] = ('<div class="card"><b class="%s">%s</b><span>%s</span></div>')
      :format(c[3] or "", esc(c[1]), esc(c[2]))
  end
  out[#out + 1] = "</div>"
  return table.concat(out)
end

local function reasons_list(reasons)
  local li = {}
  for _, r in ipairs(reasons) do li[#li + 1] = ("<li>%s</li>"):format(esc(r.message)) end
  return '<ul class="why">' .. table.concat(li) .. "</ul>"
end

local function account_table(list, with_score, limit)
  if #list == 0 then return "<p>None.</p>" end
  local out = { '<div class="scroll"><table><thead><tr><th>id</th><th>email</th>'
    .. (with_score and "<th>score</th>" or "")
    .. "<th>why</th></tr></thead><tbody>" }
  for i, a in ipairs(list) do
    if limit and i > limit then break end
    out[#out + 1] = ("<tr><td class=\"n\">%s</td><td>%s</td>%s<td>%s</td></tr>"):format(esc(a.id), esc(a.email),
      with_score and ('<td class="n">' .. esc(a.score) .. "</td>") or "", reasons_list(a.reasons))
  end
  out[#out + 1] = "</tbody></table></div>"
  if limit and #list > limit then out[#out + 1] = ("<p class=\"sub\">and %d more.</p>"):format(#list - limit) end
  return table.concat(out)
end

local function trends(fleet)
  local xs, rep, sent, cap, disc, spam = {}, {}, {}, {}, {}, {}
  local seen = {}
  for _, f in ipairs(fleet) do
    if not seen[f.d] then
      seen[f.d] = true
      xs[#xs + 1] = f.d
    end
    local function add(t, v) if v then t[f.d] = (t[f.d] or 0) + v end end
    add(sent, f.sent)
    add(cap, f.capacity)
    add(disc, f.disconnected)
    add(spam, f.spam)
    if f.reputation_avg then rep[f.d] = (rep[f.d] or 0) + f.reputation_avg / 1 end
  end
  local charts, drawn = {}, 0
  local function chart(...)
    local html, n = line_chart(...)
    charts[#charts + 1] = html
    drawn = drawn + n
  end
  local lo = 100
  for _, v in pairs(rep) do lo = math.min(lo, v) end
  chart("trend-reputation", "Average warmup reputation per day", xs,
    { { label = "average reputation %", color = "#1f5fbf",
    values = rep } }, { min = math.max(0, math.floor((lo - 5) / 5) * 5), max = 100 })
  chart("trend-sending", "Sent per day against the daily capacity", xs,
    { { label = "sent", color = "#1f5fbf", values = sent },
    { label = "capacity (sum of limits)", color = "#90a4ae", values = cap } })
  chart("trend-disconnected", "Disconnected accounts per day", xs,
    { { label = "disconnected", color = "#c62828", values = disc } })
  chart("trend-spam", "Warmup spam placements per day", xs,
    { { label = "spam placements", color = "#b26a00", values = spam } })
  return '<div class="grid">' .. table.concat(charts) .. "</div>", #charts, drawn
end

local function campaigns_chart(list)
  local bars = {}
  for _, c in ipairs(list) do
    local name = c.name and (c.name .. " (" .. c.id .. ")") or ("campaign " .. c.id)
    if #name > 24 then name = name:sub(1, 22) .. "…" end
    bars[#bars + 1] = { label = name, value = c.capacity or 0,
      note = ("%s a day, %d accounts"):format(fmt(c.capacity or 0), c.accounts or 0) }
  end
  if #bars == 0 then return "<p>No account is in a campaign.</p>", 0 end
  return bar_chart("campaign-capacity", "Daily capacity per campaign (connected accounts' limits)", bars,
    { horizontal = true,
    caption = "Sum of message_per_day of each campaign's connected accounts." })
end

---------------------------------------------------------------------------- page

local function write_private(path, text)
  local f, err = core.os.open_private(path, "wb")
  if not f then return nil, err end
  f:write(text)
  f:close()
  return true
end

function M.report(db, opts)
  opts = opts or {}
  local h, err = history_mod.open(db, { workspace = opts.workspace })
  if not h then return nil, err end
  local ok, html, info = pcall(function()
    local from, to = h:window({ days = opts.days or 30, to = opts.to })
    local ev = signals.evaluate(h, { days = opts.days or 30, to = opts.to })
    local rows = h:day(to)
    local fleet = h:fleet({ from = from, to = to })
    local trend_html, ncharts, drawn = trends(fleet)
    local camp_html = campaigns_chart(h:campaigns(to))
    local dist_html = bar_chart("reputation-distribution", "Accounts by warmup reputation", distribution(rows),
      { caption = "Accounts per reputation band on " .. days.iso(to) .. "; none: warmup never started." })
    local title = opts.title or ("Fleet report: " .. (h.workspace == "*" and "all workspaces" or tostring(h.workspace)))
    local page = table.concat({
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
      '<meta name="viewport" content="width=device-width,initial-scale=1">',
      "<title>", esc(title), "</title><style>", CSS, "</style></head><body><main>",
      "<h1>", esc(title), "</h1>",
      ('<p class="sub">%s to %s · %d snapshots · made by smartlua on %s</p>'):format(days.iso(from), days.iso(to),
        #fleet, os.date("!%Y-%m-%d %H:%M UTC")),
      "<section id=\"summary\"><h2>Fleet on ", days.iso(to), "</h2>", summary(rows, ev), "</section>",
      "<section id=\"at-risk\"><h2>At risk (", #ev.alerts, ")</h2>", account_table(ev.alerts, false), "</section>",
      "<section id=\"distribution\"><h2>Reputation distribution</h2>", dist_html, "</section>",
      "<section id=\"campaigns\"><h2>Capacity per campaign</h2>", camp_html, "</section>",
      "<section id=\"trends\"><h2>Trends</h2>", trend_html, "</section>",
      "<section id=\"weakest\"><h2>Weakest senders</h2>", account_table(ev.ranking, true, 15), "</section>",
      "<section id=\"ready\"><h2>Ready to launch (", #ev.ready, ")</h2>", account_table(ev.ready, false, 25),
      "</section>",
      "<section id=\"unused\"><h2>Unused inboxes (", #ev.unused, ")</h2><p>No campaign and no sends for 7 days: ",
      esc(#ev.unused > 0 and (function()
        local ids = {}
        for i, a in ipairs(ev.unused) do if i <= 60 then ids[#ids + 1] = a.email end end
        return table.concat(ids, ", ") .. (#ev.unused > 60 and (", and " .. (#ev.unused - 60) .. " more") or "")
      end)() or "none"), "</p></section>",
      "</main></body></html>\n",
    })
    return page, { from = days.iso(from), to = days.iso(to), accounts = #rows, alerts = #ev.alerts,
      charts = ncharts + 2, points = drawn }
  end)
  h:close()
  if not ok then return nil, html end
  if opts.html then
    local wok, werr = write_private(opts.html, html)
    if not wok then return nil, werr end
  end
  return html, info
end

return setmetatable(M, { __call = function(_, ...) return M.report(...) end })
