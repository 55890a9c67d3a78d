-- Every example in README.md runs as written: each line of each ```sh block, in order, as a
-- new user takes the walkthrough (bash, in a directory holding the source tree's examples/ and
-- build/, `smartlua` on PATH, a config file with README's profiles pointing at mocks in this
-- process); each ```lua block as a script under --mock; the REPL block's lines through
-- `smartlua --mock -i`. A line exits 0 unless its comment says `exit N`.
local proc = require "proc"
local support = require "support"

local q = proc.q

-- Lines not run, and why: they build and run this very suite.
local NOT_RUN = { ["make demo"] = "runs the fleet report (spec/policy_spec.lua runs it)",
  ["make test"] = "runs every spec, this one among them",
  ["smartlua --mock=fleet.json --plan my_policy.lua"] = "the reader's own policy: spec/readme_testing_spec.lua "
    .. "runs this recipe with one" }
-- Lines not run by their start, and where they are checked instead.
local NOT_RUN_START = {
  ["luarocks "] = "installs into ~/.luarocks: spec/rockspec_spec.lua builds the rock into a temporary tree",
  ["eval "] = "the LuaRocks paths of that install (spec/rockspec_spec.lua)",
  ["lua5.4 -e"] = "the module from that install (spec/rockspec_spec.lua)",
  ["15 6 "] = "a crontab line (spec/fleet_spec.lua runs examples/daily_check.lua)",
  ["20 6 "] = "a crontab line",
}

