-- `--profile a,b,c` and `--all-profiles`: a command or a script run once per workspace, all at
-- once. Each profile's run is a task (smartlead.tasks): its requests go out under its own key's
-- limiter while the others' are in flight. Every output row is labelled with its profile, each
-- profile journals on its own, and one summary line ends the run on stderr.
local context = require "smartlead.cli.context"
local tasks = require "smartlead.tasks"

local M = {}

local EXIT = context.EXIT

-- The exit code of several: usage, then error, then refused, then some writes failed, then ok.
local RANK = { [EXIT.usage] = 5, [EXIT.error] = 4, [EXIT.refused] = 3, [EXIT.partial] = 2, [EXIT.ok] = 1 }

function M.worst(codes)
  local worst = EXIT.ok
  for _, c in ipairs(codes) do
    if (RANK[c] or 4) > (RANK[worst] or 4) then worst = c end
  end
  return worst
end

local WORDS = { [EXIT.ok] = "ok", [EXIT.error] = "failed", [EXIT.usage] = "usage error", [EXIT.refused] = "refused",
  [EXIT.partial] = "some writes failed" }

-- "3 profiles: acme ok, beta failed (exit 1), gamma ok".
function M.summary(names, codes)
  local parts = {}
  for i, name in ipairs(names) do
    local c = codes[i]
    parts[i] = c == EXIT.ok and (name .. " ok") or ("%s %s (exit %d)"):format(name, WORDS[c] or "failed", c)
  end
  return ("%d profiles: %s"):format(#names, table.concat(parts, ", "))
end

-- Runs fn(name, index) -> exit code as one task per profile; a raised error is reported with
-- the profile's label (usage errors once). -> codes
function M.each(names, fn, node)
  local report = require("smartlead.cli").report
  local codes, raised, list = {}, {}, {}
  for i, name in ipairs(names) do
    list[i] = tasks.spawn(function()
      local ok, code = pcall(fn, name, i)
      if ok then codes[i] = code else raised[i] = code end
    end)
  end
  tasks.wait(list)
  local usage_said = false
  for i, name in ipairs(names) do
    if raised[i] ~= nil then
      local e = raised[i]
      local is_usage = getmetatable(e) == require("smartlead.cli.parser").Usage
      if is_usage and usage_said then
        codes[i] = EXIT.usage
      else
        codes[i] = report(e, node, name .. ": ")
        usage_said = usage_said or is_usage
      end
    elseif codes[i] == nil then
      codes[i] = list[i].ok and EXIT.ok or report(list[i].results[1], node, name .. ": ")
    end
  end
  return codes
end

-- A command once per profile (cli.main calls it when parsed.opts.profiles is set).
function M.command(parsed)
  local node, names = parsed.node, parsed.opts.profiles
  if node.single_profile then
    return require("smartlead.cli").report(require("smartlead.cli.parser").usage_error(
      "takes one profile (--profile NAME), not several", node))
  end
  if not require("smartlead.host").apply_settings(parsed.opts) then return EXIT.error end
  local format = parsed.opts.format or require("smartlead.formats").default()
  local sink = context.sink(format, true)
  sink.order = {}
  for i, name in ipairs(names) do sink.order[name] = i end
  local codes = M.each(names, function(name)
    local ctx = context.new(parsed, { profile = name, label = name .. ": ", prefix = "[" .. name .. "] ", sink = sink })
    local ok, code = pcall(node.run, ctx)
    ctx:close()
    if not ok then error(code, 0) end
    return code
  end, node)
  local worst = M.worst(codes)
  sink:flush(worst ~= EXIT.error and worst ~= EXIT.usage)
  context.err_line(M.summary(names, codes))
  return worst
end

return M
