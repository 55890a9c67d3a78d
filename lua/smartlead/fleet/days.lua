-- smartlead.fleet.days: calendar days as integers (days since 1970-01-01, UTC), which is how the
-- history stores them, and the spellings people use for them: "2026-11-23", "today", "7d" (a span).
local M = {}

-- Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian).
local function from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- days.iso(n) -> "YYYY-MM-DD"
function M.iso(n)
  return os.date("!%Y-%m-%d", n * 86400)
end

-- days.today() -> today's day number (UTC)
function M.today() return os.time() // 86400 end

-- days.parse(v) -> day number | nil, err. v: a day number, "YYYY-MM-DD", "today", "yesterday",
-- or "-3" (three days before today).
function M.parse(v)
  if math.type(v) == "integer" then return v end
  if type(v) ~= "string" then return nil, "a day is YYYY-MM-DD or an integer, got " .. type(v) end
  if v == "today" then return M.today() end
  if v == "yesterday" then return M.today() - 1 end
  local back = v:match("^%-(%d+)$")
  if back then return M.today() - tonumber(back) end
  local y, m, d = v:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then return nil, ("bad day '%s' (YYYY-MM-DD)"):format(v) end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m < 1 or m > 12 or d < 1 or d > 31 then return nil, ("bad day '%s'"):format(v) end
  local n = from_civil(y, m, d)
  if M.iso(n) ~= v then return nil, ("no such day '%s'"):format(v) end
  return n
end

-- days.span("7d" | "2w" | 7) -> number of days | nil, err
function M.span(v)
  if math.type(v) == "integer" and v >= 0 then return v end
  if type(v) ~= "string" then return nil, "a span is like 7d, 2w or an integer number of days" end
  local n, unit = v:match("^(%d+)%s*([dw]?)$")
  if not n then return nil, ("bad span '%s' (like 1d, 7d, 2w)"):format(v) end
  return tonumber(n) * (unit == "w" and 7 or 1)
end

return M
