-- --resume JOURNAL: done writes are skipped (their journaled answer returned), writes with an
-- intent but no result are checked before anything is sent again (never a blind second save),
-- and a run killed with SIGKILL at any moment, then resumed, loses nothing and doubles nothing.
local support = require "support"
local proc = require "proc"
local json = require "smartlead.json"
local journal = require "smartlead.journal"
local run = require "smartlead.run"
local smartlead = require "smartlead"

local q = proc.q

local function writes(log)
  local out = {}
  for _, e in ipairs(log) do
    if e.method ~= "GET" then out[#out + 1] = e.method .. " " .. e.path:gsub("^/api/v1", "") end
  end
  return out
end

local function records(path) return assert(journal.read(path)) end

-- Cuts the journal's last record in half, as a kill in the middle of writing it would.
local function cut_last_line(path)
  local text = proc.read(path)
  local last_start = #text - #text:match("([^\n]*\n)$") + 1
  proc.write(path, text:sub(1, last_start + 20))
end

local SAVE = {
  from_name = "Resumed", from_email = "resumed@example.org", user_name = "resumed@example.org",
  password = "pw-resume-1", smtp_host = "smtp.example.org", smtp_port = 587, imap_host = "imap.example.org",
  imap_port = 993, warmup_enabled = false,
}

describe("resume", function()
  local tmp, server, client
  support.shared_server(function(s, c) server, client = s, c end)
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  -- Runs fn(client, session) under a session; returns the session.
  local function in_session(opts, fn)
    local s = run.session(opts)
    local previous = client:set_session(s)
    local ok, err = pcall(fn, client, s)
    client:set_session(previous)
    if s.journal then s.journal:close() end
    assert(ok, err)
    return s
  end

  local function hand_journal(name, intents)
    local path = tmp .. "/" .. name
    local lines = { json.encode { type = "begin", journal = 1, mode = "journal" } }
    for i, r in ipairs(intents) do
      r.type, r.seq = "intent", i
      lines[#lines + 1] = json.encode(r)
    end
    return proc.write(path, table.concat(lines, "\n") .. "\n")
  end

  it("skips writes the journal shows as done, answering as journaled, and sends only the rest", function()
    local path = tmp .. "/done.jsonl"
    local first
    in_session({ mode = "journal", journal = path }, function(c)
      first = assert(c:update_email_account(3002, { max_email_per_day = 21 }))
      assert(c:update_email_account(3005, { max_email_per_day = 22 }))
    end)
    server:clear_log()
    local s = in_session({ mode = "resume", resume = path }, function(c)
      assert.same(first, c:update_email_account(3002, { max_email_per_day = 21 }))
      assert(c:update_email_account(3005, { max_email_per_day = 22 }))
      assert(c:update_email_account(3009, { max_email_per_day = 23 }))
    end)
    assert.same({ "POST /email-accounts/3009" }, writes(server:log()))
    assert.equal(2, s.skipped)
    local recs = records(path)
    assert.same({ "begin", "resume" }, { recs[6].type, recs[6].mode })
    assert.same({ "intent", 3, 3009 }, { recs[7].type, recs[7].seq, recs[7].target.account })
  end)

  it("checks a write left without a result (cut mid-line) and does not repeat it when it took effect", function()
    local path = tmp .. "/cut.jsonl"
    in_session({ mode = "journal", journal = path }, function(c)
      assert(c:update_email_account(3002, { max_email_per_day = 31 }))
    end)
    cut_last_line(path)
    server:clear_log()
    local answer
    in_session({ mode = "resume", resume = path }, function(c)
      answer = assert(c:update_email_account(3002, { max_email_per_day = 31 }))
    end)
    assert.same({}, writes(server:log()))
    assert.same({ "GET /api/v1/email-accounts/3002/" }, { server:log()[1].method .. " " .. server:log()[1].path })
    assert.is_true(answer.ok and answer.resumed)
    local last = records(path)[#records(path)]
    assert.same({ "result", 1, "ok", "verified" }, { last.type, last.seq, last.status, last.resumed })
  end)

  it("sends a write left without a result again when it did not take effect, closing the same seq", function()
    local path = hand_journal("pending.jsonl", {
      { op = "update_email_account", target = { account = 3002 }, fields = { max_email_per_day = 32 },
        before = { max_email_per_day = 20 } },
    })
    in_session({ mode = "resume", resume = path }, function(c)
      assert(c:update_email_account(3002, { max_email_per_day = 32 }))
    end)
    assert.same({ "POST /email-accounts/3002" }, writes(server:log()))
    assert.equal(32, server:account(3002).message_per_day)
    local last = records(path)[#records(path)]
    assert.same({ "result", 1, "ok", "resent" }, { last.type, last.seq, last.status, last.resumed })
  end)

  it("looks a save left without a result up by address: never a blind second save", function()
    local path = tmp .. "/save.jsonl"
    local saved
    in_session({ mode = "journal", journal = path }, function(c) saved = assert(c:add_smtp_account(SAVE)) end)
    cut_last_line(path)
    server:clear_log()
    local answer
    in_session({ mode = "resume", resume = path }, function(c) answer = assert(c:add_smtp_account(SAVE)) end)
    assert.same({}, writes(server:log()))
    assert.equal("/api/v1/email-accounts/fetch-email-account-details", server:log()[1].path)
    assert.equal(saved.email_account_id, answer.email_account_id)
    assert.falsy(proc.read(path):find("pw-resume-1", 1, true))
  end)

  it("saves when the address is not there yet", function()
    local path = hand_journal("save2.jsonl", {
      { op = "add_smtp_account", target = { email = "resumed@example.org" }, fields = journal.redact(SAVE) },
    })
    in_session({ mode = "resume", resume = path }, function(c) assert(c:add_smtp_account(SAVE)) end)
    assert.same({ "POST /email-accounts/save" }, writes(server:log()))
  end)

  it("does not send again a write it cannot check (reconnect), and says so", function()
    local path = hand_journal("reconnect.jsonl",
      { { op = "reconnect_failed_email_accounts", target = {}, fields = {} } })
    local s = in_session({ mode = "resume", resume = path }, function(c)
      local none, err = c:reconnect_failed_email_accounts()
      assert.is_nil(none)
      assert.equal("RESUME_UNVERIFIED", err.code)
      assert.matches("outcome unknown and not sent again", tostring(err))
    end)
    assert.same({}, writes(server:log()))
    assert.equal(1, s.failed)
  end)

  it("does not apply twice a value the script computes from its own earlier write", function()
    local path = tmp .. "/halve.jsonl"
    local HALVE = function(c)
      local a = assert(c:get_email_account(3002))
      assert(c:update_email_account(3002, { max_email_per_day = a.message_per_day // 2 }))
    end
    in_session({ mode = "journal", journal = path }, HALVE)
    assert.equal(10, server:account(3002).message_per_day)
    server:clear_log()
    in_session({ mode = "resume", resume = path }, HALVE)
    assert.same({}, writes(server:log()))
    assert.equal(10, server:account(3002).message_per_day)
  end)

  ---------------------------------------------------------------------------- SIGKILL

  describe("after SIGKILL", function()
    local KEY = "resume-kill-key-9c2e"
    local N = 200
    local mock, admin, dir

    -- `smartlua mock` as its own process, so its state outlives the clients we kill.
    local function start_mock()
      for _ = 1, 5 do
        local port = math.random(20000, 60000)
        local h = { out = dir .. "/mock.out", rc = dir .. "/mock.rc", pidfile = dir .. "/mock.pid" }
        os.remove(h.rc); os.remove(h.out)
        local inner = ("echo $$ > %s; exec %s mock --port %d"):format(q(h.pidfile), q(proc.BIN), port)
        os.execute(("(env SMARTLEAD_API_KEY=%s sh -c %s >%s 2>&1 </dev/null; echo $? >%s) >/dev/null 2>&1 </dev/null &")
          :format(q(KEY), q(inner), q(h.out), q(h.rc)))
        for _ = 1, 100 do -- up to 5 s
          local url = (proc.read(h.out) or ""):match("mock SmartLead API on (%S+)\n")
          if url then
            h.url, h.pid = url, tonumber((proc.read(h.pidfile) or ""):match("%d+"))
            return h
          end
          if proc.read(h.rc) then break end -- port taken: try another
          proc.nap(0.05)
        end
      end
      error("could not start smartlua mock")
    end

    -- build/smartlua args... in the background; returns {pid=, rc=}.
    local function start_client(name, args)
      local h = { rc = dir .. "/" .. name .. ".rc", pidfile = dir .. "/" .. name .. ".pid",
        err = dir .. "/" .. name .. ".err" }
      local words = {}
      for i, a in ipairs(args) do words[i] = q(a) end
      local inner = ("echo $$ > %s; exec %s %s"):format(q(h.pidfile), q(proc.BIN), table.concat(words, " "))
      os.execute(("(env SMARTLEAD_API_KEY=%s SMARTLEAD_BASE_URL=%s sh -c %s >/dev/null 2>%s </dev/null; echo $? >%s)"
        .. " >/dev/null 2>&1 </dev/null &")
        :format(q(KEY), q(mock.url), q(inner), q(h.err), q(h.rc)))
      for _ = 1, 100 do
        h.pid = tonumber((proc.read(h.pidfile) or ""):match("%d+"))
        if h.pid then return h end
        proc.nap(0.02)
      end
      error("client did not start")
    end

    local function line_count(path)
      local n = 0
      for _ in (proc.read(path) or ""):gmatch("\n") do n = n + 1 end
      return n
    end

    -- Exit code once the client is gone (bounded), killing it first when kill is set.
    local function reap(h, kill)
      if kill then os.execute("kill -9 " .. h.pid .. " 2>/dev/null") end
      for _ = 1, 600 do -- up to 30 s
        local rc = proc.read(h.rc)
        if rc and rc:match("\n") then return tonumber(rc:match("%d+")) end
        proc.nap(0.05)
      end
      os.execute("kill -9 " .. h.pid .. " 2>/dev/null")
      error("client did not exit")
    end

    -- Waits (bounded) until the journal has n lines or the client exited; true when it still runs.
    local function wait_lines(h, path, n)
      for _ = 1, 1500 do -- up to 30 s
        if line_count(path) >= n then return true end
        if proc.read(h.rc) then return false end
        proc.nap(0.02)
      end
      error("journal stuck at " .. line_count(path) .. " lines")
    end

    setup(function()
      dir = tmp .. "/kill"
      os.execute("mkdir -p " .. q(dir))
      math.randomseed(os.time(), tonumber(tostring({}):match("0x(%x+)") or "1", 16))
      mock = start_mock()
      admin = smartlead.client { api_key = KEY, base_url = mock.url:gsub("/api/v1$", "") }
      assert(admin:request("POST", "/__mock/config", { body = { latency_ms = 10 } }))
    end)

    teardown(function()
      if admin then admin:close() end
      if mock and mock.pid then os.execute("kill " .. mock.pid .. " 2>/dev/null") end
      for _ = 1, 100 do
        if not mock or proc.read(mock.rc) then break end
        proc.nap(0.05)
      end
    end)

    it("loses nothing and doubles nothing, killed at 20%, 50% and 90% of the journal", function()
      local script = proc.write(dir .. "/two_hundred.lua", ([[
        -- no client-side rate limit: the mock's latency alone paces the run
        local c = require("smartlead").client { rate = false }
        local list = assert(c:all_accounts())
        table.sort(list, function(a, b) return a.id < b.id end)
        for i = 1, %d do
          assert(c:update_email_account(list[i].id, { max_email_per_day = 500 + list[i].id %% 50 }))
        end
      ]]):format(N))
      local path = dir .. "/kill.jsonl"
      local total = 1 + 2 * N
      local h = start_client("run0", { "--journal", path, script })
      local kills = 0
      for i, share in ipairs { 0.2, 0.5, 0.9 } do
        if wait_lines(h, path, math.floor(total * share)) then
          assert.equal(137, reap(h, true)) -- 128 + SIGKILL
          kills = kills + 1
        else
          assert.equal(0, reap(h))
        end
        h = start_client("run" .. i, { "--resume", path, script })
      end
      assert.equal(0, reap(h), proc.read(h.err))
      assert.equal(3, kills, "the run was too quick to be killed three times")

      -- every account got its write once, or (killed mid-request) twice with the same values
      local log = assert(admin:request("GET", "/__mock/log"))
      local posts = {}
      for _, e in ipairs(log) do
        local id = e.method == "POST" and tonumber(e.path:match("^/api/v1/email%-accounts/(%d+)$"))
        if id then
          posts[id] = posts[id] or {}
          table.insert(posts[id], json.encode(e.body))
        end
      end
      local state = assert(admin:request("GET", "/__mock/state"))
      local ids = {}
      for _, a in ipairs(state.accounts) do
        if a.user_id == 1001 then ids[#ids + 1] = a.id end
      end
      table.sort(ids)
      local byid, twice = {}, 0
      for _, a in ipairs(state.accounts) do byid[a.id] = a end
      for i = 1, N do
        local id = ids[i]
        local sent = posts[id] or {}
        assert.is_true(#sent == 1 or (#sent == 2 and sent[1] == sent[2]),
          ("account %d written %d times"):format(id, #sent))
        if #sent == 2 then twice = twice + 1 end
        assert.equal(500 + id % 50, byid[id].message_per_day)
      end
      assert.is_true(twice <= kills)
      -- and the journal closes every write with an ok result
      local idx = journal.index(records(path))
      assert.equal(N, #idx.order)
      for _, seq in ipairs(idx.order) do assert.equal("ok", idx.by_seq[seq].result.status) end
    end)
  end)
end)
