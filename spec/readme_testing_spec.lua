-- README's "Testing your scripts" recipe, run as written: a fleet saved with `smartlua fixtures
-- --anonymize`, a policy script, and the README's busted spec in a project of its own, run by
-- busted under a stock lua5.4 outside the source tree.
local proc = require "proc"

local q = proc.q

local function readme_block(heading, lang)
  local readme = assert(proc.read(proc.ROOT .. "/README.md"))
  local section = assert(readme:match("\n## " .. heading .. "\n(.-)\n## "), heading)
  return assert(section:match("```" .. lang .. "\n(.-)```"), heading .. ": no " .. lang .. " block")
end

describe("README, Testing your scripts", function()
  local tmp

  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  it("the shell lines and the spec run as written", function()
    local project = tmp .. "/project"
    assert.is_true(os.execute("mkdir -p " .. q(project .. "/spec")))
    local env = proc.keyless_env(tmp)
    -- the shell lines, with smartlua for the binary under test and --mock standing for the live fleet
    local sh = readme_block("Testing your scripts", "sh")
    proc.write(project .. "/my_policy.lua", assert(proc.read(proc.ROOT .. "/examples/ramp_limits.lua")))
    local lines = {}
    for line in sh:gmatch("[^\n]+") do
      local cmd = line:gsub("%s+#.*$", ""):gsub("^smartlua fixtures", "smartlua --mock fixtures")
      lines[#lines + 1] = (cmd:gsub("^smartlua", q(proc.BIN)))
    end
    local r = proc.sh(("cd %s && %s sh -c %s"):format(q(project), env, q(table.concat(lines, " && "))))
    assert.equal(0, r.code, r.err)
    assert.matches("Plan: %d+ accounts changed", r.out .. r.err)
    assert.is_nil(proc.read(project .. "/fleet.json"):find("hypergrowth", 1, true))
    -- the spec, by busted in the project
    proc.write(project .. "/spec/my_policy_spec.lua", readme_block("Testing your scripts", "lua"))
    local paths = ("LUA_PATH=%s LUA_CPATH=%s"):format(q(proc.ROOT .. "/lua/?.lua;" .. proc.ROOT .. "/lua/?/init.lua;;"),
      q(proc.ROOT .. "/build/?.so;;"))
    r = proc.sh(("cd %s && %s env -u LD_PRELOAD %s lua5.4 /usr/bin/busted -o TAP spec/"):format(q(project), env, paths))
    assert.equal(0, r.code, r.out .. r.err)
    assert.equal(3, select(2, r.out:gsub("\nok %d+", "")) + (r.out:match("^ok %d+") and 1 or 0), r.out)
  end)
end)
