-- Where the API key comes from and in what order: the api_key option, then SMARTLEAD_API_KEY,
-- then the config file ($XDG_CONFIG_HOME/smartlua/config, mode 0600 only). The file parser is
-- tested directly; the rest through build/smartlua child processes with a controlled env.
local proc = require "proc"
local tmux = require "tmux"
local config = require "smartlead.config"

local q = proc.q

describe("config.parse", function()
  it("reads key = value lines into the default section", function()
    assert.same({ default = { api_key = "abc123", base_url = "http://127.0.0.1:9/api/v1" } },
      config.parse("api_key = abc123\nbase_url=http://127.0.0.1:9/api/v1\n"))
  end)

  it("skips blank lines and # and ; comments, and trims spaces", function()
    local text = "# a comment\n\n   ; another\n\t api_key \t=\t  k-1  \n  # api_key = not-this\n"
    assert.same({ default = { api_key = "k-1" } }, config.parse(text))
  end)

  it("strips one pair of double or single quotes and keeps what is inside", function()
    local s = config.parse([[
a = "double quoted # not a comment"
b = 'single'
c = "unbalanced
d = ""
e = it's
]])
    assert.same({ a = "double quoted # not a comment", b = "single", c = '"unbalanced', d = "", e = "it's" }, s.default)
  end)

  it("puts [profile NAME] and [NAME] sections under NAME", function()
    local s = config.parse([[
api_key = top
[profile work]
api_key = work-key
[ staging ]
api_key = "staging-key"
base_url = http://127.0.0.1:8080/api/v1
[profile work]
timeout = 30
]])
    assert.same({
      default = { api_key = "top" },
      work = { api_key = "work-key", timeout = "30" },
      staging = { api_key = "staging-key", base_url = "http://127.0.0.1:8080/api/v1" },
    }, s)
  end)

  it("accepts CRLF line endings and a last line without newline", function()
    assert.same({ default = { api_key = "crlf", x = "y" } }, config.parse("api_key = crlf\r\nx = y"))
  end)

  it("later keys win within a section", function()
    assert.same({ default = { api_key = "second" } }, config.parse("api_key = first\napi_key = second\n"))
  end)

  it("reports a malformed line as source:line", function()
    local s, err = config.parse("# ok\napi_key = fine\nthis is not a setting\n", "/etc/x/config")
    assert.is_nil(s)
    assert.equal("/etc/x/config:3: expected `key = value`", err)
    s, err = config.parse("= value\n")
    assert.is_nil(s)
    assert.equal("config:1: expected `key = value`", err)
  end)

  it("returns an empty default section for an empty file", function()
    assert.same({ default = {} }, config.parse(""))
  end)
end)

describe("config.load", function()
  local tmp

  before_each(function() tmp = proc.mktemp() end)
  after_each(function() proc.rmtree(tmp) end)

  local function file(text, mode)
    local path = proc.write(tmp .. "/config", text)
    assert.is_true(os.execute(("chmod %s %s"):format(mode, q(path))))
    return path
  end

  it("returns the default section, or a named profile", function()
    local path = file("api_key = load-default-1\n[profile work]\napi_key = load-work-2\n"
      .. "base_url = http://127.0.0.1:1/api/v1\n", "600")
    assert.same({ api_key = "load-default-1" }, config.load(nil, path))
    assert.same({ api_key = "load-work-2", base_url = "http://127.0.0.1:1/api/v1" }, config.load("work", path))
  end)

  it("an unknown profile is an error naming it and the profiles there are", function()
    local path = file("api_key = x-load-3\n[work]\nrate = off\n", "600")
    local s, err = config.load("nope", path)
    assert.is_nil(s)
    assert.equal(path .. ": no profile [nope] (profiles: default, work)", err)
  end)

  it("a missing file is not an error: nil and no message", function()
    local s, err = config.load(nil, tmp .. "/absent")
    assert.is_nil(s)
    assert.is_nil(err)
  end)

  it("refuses a file other users may read, saying how to fix it", function()
    for _, mode in ipairs { "644", "640", "604" } do
      local path = file("api_key = load-secret-4\n", mode)
      local s, err = config.load(nil, path)
      assert.is_nil(s)
      assert.equal(path .. " holds secrets but other users may read it (mode " .. mode
        .. "); fix it with: chmod 600 " .. path, err)
    end
  end)

  it("masks the key it loads from then on", function()
    local path = file("api_key = load-mask-secret-5\n", "600")
    assert.same({ api_key = "load-mask-secret-5" }, config.load(nil, path))
    assert.equal("key ***", require("smartlead").mask("key load-mask-secret-5"))
  end)

  it("a malformed file gives file:line", function()
    local path = file("api_key = x\n[profile a]\nnonsense\n", "600")
    local s, err = config.load(nil, path)
    assert.is_nil(s)
    assert.equal(path .. ":3: expected `key = value`", err)
  end)
end)

