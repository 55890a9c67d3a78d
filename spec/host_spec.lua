-- build/smartlua as a person runs it: arguments, options, errors and exit codes, stdin scripts,
-- --mock in-process, and `smartlua mock` as a server process stopped by SIGTERM.
local proc = require "proc"
local json = require "smartlead.json"
local smartlead = require "smartlead"

local q, BIN = proc.q, proc.BIN

-- A small seed in the shape of spec/fixtures/seed.json: its first three accounts (all owned by
-- the mock's user) and its campaigns, each keeping only those three accounts.
local function write_small_seed(path)
  local full = json.decode(assert(proc.read(proc.ROOT .. "/spec/fixtures/seed.json")))
  local accounts, keep = json.array(), {}
  for i = 1, 3 do
    accounts[i] = full.accounts[i]
    keep[full.accounts[i].id] = true
  end
  local campaigns = json.array()
  for _, c in ipairs(full.campaigns) do
    local ids = json.array()
    for _, id in ipairs(c.email_account_ids) do
      if keep[id] then ids[#ids + 1] = id end
    end
    c.email_account_ids = ids
    campaigns[#campaigns + 1] = c
  end
  proc.write(path, json.encode { accounts = accounts, campaigns = campaigns })
  return { full.accounts[1].id, full.accounts[2].id, full.accounts[3].id }
end

describe("smartlua host", function()
  local tmp, env

  setup(function()
    tmp = proc.mktemp()
    os.execute("mkdir -p " .. q(tmp .. "/xdg"))
    env = proc.keyless_env(tmp .. "/xdg")
  end)
  teardown(function() proc.rmtree(tmp) end)

  local function script(name, text) return proc.write(tmp .. "/" .. name, text) end

  describe("arguments", function()
    it("sets arg and ... for `smartlua script.lua a b c` as lua.c does", function()
      local path = script("args.lua", [[
        print("0=" .. arg[0])
        print("-1=" .. arg[-1])
        print("n=" .. #arg)
        for i = 1, #arg do print(i .. "=" .. arg[i]) end
        print("dots=" .. select("#", ...) .. ":" .. table.concat({ ... }, ","))
      ]])
      local r = proc.smartlua({ path, "a", "b c", "" })
      assert.equal(0, r.code)
      assert.same({ "0=" .. path, "-1=" .. BIN, "n=3", "1=a", "2=b c", "3=", "dots=3:a,b c," }, r.lines)
      assert.equal("", r.err)
    end)

    it("puts options before the script at negative indices", function()
      local path = script("neg.lua", "for i = -3, 1 do print(i, arg[i]) end")
      local r = proc.smartlua({ "-e", "x=1", path, "z" })
      assert.equal(0, r.code)
      assert.same({ "-3\t" .. BIN, "-2\t-e", "-1\tx=1", "0\t" .. path, "1\tz" }, r.lines)
    end)

    it("passes arguments after -- to the script even when they look like options", function()
      local path = script("dashes.lua", "print(table.concat({...}, ' '))")
      local r = proc.smartlua({ "--", path, "--version", "-e" })
      assert.equal(0, r.code)
      assert.same({ "--version -e" }, r.lines)
    end)
  end)

  describe("global options and the script's own words", function()
    it("takes global options before the script; arg keeps them at negative indices", function()
      local path = script("globals.lua", "for i = -3, #arg do print(i, arg[i]) end")
      local r = proc.smartlua({ "--mock", "-v", path, "a" }, env)
      assert.equal(0, r.code, r.err)
      assert.same({ "-3\t" .. BIN, "-2\t--mock", "-1\t-v", "0\t" .. path, "1\ta" }, r.lines)
    end)

    it("passes every word after the script to it untouched, options and commands alike", function()
      local path = script("own.lua", "print(table.concat({...}, ' '))")
      local words = { "--anything", "--mock", "-v", "--help", "--format", "csv", "accounts", "-", "--", "-e" }
      local r = proc.smartlua({ "--mock", path, table.unpack(words) }, env)
      assert.equal(0, r.code, r.err)
      assert.same({ table.concat(words, " ") }, r.lines)
    end)

    it("reads the script from stdin with -, after global options", function()
      local r = proc.sh(("echo 'print(#require(\"smartlead\").client():get_email_accounts{limit = 3}, ...)' "
        .. "| %s %s --mock -v - a b")
        :format(env, q(BIN)))
      assert.equal(0, r.code, r.err)
      assert.same({ "3\ta\tb" }, r.lines)
      assert.truthy(r.err:find("GET /api/v1/email-accounts/", 1, true), r.err)
    end)

    it("runs a file named like a command after -- or with a path; the bare word is the command", function()
      local dir = tmp .. "/cmdname"
      os.execute("mkdir -p " .. q(dir))
      proc.write(dir .. "/accounts", "print('the script named accounts', ...)")
      local function in_dir(args) return proc.sh(("cd %s && %s %s %s"):format(q(dir), env, q(BIN), args)) end
      assert.same({ "the script named accounts\tx" }, in_dir("-- accounts x").lines)
      assert.same({ "the script named accounts\tx" }, in_dir("./accounts x").lines)
      local r = in_dir("accounts")
      assert.equal(2, r.code)
      assert.equal("smartlua: accounts: missing subcommand (one of: list, get, update, add, suspend, unsuspend, "
        .. "delete) (try --help)", r.errlines[1])
    end)

    it("a misspelt command is a usage error with a suggestion, unless a file of that name exists", function()
      local r = proc.smartlua({ "acounts", "list" }, env)
      assert.equal(2, r.code)
      assert.equal("", r.out)
      assert.same({ "smartlua: unknown command 'acounts' (did you mean \"accounts\"?) (try --help)" }, r.errlines)
      local dir = tmp .. "/typo"
      os.execute("mkdir -p " .. q(dir))
      proc.write(dir .. "/acounts", "print('ran acounts')")
      r = proc.sh(("cd %s && %s %s acounts"):format(q(dir), env, q(BIN)))
      assert.equal(0, r.code, r.err)
      assert.same({ "ran acounts" }, r.lines)
    end)
  end)

  describe("-e and -l", function()
    it("runs several -e chunks in order, before the script", function()
      local path = script("after_e.lua", "print('script', x)")
      local r = proc.smartlua({ "-e", "x = 1", "-e", "x = x * 10", "-e", "print('e', x)", path })
      assert.equal(0, r.code)
      assert.same({ "e\t10", "script\t10" }, r.lines)
    end)

    it("-l MODULE requires the module into a global of that name", function()
      local r = proc.smartlua({ "-l", "smartlead", "-e", "print(type(smartlead), smartlead.VERSION)" })
      assert.equal(0, r.code)
      assert.same({ "table\t0.1.0" }, r.lines)
    end)

    it("-l of a missing module fails with exit 1 and names it", function()
      local r = proc.smartlua({ "-l", "no_such_module_xyz", "-e", "print('not reached')" })
      assert.equal(1, r.code)
      assert.equal("", r.out)
      assert.matches("^smartlua: .*module 'no_such_module_xyz' not found", r.err)
    end)

    it("-e without its argument is a usage error", function()
      local r = proc.smartlua({ "-e" })
      assert.equal(2, r.code) -- usage errors exit 2
      assert.same({ "smartlua: '-e' needs a value (CHUNK) (try --help)" }, r.errlines)
    end)
  end)

  describe("--version, --help and bad options", function()
    it("--version prints one line and exits 0", function()
      local r = proc.smartlua({ "--version" })
      assert.equal(0, r.code)
      assert.equal(1, #r.lines)
      assert.matches("^smartlua 0%.1%.0 %(Lua 5%.4[%.%d]*%)$", r.lines[1])
      assert.equal("", r.err)
    end)

    it("--help exits 0 and documents --mock and the mock subcommand", function()
      local r = proc.smartlua({ "--help" })
      assert.equal(0, r.code)
      assert.matches("^usage: smartlua ", r.lines[1])
      assert.truthy(r.out:find("--mock", 1, true))
      assert.truthy(r.out:find("smartlua mock [--port N]", 1, true))
      assert.equal("", r.err)
    end)

    it("an unknown option exits non-zero with a message and runs nothing", function()
      local r = proc.smartlua({ "--bogus", "-e", "print('ran')" })
      assert.equal(2, r.code) -- usage errors exit 2
      assert.equal("", r.out)
      assert.same({ "smartlua: unknown option '--bogus' (try --help)" }, r.errlines)
    end)
  end)

  describe("errors", function()
    it("a failing script prints smartlua: message and a traceback on stderr, exit 1", function()
      local path = script("fail.lua", "local function inner() error('boom') end\nprint('before')\ninner()\n")
      local r = proc.smartlua({ path })
      assert.equal(1, r.code)
      assert.same({ "before" }, r.lines)
      assert.equal("smartlua: " .. path .. ":1: boom", r.errlines[1])
      assert.equal("stack traceback:", r.errlines[2])
      assert.equal("\t[C]: in function 'error'", r.errlines[3])
      assert.equal("\t" .. path .. ":1: in local 'inner'", r.errlines[4])
      assert.equal("\t" .. path .. ":3: in main chunk", r.errlines[5])
      assert.equal(5, #r.errlines, r.err) -- the host's own frames are left out
    end)

    it("a failing -e chunk is reported with (command line) and stops later chunks", function()
      local r = proc.smartlua({ "-e", "error('bad chunk')", "-e", "print('not reached')" })
      assert.equal(1, r.code)
      assert.equal("", r.out)
      assert.equal("smartlua: (command line):1: bad chunk", r.errlines[1])
    end)

    it("a syntax error exits 1 naming the file and line, without running anything", function()
      local path = script("syntax.lua", "print('x')\nlocal = 3\n")
      local r = proc.smartlua({ path })
      assert.equal(1, r.code)
      assert.equal("", r.out)
      assert.equal(1, #r.errlines)
      assert.matches("^smartlua: " .. path:gsub("%p", "%%%0") .. ":2: ", r.errlines[1])
    end)

    it("a missing script file exits 1 with the file name", function()
      local path = tmp .. "/does-not-exist.lua"
      local r = proc.smartlua({ path })
      assert.equal(1, r.code)
      assert.equal("", r.out)
      assert.same({ "smartlua: cannot open " .. path .. ": No such file or directory" }, r.errlines)
    end)

    it("error({}) still exits 1 cleanly with a description of the value", function()
      local r = proc.smartlua({ "-e", "error({})" })
      assert.equal(1, r.code)
      assert.equal("smartlua: (error object is a table value)", r.errlines[1])
      assert.equal("stack traceback:", r.errlines[2])
    end)

    it("error(nil) and an error object with __tostring", function()
      local r = proc.smartlua({ "-e", "error(nil)" })
      assert.equal(1, r.code)
      assert.equal("smartlua: (error object is a nil value)", r.errlines[1])
      r = proc.smartlua({ "-e", "error(setmetatable({}, {__tostring = function() return 'custom failure' end}))" })
      assert.equal(1, r.code)
      assert.equal("smartlua: custom failure", r.errlines[1])
    end)

    it("os.exit codes pass through", function()
      assert.equal(7, proc.smartlua({ "-e", "os.exit(7)" }).code)
      assert.equal(0, proc.smartlua({ "-e", "os.exit(true)" }).code)
      assert.equal(1, proc.smartlua({ "-e", "os.exit(false)" }).code)
    end)

    it("masks SMARTLEAD_API_KEY in error messages", function()
      local key = "host-spec-secret-4242"
      local r = proc.smartlua({ "-e", "error('key is ' .. os.getenv('SMARTLEAD_API_KEY'))" },
        "env SMARTLEAD_API_KEY=" .. key)
      assert.equal(1, r.code)
      assert.equal("smartlua: (command line):1: key is ***", r.errlines[1])
      assert.falsy(r.err:find(key, 1, true))
    end)
  end)

  describe("stdin", function()
    it("runs a script given on stdin with `-`, with its arguments", function()
      local r = proc.sh(("echo 'print(1, ...)' | %s - a b"):format(q(BIN)))
      assert.equal(0, r.code)
      assert.same({ "1\ta\tb" }, r.lines)
    end)

    it("runs piped stdin as a script when there is no script and no -e", function()
      local r = proc.sh(("printf 'local x = 20\\nprint(x + 1)\\n' | %s"):format(q(BIN)))
      assert.equal(0, r.code)
      assert.same({ "21" }, r.lines)
    end)

    it("an error in a stdin script exits 1", function()
      local r = proc.sh(("echo 'error(\"from stdin\")' | %s -"):format(q(BIN)))
      assert.equal(1, r.code)
      assert.matches("^smartlua: .*from stdin$", r.errlines[1])
    end)
  end)

  describe("--mock", function()
    local COUNT = [[
      local client = require("smartlead").client()
      local list = assert(client:all_accounts())
      local ids = {}
      for i, a in ipairs(list) do ids[i] = a.id end
      table.sort(ids)
      print(#list)
      print(table.concat(ids, ",", 1, math.min(#ids, 3)))
    ]]

    it("makes smartlead.client() with no key and no env talk to an in-process mock", function()
      local path = script("count.lua", COUNT)
      local r = proc.smartlua({ "--mock", path }, env)
      assert.equal(0, r.code)
      assert.same({ "260", "3001,3002,3003" }, r.lines)
    end)

    it("works with -e too", function()
      local r = proc.smartlua({ "--mock", "-e", "print(#require('smartlead').client():all_accounts())" }, env)
      assert.equal(0, r.code)
      assert.same({ "260" }, r.lines)
    end)

    it("--mock FILE.json and --mock=FILE.json seed the mock from FILE", function()
      local seed = tmp .. "/small-seed.json"
      local ids = write_small_seed(seed)
      local path = script("count_small.lua", COUNT)
      local expect = { "3", table.concat(ids, ",") }
      local r = proc.smartlua({ "--mock", seed, path }, env)
      assert.equal(0, r.code)
      assert.same(expect, r.lines)
      r = proc.smartlua({ "--mock=" .. seed, path }, env)
      assert.equal(0, r.code)
      assert.same(expect, r.lines)
      r = proc.smartlua({ "--mock=" .. seed, "-e", [[
        local c = require("smartlead").client()
        local camp = assert(c:get_campaign_email_accounts(4101))
        print(#camp)
      ]] }, env)
      assert.equal(0, r.code, r.err)
      assert.same({ "3" }, r.lines)
    end)

    it("--mock with a missing seed file fails clearly and runs nothing", function()
      local missing = tmp .. "/missing-seed.json"
      local marker = tmp .. "/ran"
      for _, args in ipairs {
        { "--mock", missing, "-e", "io.open(" .. ("%q"):format(marker) .. ", 'w'):close()" },
        { "--mock=" .. missing, "-e", "io.open(" .. ("%q"):format(marker) .. ", 'w'):close()" },
      } do
        local r = proc.smartlua(args, env)
        assert.equal(1, r.code)
        assert.equal("", r.out)
        assert.same({ "smartlua: --mock: mock seed: " .. missing .. ": No such file or directory" }, r.errlines)
        assert.is_false(proc.exists(marker))
      end
    end)

    it("--mock with a seed that is not JSON fails with the file name", function()
      local bad = proc.write(tmp .. "/bad-seed.json", "{ not json")
      local r = proc.smartlua({ "--mock=" .. bad, "-e", "print('ran')" }, env)
      assert.equal(1, r.code)
      assert.equal("", r.out)
      assert.equal(1, #r.errlines)
      assert.truthy(r.err:find("smartlua: --mock: mock seed " .. bad .. ": ", 1, true))
    end)
  end)

  describe("`smartlua mock` subcommand", function()
    local KEY = "mock-cmd-key-5e8d1a"

    -- Starts `smartlua mock --port P --seed SEED` in the background; returns a handle with
    -- pid, url, and files, or nil when the port was taken.
    local function start_server(dir, seed)
      local port = math.random(20000, 60000)
      local h = { out = dir .. "/out", err = dir .. "/err", rc = dir .. "/rc", pidfile = dir .. "/pid" }
      os.remove(h.rc); os.remove(h.pidfile)
      local inner = ("echo $$ > %s; exec %s mock --port %d --seed %s"):format(q(h.pidfile), q(BIN), port, q(seed))
      os.execute(("(env SMARTLEAD_API_KEY=%s sh -c %s >%s 2>%s </dev/null; echo $? >%s) >/dev/null 2>&1 </dev/null &")
        :format(q(KEY), q(inner), q(h.out), q(h.err), q(h.rc)))
      for _ = 1, 100 do -- up to 5 s
        local out = proc.read(h.out) or ""
        local url = out:match("mock SmartLead API on (%S+)\n")
        if url then
          h.url, h.port = url, port
          h.pid = tonumber((proc.read(h.pidfile) or ""):match("%d+"))
          return h
        end
        if proc.read(h.rc) then return nil, proc.read(h.err) end -- exited: port in use, most likely
        proc.nap(0.05)
      end
      error("smartlua mock printed no URL within 5 s: " .. (proc.read(h.err) or ""))
    end

    local function wait_exit(h)
      for _ = 1, 100 do -- up to 5 s
        local rc = proc.read(h.rc)
        if rc and rc:match("\n") then return tonumber(rc:match("%d+")) end
        proc.nap(0.05)
      end
      if h.pid then os.execute("kill -9 " .. h.pid .. " 2>/dev/null") end -- never leave it behind
    end

    it("serves a seeded mock until SIGTERM, then prints stopping and exits 0", function()
      local dir = tmp .. "/mockcmd"
      os.execute("mkdir -p " .. q(dir))
      local seed = dir .. "/seed.json"
      local ids = write_small_seed(seed)
      math.randomseed(os.time(), tonumber(tostring({}):match("0x(%x+)") or "1", 16))
      local h, why
      for _ = 1, 5 do
        h, why = start_server(dir, seed)
        if h then break end
      end
      assert(h, "could not start smartlua mock: " .. tostring(why))
      local ok, err = pcall(function()
        assert.is_number(h.pid)
        assert.equal(("http://127.0.0.1:%d/api/v1"):format(h.port), h.url)
        local lines = {}
        for l in proc.read(h.out):gmatch("[^\n]+") do lines[#lines + 1] = l end
        assert.equal("key: the value of SMARTLEAD_API_KEY", lines[2])
        assert.falsy(proc.read(h.out):find(KEY, 1, true))

        local client = smartlead.client { api_key = KEY, base_url = h.url }
        local list = assert(client:get_email_accounts { limit = 100 })
        local got = {}
        for i, a in ipairs(list) do got[i] = a.id end
        table.sort(got)
        assert.same(ids, got)
        local wrong = smartlead.client { api_key = "not-the-key-0000", base_url = h.url }
        local none, e = wrong:get_email_accounts { limit = 1 }
        assert.is_nil(none)
        assert.equal(401, e.status)
        client:close(); wrong:close()
      end)
      if h.pid then os.execute("kill " .. h.pid .. " 2>/dev/null") end
      local rc = wait_exit(h)
      if not ok then error(err, 0) end
      assert.equal(0, rc)
      assert.truthy(proc.read(h.out):find("\nstopping on SIGTERM\n", 1, true))
    end)

    it("`smartlua mock --bogus` exits 2 with usage", function()
      local r = proc.smartlua({ "mock", "--bogus" }, env)
      assert.equal(2, r.code)
      assert.equal("", r.out)
      assert.same({ "smartlua: mock: unknown option '--bogus' (try --help)" }, r.errlines)
    end)

    it("`smartlua mock --port x` exits 2 with usage", function()
      local r = proc.smartlua({ "mock", "--port", "x" }, env)
      assert.equal(2, r.code)
      assert.equal("", r.out)
      assert.same({ "smartlua: mock: --port must be a whole number from 0 to 65535, got 'x' (try --help)" }, r.errlines)
    end)
  end)
end)
