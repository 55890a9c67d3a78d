-- doc/reference.md is what tools/gen_reference.lua writes from the operation registry as built
-- and tools/api_doc.lua: a row added, a field changed or a shape edited without `make reference`
-- fails here. It also agrees with what the code says about exit codes and operations.
local proc = require "proc"

package.path = "tools/?.lua;" .. package.path
local gen = require "gen_reference"
local api_doc = require "api_doc"

-- The registry as built: core.operations() less the rows a spec defined at run time in this
-- process (registry_spec does), named by a fresh lua5.4 that loads the same core.
local function built_rows()
  local chunk = 'for _, r in ipairs(require("smartlead.core").operations()) do print(r.name) end'
  local r = proc.sh(("cd %s && env -u LD_PRELOAD LUA_CPATH=%s lua5.4 -e %s"):format(proc.q(proc.ROOT),
    proc.q(proc.ROOT .. "/build/?.so;;"), proc.q(chunk)))
  assert(r.code == 0, r.err)
  local built, rows = {}, {}
  for _, name in ipairs(r.lines) do built[name] = true end
  for _, row in ipairs(require("smartlead.core").operations()) do
    if built[row.name] then rows[#rows + 1] = row end
  end
  return rows
end

describe("doc/reference.md", function()
  local text

  setup(function() text = proc.read(proc.ROOT .. "/doc/reference.md") end)

  it("is current: what the registry and tools/api_doc.lua generate now (else run make reference)", function()
    local fresh = gen.reference(built_rows(), api_doc)
    local first = ""
    if fresh ~= text then -- name the first line that differs
      local want, have = {}, {}
      for l in (fresh .. "\n"):gmatch("([^\n]*)\n") do want[#want + 1] = l end
      for l in ((text or "") .. "\n"):gmatch("([^\n]*)\n") do have[#have + 1] = l end
      for i = 1, math.max(#want, #have) do
        if want[i] ~= have[i] then
          first = (" (line %d: %q)"):format(i, tostring(want[i]))
          break
        end
      end
    end
    assert.is_true(fresh == text, "doc/reference.md is stale: run make reference" .. first)
  end)

  it("has a section for every operation, with every field", function()
    for _, row in ipairs(built_rows()) do
      local section = text:match("\n### client:" .. row.name .. "\n(.-)\n### ")
      assert.is_not_nil(section, row.name)
      assert.matches(row.method .. " " .. row.path, section, 1, true)
      for _, f in ipairs(row.fields or {}) do
        assert.matches("| `" .. f.name .. "` |", section, 1, true)
      end
    end
  end)

  it("lists the exit codes the command line uses, and no other", function()
    local listed, used = {}, {}
    for _, e in ipairs(api_doc.exit_codes) do listed[e[1]] = true end
    for _, code in pairs(require("smartlead.cli.context").EXIT) do used[code] = true end
    assert.same(used, listed)
    for code in pairs(used) do assert.matches("| `" .. code .. "` |", text, 1, true) end
  end)

  it("describes every policy function with its parameters and results", function()
    for _, name in ipairs { "health", "ramp", "rotate", "pause", "apply", "describe", "run" } do
      assert.matches("#### `policy." .. name .. "(", text, 1, true)
    end
    assert.matches("policy.describe(changes) -> string", text, 1, true)
    assert.matches("policy.run(client, changes, [opts]) -> ok", text, 1, true)
  end)

  it("describes the account, campaign, tag, statistics, change and error shapes", function()
    for _, shape in ipairs { "Account", "WarmupDetails", "Campaign", "Tag", "WarmupStats", "Change", "Error" } do
      assert.matches("\n### smartlead." .. shape .. "\n", text, 1, true)
    end
  end)
end)