describe("config.resolve", function()
  local tmp, path

  before_each(function()
    tmp = proc.mktemp()
    path = tmp .. "/config"
  end)
  after_each(function() proc.rmtree(tmp) end)

  local function file(text, mode)
    proc.write(path, text)
    assert.is_true(os.execute(("chmod %s %s"):format(mode or "600", q(path))))
  end

  -- resolve with a fake environment and this file
  local function resolve(env, extra)
    local o = { path = path, getenv = function(name) return (env or {})[name] end }
    for k, v in pairs(extra or {}) do o[k] = v end
    return config.resolve(o)
  end

  local function pairs_of(s)
    local out = {}
    for _, k in ipairs { "profile", "api_key", "base_url", "rate", "concurrency", "timeout" } do
      out[k] = { s[k].value, s[k].source }
    end
    return out
  end

  it("gives the built-in defaults when there is nothing else", function()
    local s = assert(resolve())
    assert.same({
      profile = { "default", "default" }, api_key = {}, base_url = { "https://server.smartlead.ai/api/v1", "default" },
      rate = { "auto", "default" }, concurrency = { 8, "default" }, timeout = { 60, "default" },
    }, (function(t) t.api_key = {} return t end)(pairs_of(s)))
    assert.is_nil(s.api_key.value)
    assert.same({}, s.profiles)
  end)

  it("takes each setting from flag, then environment, then the profile, then the default", function()
    file("api_key = file-key-00000001\nrate = 3/1\nconcurrency = 5\n[work]\napi_key = work-key-00000002\ntimeout = 9\n")
    local s = assert(resolve({ SMARTLUA_CONCURRENCY = "4", SMARTLUA_RATE = "off" }, { options = { timeout = 7 } }))
    assert.same({ profile = { "default", "default" }, api_key = { "file-key-00000001", "file:default" },
      base_url = { "https://server.smartlead.ai/api/v1", "default" }, rate = { false, "environment" },
      concurrency = { 4, "environment" }, timeout = { 7, "flag" } }, pairs_of(s))
    assert.equal("SMARTLUA_RATE", s.rate.env)
    s = assert(resolve({ SMARTLUA_PROFILE = "work" }))
    assert.same({ "work", "environment" }, { s.profile.value, s.profile.source })
    assert.same({ "work-key-00000002", "file:work" }, { s.api_key.value, s.api_key.source })
    assert.same({ 9, "file:work" }, { s.timeout.value, s.timeout.source })
    assert.same({ 8, "default" }, { s.concurrency.value, s.concurrency.source }) -- profiles do not inherit
    s = assert(resolve({ SMARTLUA_PROFILE = "work" },
      { defaults = { profile = "default", api_key = "mock-key-0003" }, mock = true }))
    assert.same({ "default", "flag" }, { s.profile.value, s.profile.source })
    assert.same({ "mock-key-0003", "--mock" }, { s.api_key.value, s.api_key.source })
    assert.same({ "default", "work" }, s.profiles)
  end)

  it("an unknown profile is an error naming the profiles; with no file, it says so", function()
    file("api_key = k-00000000001\n[a]\n[profile b]\n")
    local s, err = resolve({ SMARTLUA_PROFILE = "c" })
    assert.is_nil(s)
    assert.equal(path .. ": no profile [c] (profiles: a, b, default)", err)
    os.remove(path)
    s, err = resolve({}, { defaults = { profile = "c" } })
    assert.is_nil(s)
    assert.matches("^unknown profile 'c': there is no config file %(", err)
  end)

  it("a bad value names where it came from", function()
    file("[w]\nconcurrency = lots\n")
    local s, err = resolve({}, { options = { profile = "w" } })
    assert.is_nil(s)
    assert.equal(path .. " [w]: concurrency must be a whole number from 1 to 64, got 'lots'", err)
    s, err = resolve({ SMARTLUA_RATE = "fast" })
    assert.is_nil(s)
    assert.equal("SMARTLUA_RATE: rate must be N/SECONDS (e.g. 10/2) or off, got 'fast' (also: windows such as " ..
      "10/1,60/60,1000/3600, a preset: standard, pro, legacy, or auto)", err)
  end)

  it("an unsafe file is an error only when something needs it", function()
    file("api_key = unsafe-key-0004\n", "644")
    local s, err = resolve()
    assert.is_nil(s)
    assert.truthy(err:find("chmod 600 " .. path, 1, true))
    s = assert(resolve({ SMARTLEAD_API_KEY = "env-key-00000005" }))
    assert.same({ "env-key-00000005", "environment" }, { s.api_key.value, s.api_key.source })
    assert.truthy(s.warning:find("chmod 600", 1, true))
    s = resolve({ SMARTLEAD_API_KEY = "env-key-00000005", SMARTLUA_PROFILE = "default" })
    assert.is_nil(s)
  end)

  it("parse_rate reads N/S, N, auto and off; show_rate writes them back", function()
    assert.same({ requests = 10, per = 2 }, config.parse_rate("10/2"))
    assert.same({ requests = 5, per = 1 }, config.parse_rate("5"))
    assert.same({ requests = 2.5, per = 0.5 }, config.parse_rate("2.5/0.5s"))
    assert.equal(false, config.parse_rate("off"))
    assert.is_nil(config.parse_rate("0/2"))
    assert.equal("10/2", config.show_rate { requests = 10, per = 2 })
    assert.equal("off", config.show_rate(false))
    assert.equal("auto", config.parse_rate("auto"))
    assert.equal("auto", config.show_rate(config.parse_rate(config.DEFAULTS.rate)))
  end)
end)

