-- Trust nothing the server says, lose nothing when the machine fails: a journal the disk
-- refuses stops the run loudly; every item of each() is accounted for; keys with any
-- characters are masked in every encoding; --resume before the first write starts afresh; a
-- field set twice in one plan is said to be.
local core = require "smartlead.core"
local json = require "smartlead.json"
local support = require "support"
local proc = require "proc"
local q = proc.q

local writes_in = support.writes_in

describe("trust", function()
  local tmp, server, client
  support.shared_server(function(s, c) server, client = s, c end)
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  local function env()
    return ("env SMARTLEAD_API_KEY=%s SMARTLEAD_BASE_URL=%s XDG_STATE_HOME=%s"):format(
      q(support.KEY), q(server:url()), q(tmp .. "/xdg"))
  end

  local BULK = [[
    local c = require("smartlead").client()
    local list = assert(c:all_accounts())
    local r = c:each(list, function(a) return c:update_email_account(a.id, { max_email_per_day = 7 }) end)
    print("each returned", r.ok)
  ]]

  describe("a journal the disk refuses", function()
    it("stops the run at the first failure (a full disk): nothing sent, exit 1, says how to go on", function()
      local script = proc.write(tmp .. "/bulk.lua", BULK)
      local r = proc.sh(env() .. " " .. q(proc.BIN) .. " --journal /dev/full " .. q(script))
      assert.equal(1, r.code, r.err)
      assert.equal(0, writes_in(server:log()))
      assert.falsy(r.out:find("each returned", 1, true))
      assert.truthy(r.err:find("the run stopped: cannot write the journal /dev/full", 1, true), r.err)
      assert.truthy(r.err:find("nothing was written; give the journal a writable place", 1, true), r.err)
    end)

    it("stops a run whose journal directory cannot be written (read-only), changing nothing", function()
      local ro = tmp .. "/ro"
      os.execute("mkdir -p " .. q(ro) .. " && chmod 555 " .. q(ro))
      local script = proc.write(tmp .. "/bulk2.lua", BULK)
      -- root ignores the mode bits: run as nobody when we are root
      local as = os.getenv("USER") == "root" or io.popen("id -u"):read("l") == "0"
      local cmd = env() .. " " .. q(proc.BIN) .. " --journal " .. q(ro .. "/j.jsonl") .. " " .. q(script)
      if as then
        os.execute("chmod 755 " .. q(tmp) .. " " .. q(script))
        cmd = "su nobody -s /bin/sh -c " .. q(cmd)
      end
      local r = proc.sh(cmd)
      assert.equal(1, r.code, r.err)
      assert.equal(0, writes_in(server:log()))
      assert.truthy(r.err:find("the run stopped: cannot write the journal " .. ro .. "/j.jsonl", 1, true), r.err)
    end)
  end)

  describe("answers of the wrong shape", function()
    local function answering(method, path, body, status)
      server:configure { scripted = { { method = method, path = path, body = body, status = status } } }
    end
    after_each(function() server:configure { scripted = json.null, ignore_offset = json.null } end)

    local CASES = {
      { "get_email_accounts", "GET", "^/email%-accounts/?$", "{}", "expected a list, got an object" },
      { "get_email_accounts", "GET", "^/email%-accounts/?$", '{"data":[{"id":1}]}', "expected a list, got an object" },
      { "get_email_accounts", "GET", "^/email%-accounts/?$", "null", "expected a list, got null" },
      { "get_email_accounts", "GET", "^/email%-accounts/?$", "[1,2]", "expected a list of objects, got a list" },
      { "get_email_account", "GET", "^/email%-accounts/3002/?$", "[]",
        "expected an account object, got an empty list" },
      { "get_email_account", "GET", "^/email%-accounts/3002/?$", "null", "expected an account object, got null" },
      { "get_email_account", "GET", "^/email%-accounts/3002/?$", '{"ok":true}',
        "expected an account object with an id" },
      { "get_campaign_email_accounts", "GET", "^/campaigns/4101/email%-accounts/?$", "{}",
        "expected a list, got an object" },
      { "update_email_account", "POST", "^/email%-accounts/3002/?$", "[]", "expected an object, got an empty list" },
    }
    local ARGS = { get_email_accounts = { {} }, get_email_account = { 3002 }, get_campaign_email_accounts = { 4101 },
      update_email_account = { 3002, { max_email_per_day = 5 } } }

    for _, c in ipairs(CASES) do
      it(("%s answered %s is a shape error, never data"):format(c[1], c[4]), function()
        answering(c[2], c[3], c[4])
        local got, err = client[c[1]](client, table.unpack(ARGS[c[1]]))
        assert.is_nil(got)
        assert.equal("shape", err.kind)
        assert.equal("UNEXPECTED_SHAPE", err.code)
        assert.truthy(err.message:find(c[1] .. ": " .. c[5], 1, true), err.message)
      end)
    end

    it("reads the {success, data} envelope, and a 200 with success:false is a failure", function()
      local acc = server:account(3002)
      answering("GET", "^/email%-accounts/3002/?$",
        json.encode { success = true, data = { id = 3002, from_email = acc.from_email } })
      assert.equal(3002, assert(client:get_email_account(3002)).id)
      answering("POST", "^/email%-accounts/3002/?$",
        '{"success":false,"message":"Email account not found or does not belong to you"}')
      local ok, err = client:update_email_account(3002, { max_email_per_day = 5 })
      assert.is_nil(ok)
      assert.equal("Email account not found or does not belong to you", err.message)
    end)

    it("a policy over an answer of the wrong shape fails loudly: exit 1, nothing written", function()
      answering("GET", "^/email%-accounts/?$", "{}")
      local script = proc.write(tmp .. "/policy.lua", [[
        local c = require("smartlead").client()
        local n = 0
        for _ in c:accounts() do n = n + 1 end
        print("accounts", n)
      ]])
      local r = proc.sh(env() .. " " .. q(proc.BIN) .. " " .. q(script))
      assert.equal(1, r.code, r.out .. r.err)
      assert.equal("", r.out)
      assert.truthy(r.err:find("get_email_accounts: expected a list, got an object", 1, true), r.err)
    end)

    it("stops the pager when the server ignores offset (the same full page again), with a clear error", function()
      server:configure { ignore_offset = true }
      local ok, err = pcall(function()
        for _ in client:accounts() do end
      end)
      assert.is_false(ok)
      assert.equal("PAGE_REPEATED", err.code)
      assert.matches("ignore offset", err.message)
      local gets = 0
      for _, e in ipairs(server:log()) do
        if e.method == "GET" and e.path:find("^/api/v1/email%-accounts/?$") then gets = gets + 1 end
      end
      assert.is_true(gets <= 16, "the pager asked " .. gets .. " pages of a server that never ends")
    end)
  end)

  describe("each", function()
    it("accounts for an item whose callback yields: ok + failed = items, the lost one with its reason", function()
      local items = {}
      for i = 1, 40 do items[i] = i end
      local report = client:each(items, function(i)
        if i == 7 then coroutine.yield("away") end
        return true
      end, { progress = false })
      assert.equal(40, report.ok + #report.failed)
      assert.equal(39, report.ok)
      assert.equal(7, report.failed[1].index)
      assert.equal("NOT_FINISHED", report.failed[1].error.code)
      assert.matches("coroutine.yield", tostring(report.failed[1].error))
    end)
  end)

  describe("masking", function()
    -- random keys from bytes that encoders treat differently, written raw, percent-encoded
    -- (upper, lower and mixed case, any subset of bytes) and JSON-escaped, inside other text
    local ALPHABET = "abcXYZ019%+/=&?#\"\\-_.~:;@!$'()*,é" -- no space: a client refuses it in a key
    local function random_key(rng)
      local t = {}
      for i = 1, rng(8, 40) do
        local k = rng(1, utf8.len(ALPHABET))
        t[i] = ALPHABET:sub(utf8.offset(ALPHABET, k), utf8.offset(ALPHABET, k + 1) - 1)
      end
      return table.concat(t)
    end
    local function percent(s, rng)
      return (s:gsub(".", function(c)
        if rng(0, 2) == 0 and c:match("[%w]") then return c end
        local hex = ("%02X"):format(c:byte())
        if rng(0, 1) == 0 then hex = hex:lower() end
        return "%" .. hex
      end))
    end
    local function json_escaped(s, rng)
      local out = json.encode(s):sub(2, -2) -- the codec's own escaping
      if rng(0, 1) == 0 then out = out:gsub("/", "\\/") end
      return (out:gsub("[%w]", function(c) -- and some letters as \u00XX, as other encoders do
        if rng(0, 3) == 0 then return ("\\u%04x"):format(c:byte()) end
      end))
    end

    it("masks 300 random keys in raw, percent-encoded and JSON-escaped forms", function()
      local seed = 12345
      local function rng(lo, hi)
        seed = (seed * 1103515245 + 12345) % 2147483648
        return lo + seed % (hi - lo + 1)
      end
      local misses = {}
      for _ = 1, 300 do
        local key = random_key(rng)
        local forms = { key }
        for _ = 1, 5 do forms[#forms + 1], forms[#forms + 2] = percent(key, rng), json_escaped(key, rng) end
        for _, form in ipairs(forms) do
          local text = "before " .. form .. " after"
          local masked = core.mask(text, key) -- as a client masks with its own key
          if masked ~= "before *** after" then misses[#misses + 1] = { key = key, form = form, masked = masked } end
        end
      end
      assert.same({}, misses)
    end)
  end)

  describe("configuration", function()
    it("a config file refused while the key comes from the environment is said so on stderr", function()
      local home = tmp .. "/cfg"
      os.execute("mkdir -p " .. q(home .. "/smartlua"))
      proc.write(home .. "/smartlua/config", "base_url = " .. server:url() .. "\n")
      os.execute("chmod 644 " .. q(home .. "/smartlua/config"))
      local r = proc.sh(("env SMARTLEAD_API_KEY=%s XDG_CONFIG_HOME=%s %s -e %s"):format(q(support.KEY), q(home),
        q(proc.BIN), q("print(tostring(require('smartlead').client()))")))
      assert.equal(0, r.code, r.err)
      assert.truthy(r.err:find("warning: config file skipped, so none of its settings "
        .. "(base_url, rate, ...) apply", 1, true),
        r.err)
      assert.truthy(r.err:find("chmod 600", 1, true), r.err)
    end)
  end)

  describe("small ones", function()
    it("--resume with a journal not written yet starts afresh instead of refusing", function()
      local script = proc.write(tmp .. "/one.lua",
        'assert(require("smartlead").client():update_email_account(3002, { max_email_per_day = 8 }))')
      local path = tmp .. "/never.jsonl"
      local r = proc.sh(env() .. " " .. q(proc.BIN) .. " --resume " .. q(path) .. " " .. q(script))
      assert.equal(0, r.code, r.err)
      assert.truthy(r.err:find("no journal at " .. path .. " yet", 1, true), r.err)
      assert.equal(8, server:account(3002).message_per_day)
      assert.truthy(proc.read(path):find('"op":"update_email_account"', 1, true))
    end)

    it("-vv reports an answer object holding a key twice (the last one counts); -v does not", function()
      local twice = '{"id":3002,"from_email":"a@b.co","tags":[{"id":1,"id":2}],"message_per_day":5,'
        .. '"message_per_day":9}'
      server:configure { scripted = { { method = "GET", path = "^/email%-accounts/3002/?$", body = twice } } }
      local script = proc.write(tmp .. "/dup.lua", 'print(require("smartlead").client():get_email_account(3002)'
        .. '.message_per_day)')
      local r = proc.sh(env() .. " " .. q(proc.BIN) .. " -vv " .. q(script))
      assert.equal(0, r.code, r.err)
      assert.equal("9", r.lines[1])
      local said = 'the answer holds key "id" twice in one object; the last one counts'
      assert.truthy(r.err:find(said, 1, true), r.err)
      server:configure { scripted = { { method = "GET", path = "^/email%-accounts/3002/?$",
        body = '{"id":3002,"from_email":"a@b.co","message_per_day":5,"message_per_day":9}' } } }
      r = proc.sh(env() .. " " .. q(proc.BIN) .. " -v " .. q(script))
      assert.falsy(r.err:find("twice", 1, true), r.err)
      server:configure { scripted = json.null }
    end)

    it("a plan that sets one field twice to different values says the last wins", function()
      local script = proc.write(tmp .. "/twice.lua", [[
        local c = require("smartlead").client()
        c:update_email_account(3002, { max_email_per_day = 7 })
        c:update_email_account(3002, { max_email_per_day = 9 })
      ]])
      local r = proc.sh(env() .. " " .. q(proc.BIN) .. " --plan " .. q(script))
      assert.equal(0, r.code, r.err)
      assert.truthy(r.out:find("max_email_per_day: 20 -> 9", 1, true), r.out)
      assert.truthy(r.out:find("warning: max_email_per_day is set 2 times in this run "
        .. "(7, then 9); the last wins", 1, true),
        r.out)
    end)
  end)
end)
