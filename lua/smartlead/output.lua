-- Output for people: aligned text tables (UTF-8 aware widths, long cells cut with a marker).
local M = {}

local function width(s)
  return utf8.len(s) or #s
end

-- Cuts s to at most n characters, marking the cut with "…".
function M.truncate(s, n)
  if width(s) <= n then return s end
  local stop = utf8.offset(s, n) or (n + 1)
  return s:sub(1, stop - 1) .. "…"
end

local function pad(s, n, right)
  local gap = (" "):rep(n - width(s))
  return right and gap .. s or s .. gap
end

-- M.table(rows, columns[, {max_width=}]) -> text
-- columns: { {key="id", title="ID", align="right", format=function(row) -> string}, ... }
function M.table(rows, columns, opts)
  local max = (opts and opts.max_width) or 40
  local cells, widths = {}, {}
  for c, col in ipairs(columns) do widths[c] = width(col.title) end
  for r, row in ipairs(rows) do
    cells[r] = {}
    for c, col in ipairs(columns) do
      local v
      if col.format then v = col.format(row) else v = row[col.key] end
      local s = M.truncate(v == nil and "" or tostring(v), max)
      cells[r][c] = s
      if width(s) > widths[c] then widths[c] = width(s) end
    end
  end
  local lines, head, rule = {}, {}, {}
  for c, col in ipairs(columns) do
    head[c] = pad(col.title, widths[c], col.align == "right")
    rule[c] = ("-"):rep(widths[c])
  end
  lines[1] = table.concat(head, "  "):gsub("%s+$", "")
  lines[2] = table.concat(rule, "  ")
  for r = 1, #cells do
    local parts = {}
    for c, col in ipairs(columns) do parts[c] = pad(cells[r][c], widths[c], col.align == "right") end
    lines[#lines + 1] = table.concat(parts, "  "):gsub("%s+$", "")
  end
  return table.concat(lines, "\n") .. "\n"
end

return M