describe("config.set", function()
  local tmp, path

  before_each(function()
    tmp = proc.mktemp()
    path = tmp .. "/deep/er/config"
  end)
  after_each(function() proc.rmtree(tmp) end)

  local function mode(p)
    local h = assert(io.popen("stat -c %a " .. q(p)))
    local m = h:read("l")
    h:close()
    return m
  end

  it("creates the file 0600 and its directories 0700", function()
    assert.equal(path, config.set("api_key", "set-key-00000006", { path = path }))
    assert.equal("api_key = set-key-00000006\n", proc.read(path))
    assert.equal("600", mode(path))
    assert.equal("700", mode(tmp .. "/deep/er"))
    assert.equal("700", mode(tmp .. "/deep"))
  end)

  it("refuses a config file or its directory that is a symbolic link, and leaves the target alone", function()
    local target = proc.write(tmp .. "/elsewhere", "timeout = 1\n")
    assert(os.execute("chmod 600 " .. q(target) .. " && mkdir -p " .. q(tmp .. "/deep/er")))
    assert(os.execute(("ln -s %s %s"):format(q(target), q(path))))
    local ok, err = config.set("timeout", "2", { path = path })
    assert.is_nil(ok)
    assert.equal(path .. " is a symbolic link; refusing to write through it", err)
    local sections, rerr = config.read(path)
    assert.is_nil(sections)
    assert.equal(path .. " is a symbolic link; refusing to read through it", rerr)
    assert.equal("timeout = 1\n", proc.read(target))
    assert(os.execute(("mkdir %s && ln -s real %s"):format(q(tmp .. "/real"), q(tmp .. "/linked"))))
    ok, err = config.set("timeout", "2", { path = tmp .. "/linked/config" })
    assert.is_nil(ok)
    assert.equal(tmp .. "/linked is a symbolic link; refusing to use it as a private directory", err)
    assert.is_false(proc.exists(tmp .. "/real/config"))
  end)

  it("creates 0600 and 0700 whatever the umask (`smartlua config set` under umask 000)", function()
    local r = proc.sh(("umask 000 && env XDG_CONFIG_HOME=%s %s config set timeout 45")
      :format(q(tmp .. "/x"), q(proc.BIN)))
    assert.equal(0, r.code, r.err)
    assert.equal("600", mode(tmp .. "/x/smartlua/config"))
    assert.equal("700", mode(tmp .. "/x/smartlua"))
    assert.equal("700", mode(tmp .. "/x"))
  end)

  it("replaces the last assignment in place and keeps everything else", function()
    assert(os.execute("mkdir -p " .. q(tmp .. "/deep/er")))
    proc.write(path, "# top\ntimeout = 1\n; c\ntimeout = 2\n\n[profile work]\nrate = off # not a comment\n\n[x]\n")
    assert(os.execute("chmod 600 " .. q(path)))
    assert(config.set("timeout", "30", { path = path }))
    assert(config.set("rate", "4/2", { path = path, profile = "work" }))
    assert(config.set("base_url", "http://127.0.0.1:1/api/v1", { path = path, profile = "work" }))
    assert(config.set("concurrency", "2", { path = path, profile = "x" }))
    assert(config.set("api_key", "'quoted-key-7'", { path = path, profile = "new" }))
    assert.equal("# top\ntimeout = 1\n; c\ntimeout = 30\n\n[profile work]\nrate = 4/2\n"
      .. "base_url = http://127.0.0.1:1/api/v1\n"
      .. "\n[x]\nconcurrency = 2\n\n[new]\napi_key = \"'quoted-key-7'\"\n", proc.read(path))
    local sections = assert(config.parse(proc.read(path)))
    assert.equal("'quoted-key-7'", sections.new.api_key)
    assert.equal("30", sections.default.timeout)
  end)

  it("refuses unknown keys, bad values, line breaks and an unsafe file", function()
    local ok, err = config.set("colour", "red", { path = path })
    assert.is_nil(ok)
    assert.equal("unknown setting 'colour' (known: api_key, base_url, rate, concurrency, timeout)", err)
    err = select(2, config.set("concurrency", "99", { path = path }))
    assert.equal("concurrency must be a whole number from 1 to 64, got '99'", err)
    err = select(2, config.set("base_url", "ftp://x", { path = path }))
    assert.equal("base_url must be an http(s):// URL, got 'ftp://x'", err)
    err = select(2, config.set("api_key", "two\nlines-key", { path = path }))
    assert.equal("api_key: the value must be one line", err)
    assert.is_false(proc.exists(path))
    assert(os.execute("mkdir -p " .. q(tmp .. "/deep/er")))
    proc.write(path, "timeout = 1\n")
    assert(os.execute("chmod 644 " .. q(path)))
    ok, err = config.set("timeout", "2", { path = path })
    assert.is_nil(ok)
    assert.truthy(err:find("chmod 600", 1, true))
    assert.equal("timeout = 1\n", proc.read(path))
  end)
end)

