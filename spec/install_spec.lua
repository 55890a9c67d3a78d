-- `make install` into a DESTDIR, then the installed pieces used without the source tree: the
-- binary (which preloads its embedded Lua files and seed) and the module under a stock lua5.4.
local proc = require "proc"

local q = proc.q

describe("make install", function()
  local tmp, root, elsewhere

  setup(function()
    tmp = proc.mktemp()
    root = tmp .. "/dest"
    elsewhere = tmp .. "/elsewhere"
    assert.is_true(os.execute("mkdir -p " .. q(elsewhere .. "/xdg")))
    local r = proc.sh(("cd %s && make -s install PREFIX=/usr DESTDIR=%s"):format(q(proc.ROOT), q(root)))
    assert.equal(0, r.code, r.err)
  end)
  teardown(function() proc.rmtree(tmp) end)

  local function mode(path)
    local r = proc.sh("stat -c %a " .. q(path))
    return r.lines[1]
  end

  it("installs the binary, the C module and every Lua file under PREFIX in DESTDIR", function()
    assert.equal("755", mode(root .. "/usr/bin/smartlua"))
    assert.equal("755", mode(root .. "/usr/lib/lua/5.4/smartlead/core.so"))
    local r = proc.sh("cd " .. q(proc.ROOT .. "/lua/smartlead") .. " && ls *.lua")
    assert.is_true(#r.lines >= 5)
    for _, name in ipairs(r.lines) do
      local installed = root .. "/usr/share/lua/5.4/smartlead/" .. name
      assert.equal("644", mode(installed), name)
      assert.equal(proc.read(proc.ROOT .. "/lua/smartlead/" .. name), proc.read(installed), name)
    end
    assert.is_true(proc.exists(root .. "/usr/share/lua/5.4/smartlead/init.lua"))
    assert.is_false(proc.exists(root .. "/usr/local"))
  end)

  it("installs smartlua(1) and the bash, zsh and fish completions", function()
    assert.equal("644", mode(root .. "/usr/share/man/man1/smartlua.1"))
    assert.equal(proc.read(proc.ROOT .. "/doc/smartlua.1"), proc.read(root .. "/usr/share/man/man1/smartlua.1"))
    for shell, path in pairs { bash = "/usr/share/bash-completion/completions/smartlua",
      zsh = "/usr/share/zsh/site-functions/_smartlua", fish = "/usr/share/fish/vendor_completions.d/smartlua.fish" } do
      assert.equal(proc.smartlua({ "completion", shell }).out, proc.read(root .. path), shell)
    end
  end)

  it("the installed binary runs --mock from another directory with no source tree", function()
    local cmd = ("cd %s && %s %s --mock -e %s"):format(q(elsewhere), proc.keyless_env(elsewhere .. "/xdg"),
      q(root .. "/usr/bin/smartlua"), q('print(#require("smartlead").client():all_accounts())'))
    local r = proc.sh(cmd)
    assert.equal(0, r.code, r.err)
    assert.same({ "260" }, r.lines)
  end)

  it("the installed binary ignores LUA_PATH for its own modules", function()
    -- A decoy smartlead on LUA_PATH must not shadow the embedded one.
    assert.is_true(os.execute("mkdir -p " .. q(elsewhere .. "/decoy/smartlead")))
    proc.write(elsewhere .. "/decoy/smartlead/init.lua", "error('decoy loaded')")
    local cmd = ("cd %s && LUA_PATH=%s %s --version && LUA_PATH=%s %s -e %s"):format(q(elsewhere),
      q(elsewhere .. "/decoy/?/init.lua;;"), q(root .. "/usr/bin/smartlua"),
      q(elsewhere .. "/decoy/?/init.lua;;"), q(root .. "/usr/bin/smartlua"),
      q('print(require("smartlead").VERSION)'))
    local r = proc.sh(cmd)
    assert.equal(0, r.code, r.err)
    assert.matches("^smartlua 0%.1%.0 ", r.lines[1])
    assert.equal("0.1.0", r.lines[2])
  end)

  it("a stock lua5.4 loads smartlead and smartlead.core from the install", function()
    local share, lib = root .. "/usr/share/lua/5.4", root .. "/usr/lib/lua/5.4"
    local chunk = [[
      local sl = require "smartlead"
      print(package.searchpath("smartlead", package.path))
      print(package.searchpath("smartlead.core", package.cpath))
      print(sl.VERSION, type(require("smartlead.core").new_client))
      local server = require("smartlead.mock.server").start { api_key = "install-spec-key-99" }
      local c = sl.client { api_key = "install-spec-key-99", base_url = server:url() }
      print(#assert(c:all_accounts()))
      c:close()
      server:stop()
    ]]
    local cmd = ("cd %s && env LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(q(elsewhere),
      -- ";;": the default cpath too, where Debian puts lua-cjson
      q(share .. "/?.lua;" .. share .. "/?/init.lua"), q(lib .. "/?.so;;"), q(chunk))
    local r = proc.sh(cmd)
    assert.equal(0, r.code, r.err)
    assert.same({ share .. "/smartlead/init.lua", lib .. "/smartlead/core.so", "0.1.0\tfunction", "260" }, r.lines)
  end)
end)
