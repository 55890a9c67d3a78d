-- rockspecs/smartlead-scm-1.rockspec: Debian's luarocks builds and installs the rock into a
-- temporary tree, and a stock lua5.4 with `luarocks path --tree TREE` loads smartlead from it,
-- outside the source tree; the binary and the editor's types are installed too.
local proc = require "proc"

local q = proc.q

describe("the rockspec", function()
  local tmp, tree, paths

  setup(function()
    tmp = proc.mktemp()
    tree = tmp .. "/tree"
    assert.is_true(os.execute("mkdir -p " .. q(tmp .. "/elsewhere")))
    local make = "cd %s && env -u LD_PRELOAD luarocks --lua-version 5.4 make --tree %s "
      .. "rockspecs/smartlead-scm-1.rockspec"
    local r = proc.sh(make:format(q(proc.ROOT), q(tree)))
    assert.equal(0, r.code, r.out .. r.err)
    r = proc.sh(("env -u LD_PRELOAD luarocks --lua-version 5.4 path --tree %s"):format(q(tree)))
    assert.equal(0, r.code, r.err)
    paths = r.out:gsub("\n", "; ")
  end)
  teardown(function() proc.rmtree(tmp) end)

  it("installs a module a stock lua5.4 loads from the tree, outside the source tree", function()
    local chunk = [[
      local sl = require "smartlead"
      print(package.searchpath("smartlead", package.path))
      print(package.searchpath("smartlead.core", package.cpath))
      local t = require "smartlead.testing"
      local mock, client = t.mock()
      print(sl.VERSION, #assert(client:all_accounts()))
      mock:stop()
    ]]
    local cmd = "cd %s && %s env -u SMARTLEAD_API_KEY lua5.4 -e %s"
    local r = proc.sh(cmd:format(q(tmp .. "/elsewhere"), paths, q(chunk)))
    assert.equal(0, r.code, r.err)
    assert.equal(tree .. "/share/lua/5.4/smartlead/init.lua", r.lines[1])
    assert.equal(tree .. "/lib/lua/5.4/smartlead/core.so", r.lines[2])
    assert.equal("0.1.0\t260", r.lines[3])
  end)

  it("installs the smartlua binary and the editor's types in the rock", function()
    local r = proc.sh(("cd %s && %s --version"):format(q(tmp .. "/elsewhere"), q(tree .. "/bin/smartlua")))
    assert.equal(0, r.code, r.err)
    assert.matches("^smartlua 0%.1%.0", r.lines[1])
    r = proc.sh(("env -u LD_PRELOAD luarocks --lua-version 5.4 show --rock-dir --tree %s smartlead"):format(q(tree)))
    local rock = r.lines[1]
    assert.is_not_nil(rock)
    for _, f in ipairs { "smartlead.lua", "smartlead/policy.lua", "smartlead/testing.lua" } do
      assert.is_true(proc.exists(rock .. "/types/" .. f), f)
    end
    assert.equal(proc.read(proc.ROOT .. "/build/types/smartlead.lua"), proc.read(rock .. "/types/smartlead.lua"))
  end)
end)