local function not_run(line)
  if NOT_RUN[line] then return true end
  for start in pairs(NOT_RUN_START) do
    if line:sub(1, #start) == start then return true end
  end
  return false
end

-- A Lua block that is a busted spec (README's testing recipe): spec/readme_testing_spec.lua runs it.
local function is_spec(lines) return table.concat(lines, "\n"):find("describe(", 1, true) ~= nil end

-- The README's blocks of a language: {lang=, first=line number, lines={...}}.
local function blocks(text)
  local out, cur, n = {}, nil, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local lang = line:match("^```(%w*)%s*$")
    if lang and not cur then
      cur = { lang = lang, first = n + 1, lines = {} }
    elseif line:match("^```%s*$") and cur then
      out[#out + 1] = cur
      cur = nil
    elseif cur then
      cur.lines[#cur.lines + 1] = line
    end
  end
  return out
end

-- A shell line without its comment ("# ..." after white space, outside quotes); the comment.
local function split_comment(line)
  local quote
  for i = 1, #line do
    local c = line:sub(i, i)
    if quote then
      if c == quote then quote = nil end
    elseif c == "'" or c == '"' then
      quote = c
    elseif c == "#" and (i == 1 or line:sub(i - 1, i - 1):match("%s")) then
      return line:sub(1, i - 1):match("^(.-)%s*$"), line:sub(i + 1)
    end
  end
  return line, ""
end

describe("README.md", function()
  local tmp, work, home, server, beta, env, text

  setup(function()
    text = assert(proc.read(proc.ROOT .. "/README.md"))
    tmp = proc.mktemp()
    work, home = tmp .. "/work", tmp .. "/home"
    server = support.server()
    beta = require("smartlead.mock.server").start { api_key = "beta-readme-key-7c6b5a" }
    assert(os.execute(("mkdir -p %s %s/bin %s/.config/smartlua && chmod 700 %s/.config/smartlua"):format(q(work),
      q(tmp), q(home), q(home))))
    assert(os.execute(("ln -s %s/examples %s/examples && ln -s %s/build %s/build && ln -s %s %s/bin/smartlua"):format(
      q(proc.ROOT), q(work), q(proc.ROOT), q(work), q(proc.BIN), q(tmp))))
    -- README's config file, its keys and URLs pointing at the mocks
    local cfg = home .. "/.config/smartlua/config"
    proc.write(cfg, ("api_key = %s\nbase_url = %s\n\n[acme]\napi_key = %s\nbase_url = %s\nrate = 20/2\n"
      .. "concurrency = 16\n\n[beta]\napi_key = beta-readme-key-7c6b5a\nbase_url = %s\n")
      :format(support.KEY, server:url(), support.KEY, server:url(), beta:url()))
    os.execute("chmod 600 " .. q(cfg))
    env = ("env -u SMARTLEAD_API_KEY -u SMARTLEAD_BASE_URL -u XDG_CONFIG_HOME -u XDG_STATE_HOME HOME=%s "
      .. "PATH=%s:$PATH SMARTLUA_RATE=off NO_COLOR=1"):format(q(home), q(tmp .. "/bin"))
  end)
  teardown(function()
    server:stop()
    beta:stop()
    proc.rmtree(tmp)
  end)

  local function sh(line)
    return proc.sh(("cd %s && %s timeout 300 bash -c %s"):format(q(work), env, q(line)))
  end

  it("runs every shell example as written, in order, each with the exit code README gives it", function()
    local ran = 0
    for _, b in ipairs(blocks(text)) do
      if b.lang == "sh" then
        for k, raw in ipairs(b.lines) do
          local line, comment = split_comment(raw)
          local where = ("README.md:%d: %s"):format(b.first + k - 1, line)
          if line ~= "" and not not_run(line) then
            assert.truthy(line:match("^smartlua ") or line:match("^mkdir ") or line:match("^build/smartlua "), where)
            local want = tonumber(comment:match("exit (%d)")) or 0
            local r = sh(line)
            assert.equal(want, r.code, where .. "\n" .. r.err)
            ran = ran + 1
          end
        end
      end
    end
    assert.is_true(ran >= 30, ran .. " lines ran")
  end)

  it("runs every Lua block as a script against --mock", function()
    local n = 0
    for _, b in ipairs(blocks(text)) do
      if b.lang == "lua" and not is_spec(b.lines) then
        n = n + 1
        local path = proc.write(("%s/block%d.lua"):format(tmp, n), table.concat(b.lines, "\n") .. "\n")
        local r = sh("smartlua --mock " .. q(path))
        assert.equal(0, r.code, ("README.md:%d: the Lua block\n%s%s"):format(b.first, r.out, r.err))
      end
    end
    assert.is_true(n >= 4)
  end)

  it("the REPL block shows what `smartlua --mock` answers", function()
    local repl
    for _, b in ipairs(blocks(text)) do
      if b.lang == "" and b.lines[1] and b.lines[1]:match("^> acct = ") then repl = b end
    end
    assert.is_truthy(repl, "the REPL block")
    local typed, shown = {}, {}
    for _, line in ipairs(repl.lines) do
      local input = line:match("^> (.*)$")
      if input and not input:find("<TAB>", 1, true) then typed[#typed + 1] = input
      elseif not input and line ~= "..." then shown[#shown + 1] = line end
    end
    local r = sh("printf '%s\\n' " .. table.concat((function()
      local words = {}
      for i, t in ipairs(typed) do words[i] = q(t) end
      return words
    end)(), " ") .. " | smartlua --mock -i")
    assert.equal(1, r.code) -- the last line is README's failing call
    for _, line in ipairs(shown) do
      local want = line:gsub("%s+%(:trace for the details%)$", "") -- the hint is for a terminal
      assert.truthy((r.out .. r.err):find(want, 1, true), "README shows: " .. want .. "\n" .. r.out .. r.err)
    end
  end)

  it("lists in its Exit codes table every code the commands return", function()
    local codes = {}
    for code in text:match("### Exit codes(.-)\n### "):gmatch("\n| %*%*(%d+)%*%*") do
      codes[#codes + 1] = tonumber(code)
    end
    assert.same({ 0, 1, 2, 3, 4, 130 }, codes)
    local run_cli = require "smartlead.run_cli"
    assert.same({ 130, 143 }, { run_cli.EXIT.SIGINT, run_cli.EXIT.SIGTERM })
    assert.truthy(text:find("| **130**, **143** |", 1, true))
  end)
end)