describe("the API key in a smartlua process", function()
  local tmp, xdg, cfg

  before_each(function()
    tmp = proc.mktemp()
    xdg = tmp .. "/xdg"
    cfg = xdg .. "/smartlua/config"
    assert.is_true(os.execute("mkdir -p " .. q(xdg .. "/smartlua")))
  end)
  after_each(function() proc.rmtree(tmp) end)

  local function write_config(text, mode)
    proc.write(cfg, text)
    assert.is_true(os.execute(("chmod %s %s"):format(mode, q(cfg))))
  end

  -- Runs chunk in build/smartlua with SMARTLEAD_API_KEY unset (or set to env_key) and
  -- XDG_CONFIG_HOME pointing at the temp dir.
  local function run(chunk, env_key, extra_args)
    local env = proc.keyless_env(xdg)
    if env_key then env = env .. " SMARTLEAD_API_KEY=" .. q(env_key) end
    local args = {}
    for _, a in ipairs(extra_args or {}) do args[#args + 1] = a end
    args[#args + 1] = "-e"
    args[#args + 1] = chunk
    return proc.smartlua(args, env)
  end

  local SHOW = "print(tostring(require('smartlead').client()))"

  it("config.path() follows XDG_CONFIG_HOME, else HOME/.config", function()
    local r = run("print(require('smartlead.config').path())")
    assert.equal(0, r.code)
    assert.same({ cfg }, r.lines)
    r = proc.smartlua({ "-e", "print(require('smartlead.config').path())" },
      "env -u XDG_CONFIG_HOME HOME=" .. q(tmp .. "/home"))
    assert.same({ tmp .. "/home/.config/smartlua/config" }, r.lines)
  end)

  it("refuses a config file with mode 0644, naming the file and saying chmod 600", function()
    write_config("# my key\napi_key = \"cfg-secret-0644-abcdef\"\n", "644")
    local r = run(SHOW)
    assert.equal(1, r.code)
    assert.equal("", r.out)
    assert.equal("smartlua: (command line):1: smartlead.client: " .. cfg
      .. " holds secrets but other users may read it (mode 644); fix it with: chmod 600 " .. cfg, r.errlines[1])
    assert.falsy(r.err:find("cfg-secret-0644-abcdef", 1, true))
  end)

  it("refuses a config file that is a symbolic link, naming it, for reading and for config set", function()
    local target = proc.write(tmp .. "/dotfiles-config", "api_key = \"cfg-secret-link-abcdef\"\n")
    assert.is_true(os.execute(("chmod 600 %s && ln -s %s %s"):format(q(target), q(target), q(cfg))))
    local r = run(SHOW)
    assert.equal(1, r.code)
    assert.equal("smartlua: (command line):1: smartlead.client: " .. cfg
      .. " is a symbolic link; refusing to read through it", r.errlines[1])
    r = proc.smartlua({ "config", "set", "timeout", "9" }, proc.keyless_env(xdg))
    assert.equal(1, r.code)
    assert.same({ "smartlua: " .. cfg .. " is a symbolic link; refusing to write through it" }, r.errlines)
    assert.equal("api_key = \"cfg-secret-link-abcdef\"\n", proc.read(target))
  end)

  it("config set api_key - on a terminal (tmux): prompts, does not echo the key, saves it", function()
    local key = "cfg-typed-key-9e8d7c6b"
    local pane = tmux.start(("%s %s config set api_key -; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?echo'"):format(
      proc.keyless_env(xdg), q(proc.BIN)))
    local ok, err = pcall(function()
      pane:wait_for("api_key: ", 10, true)
      pane:line(key)
      local screen = pane:wait_for("\necho\n", 10, true)
      assert.truthy(screen:find("api_key set in " .. cfg .. " [default]", 1, true), screen)
      assert.falsy(screen:find(key, 1, true), screen)
    end)
    pane:kill()
    assert(ok, err)
    assert.equal("api_key = " .. key .. "\n", proc.read(cfg))
  end)

  it("uses a config file with mode 0600, and never shows the key", function()
    write_config("# my key\napi_key = \"cfg-secret-0600-abcdef\"\n", "600")
    local r = run(SHOW)
    assert.equal(0, r.code, r.err)
    assert.same({ "smartlead.Client(https://server.smartlead.ai/api/v1, key=***)" }, r.lines)
    assert.falsy(r.out:find("cfg-secret-0600-abcdef", 1, true))
  end)

  it("takes base_url from the config file too", function()
    write_config("api_key = cfg-secret-base-123\nbase_url = http://127.0.0.1:9/api/v1\n", "600")
    local r = run(SHOW)
    assert.equal(0, r.code, r.err)
    assert.same({ "smartlead.Client(http://127.0.0.1:9/api/v1, key=***)" }, r.lines)
  end)

  it("with no config file and no env, smartlead.client() raises the clear no-API-key error", function()
    local r = run(SHOW)
    assert.equal(1, r.code)
    assert.equal("", r.out)
    assert.matches("^smartlua: %(command line%):1: smartlead%.client: no API key "
      .. "%(set SMARTLEAD_API_KEY, put api_key in the config file",
      r.errlines[1])
  end)

  it("a config file without api_key gives the no-API-key error too", function()
    write_config("[profile other]\napi_key = not-default-profile\n", "600")
    local r = run(SHOW)
    assert.equal(1, r.code)
    assert.truthy(r.err:find("no API key", 1, true))
  end)

  it("a malformed line is reported as file:line", function()
    write_config("api_key = fine-key-123\nnot a setting\n", "600")
    local r = run(SHOW)
    assert.equal(1, r.code)
    assert.equal("smartlua: (command line):1: smartlead.client: " .. cfg .. ":2: expected `key = value`", r.errlines[1])
  end)

  describe("precedence", function()
    -- Starts one mock per candidate key inside the child; the key that a server accepts is
    -- the key the client sent. Prints "used=<name>".
    local PROBE = [[
      local sl = require "smartlead"
      local ms = require "smartlead.mock.server"
      local opt = os.getenv("PROBE_OPT")
      local used = {}
      for _, k in ipairs { "opt-key-1111aaaa", "env-key-2222bbbb", "cfg-key-3333cccc" } do
        local server = ms.start { api_key = k }
        local client = sl.client { api_key = opt, base_url = server:url() }
        if client:get_email_accounts { limit = 1 } then used[#used + 1] = k:match("^%a+") end
        client:close()
        server:stop()
      end
      print("used=" .. table.concat(used, ","))
    ]]

    local function probe(opt, env_key)
      local env = proc.keyless_env(xdg)
      if env_key then env = env .. " SMARTLEAD_API_KEY=" .. q(env_key) end
      if opt then env = env .. " PROBE_OPT=" .. q(opt) end
      local r = proc.smartlua({ "-e", PROBE }, env)
      assert.equal(0, r.code, r.err)
      return r.lines[1]
    end

    it("the api_key option beats SMARTLEAD_API_KEY and the config file", function()
      write_config("api_key = cfg-key-3333cccc\n", "600")
      assert.equal("used=opt", probe("opt-key-1111aaaa", "env-key-2222bbbb"))
    end)

    it("SMARTLEAD_API_KEY beats the config file", function()
      write_config("api_key = cfg-key-3333cccc\n", "600")
      assert.equal("used=env", probe(nil, "env-key-2222bbbb"))
    end)

    it("the config file is used when there is nothing else", function()
      write_config("api_key = cfg-key-3333cccc\n", "600")
      assert.equal("used=cfg", probe(nil, nil))
    end)

    it("SMARTLEAD_API_KEY wins without reading the config file, even an unsafe one", function()
      write_config("api_key = cfg-key-3333cccc\n", "644")
      assert.equal("used=env", probe(nil, "env-key-2222bbbb"))
    end)

    it("--mock's key beats SMARTLEAD_API_KEY for smartlead.client() without options", function()
      local r = proc.smartlua({ "--mock", "-e",
        "print(#assert(require('smartlead').client():get_email_accounts{limit=5}))" },
        proc.keyless_env(xdg) .. " SMARTLEAD_API_KEY=env-key-2222bbbb")
      assert.equal(0, r.code, r.err)
      assert.same({ "5" }, r.lines)
    end)
  end)
end)
