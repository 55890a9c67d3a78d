-- The write journal: records, redaction, a reader that survives a kill mid-write, file modes,
-- the default path, what a journaled run writes, and undo restoring the fixture exactly.
local journal = require "smartlead.journal"
local json = require "smartlead.json"
local support = require "support"
local proc = require "proc"
local apply = require "smartlead.apply"

local q = proc.q

local function mode_of(path)
  local p = assert(io.popen("stat -c %a " .. q(path)))
  local m = p:read("l")
  p:close()
  return m
end

local function lines_of(path)
  local out = {}
  for l in (proc.read(path) or ""):gmatch("[^\n]+") do out[#out + 1] = json.decode(l) end
  return out
end

local timeless = support.timeless

describe("journal", function()
  local tmp
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  describe("redaction", function()
    it("replaces passwords and tokens at any depth, keeps arrays arrays and the rest as is", function()
      local r = journal.redact { from_email = "a@b.co", password = "pw1", imap_password = "pw2",
        token = { access_token = "x", refresh_token = "y" }, ids = json.array { 1, 2 }, nested = { api_key = "k" } }
      assert.same({ from_email = "a@b.co", password = "***", imap_password = "***", token = "***",
        ids = { 1, 2 }, nested = { api_key = "***" } }, r)
      assert.is_true(json.is_array(r.ids))
      assert.is_true(journal.has_redacted(r))
      assert.is_false(journal.has_redacted { from_email = "a@b.co" })
    end)
  end)

  describe("reading", function()
    local INTENT =
      '{"type":"intent","seq":1,"op":"update_email_account","target":{"account":3002},"fields":{"max_email_per_day":5}}'
    local RESULT = '{"type":"result","seq":1,"status":"ok","answer":{"ok":true}}'

    it("pairs intents with results", function()
      local idx = journal.index(assert(journal.parse(INTENT .. "\n" .. RESULT .. "\n")))
      assert.same({ 1 }, idx.order)
      assert.equal("ok", idx.by_seq[1].result.status)
      assert.equal(1, idx.max_seq)
    end)

    it("drops a last line cut short by a kill, whether or not it parses", function()
      for _, cut in ipairs { RESULT:sub(1, 20), RESULT } do
        local records = assert(journal.parse(INTENT .. "\n" .. cut))
        assert.equal(1, #records)
        assert.is_nil(journal.index(records).by_seq[1].result)
      end
    end)

    it("refuses a bad line in the middle", function()
      local records, err = journal.parse(INTENT .. "\n{broken\n" .. RESULT .. "\n")
      assert.is_nil(records)
      assert.matches("line 2", err)
    end)

    it("repair rewrites the file without the cut line, so appends start on a clean line", function()
      local path = proc.write(tmp .. "/cut.jsonl", INTENT .. "\n" .. RESULT:sub(1, 30))
      assert(journal.repair(path))
      assert.equal(json.encode(json.decode(INTENT)) .. "\n", proc.read(path))
      local j = assert(journal.open(path))
      j:append { type = "result", seq = 1, status = "ok" }
      j:close()
      local records = assert(journal.read(path))
      assert.equal(2, #records)
      assert.equal("0600", "0" .. mode_of(path))
    end)
  end)

  describe("files", function()
    it("creates missing directories 0700 and the journal 0600, and flushes each record", function()
      local path = tmp .. "/state/a/b/j.jsonl"
      local j = assert(journal.open(path, { create_dirs = true }))
      j:begin("journal")
      local seq = j:intent { op = "add_smtp_account", target = { email = "x@y.co" },
        fields = { password = "secret-pw" } }
      -- flushed per record: readable before close
      local records = assert(journal.read(path))
      assert.equal(2, #records)
      assert.equal("***", records[2].fields.password)
      j:result(seq, false, { kind = "http", status = 400, message = "no" })
      j:close()
      assert.equal("700", mode_of(tmp .. "/state/a"))
      assert.equal("700", mode_of(tmp .. "/state/a/b"))
      assert.equal("600", mode_of(path))
      assert.falsy(proc.read(path):find("secret-pw", 1, true))
    end)

    it("continues the numbering of an existing journal, and refuses a file that is not one", function()
      local path = tmp .. "/twice.jsonl"
      for round = 1, 2 do
        local j = assert(journal.open(path))
        j:begin("journal")
        assert.equal(round * 2 - 1, j:intent { op = "reconnect_failed_email_accounts", target = {}, fields = {} })
        assert.equal(round * 2, j:intent { op = "reconnect_failed_email_accounts", target = {}, fields = {} })
        j:close()
      end
      assert.same({ 1, 2, 3, 4 }, journal.index(assert(journal.read(path))).order)
      local other = proc.write(tmp .. "/notes.txt", "shopping list\nmilk\n")
      local j, err = journal.open(other)
      assert.is_nil(j)
      assert.matches("line 1 is not a journal record", err)
    end)

    it("refuses a symbolic link, to append to and to read, and leaves its target alone", function()
      local target = proc.write(tmp .. "/target.txt", "not yours\n")
      local link = tmp .. "/link.jsonl"
      assert(os.execute(("ln -sf target.txt %s"):format(q(link))))
      local j, err = journal.open(link, { create_dirs = true })
      assert.is_nil(j)
      assert.equal(link .. " is a symbolic link; refusing to write through it", err)
      local records, rerr = journal.read(link)
      assert.is_nil(records)
      assert.equal(link .. " is a symbolic link; refusing to read through it", rerr)
      assert.equal("not yours\n", proc.read(target))
      local r = proc.smartlua({ "undo", link }, "env -u SMARTLEAD_API_KEY")
      assert.equal(1, r.code)
      assert.same({ "smartlua: undo: " .. link .. " is a symbolic link; refusing to read through it" }, r.errlines)
    end)

    it("tightens an existing journal others could read to 0600, and says so", function()
      local said, stderr = {}, io.stderr
      local function open(path)
        io.stderr = { write = function(self, s) said[#said + 1] = s return self end } -- luacheck: ignore 122
        local ok, j = pcall(journal.open, path)
        io.stderr = stderr -- luacheck: ignore 122
        assert(ok, j)
        assert(j):close()
      end
      local path = proc.write(tmp .. "/wide.jsonl", '{"type":"begin","journal":1,"mode":"journal","pid":1}\n')
      assert(os.execute("chmod 644 " .. q(path)))
      open(path)
      assert.equal("600", mode_of(path))
      -- cut short by a kill: the repair rewrites it 0600 before the append opens it; said all the same
      proc.write(path, '{"type":"begin","journal":1,"mode":"journal","pid":1}\n{"type":"beg')
      assert(os.execute("chmod 664 " .. q(path)))
      open(path)
      assert.equal("600", mode_of(path))
      assert.same({ ("smartlua: journal: %s had mode 0644; tightened to 0600\n"):format(path),
        ("smartlua: journal: %s had mode 0664; tightened to 0600\n"):format(path) }, said)
      open(path)
      assert.equal(2, #said)
    end)

    it("defaults to $XDG_STATE_HOME/smartlua/journal/<UTC time>-<pid>.jsonl", function()
      local r = proc.smartlua({ "-e", [[print(require("smartlead.journal").default_path())]] },
        "env XDG_STATE_HOME=" .. q(tmp .. "/xdg"))
      assert.equal(0, r.code)
      assert.matches("^" .. (tmp .. "/xdg"):gsub("%p", "%%%0")
        .. "/smartlua/journal/%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ%-%d+%.jsonl$",
        r.lines[1])
      r = proc.smartlua({ "-e", [[print(require("smartlead.journal").default_path())]] },
        "env -u XDG_STATE_HOME HOME=" .. q(tmp .. "/home"))
      assert.matches("^" .. (tmp .. "/home"):gsub("%p", "%%%0") .. "/%.local/state/smartlua/journal/", r.lines[1])
    end)
  end)

  describe("a journaled run of build/smartlua", function()
    local server
    support.shared_server(function(s) server = s end)

    local function env(extra)
      return ("env SMARTLEAD_API_KEY=%s SMARTLEAD_BASE_URL=%s XDG_STATE_HOME=%s %s"):format(
        q(support.KEY), q(server:url()), q(tmp .. "/xdg"), extra or "")
    end

    local SCRIPT = [[
      local c = require("smartlead").client()
      assert(c:update_email_account(3002, { max_email_per_day = 17 }))
      assert(c:add_smtp_account { from_name = "New One", from_email = "new.one@example.org",
        user_name = "new.one@example.org", password = "Secret-PW-1", smtp_host = "smtp.example.org",
        smtp_port = 587, imap_host = "imap.example.org", imap_port = 993, warmup_enabled = false })
      local r, err = c:update_email_account(3002, { max_email_per_day = -1 })
      assert(not r and err.kind == "validation")
    ]]

    it("writes an intent before and a result after each write, before-values included, no secret", function()
      local script = proc.write(tmp .. "/journaled.lua", SCRIPT)
      local path = tmp .. "/run.jsonl"
      local r = proc.sh(env() .. " " .. q(proc.BIN) .. " --journal " .. q(path) .. " " .. q(script))
      assert.equal(4, r.code, r.err) -- one write refused before sending: counted, not journaled
      assert.equal("smartlua: journal: " .. path .. " (3 writes: 2 sent, 1 refused before sending)",
        r.errlines[#r.errlines])
      local recs = lines_of(path)
      assert.equal("begin", recs[1].type)
      assert.same({ type = "intent", seq = 1, op = "update_email_account", kind = "set", method = "POST",
        path = "/email-accounts/3002", target = { account = 3002 },
        fields = { max_email_per_day = 17 }, before = { max_email_per_day = 20 },
        email = "umar.baker@fastpipeline.co" },
        (function() recs[2].time = nil return recs[2] end)())
      assert.same({ "result", 1, "ok", 3002 },
        { recs[3].type, recs[3].seq, recs[3].status, recs[3].answer.email_account_id })
      assert.same({ "intent", 2, "add_smtp_account", "***" },
        { recs[4].type, recs[4].seq, recs[4].op, recs[4].fields.password })
      assert.same({ email = "new.one@example.org" }, recs[4].target)
      assert.equal("ok", recs[5].status)
      assert.same({ type = "end", ok = true, sent = 2, failed = 0, refused = 1, already = 0 },
        (function() recs[6].time = nil return recs[6] end)()) -- the run ended: what it did
      assert.equal(6, #recs) -- the refused write's fields (a typo'd password, say) never reach the file
      assert.falsy(proc.read(path):find("Secret-PW-1", 1, true))
      assert.equal("600", mode_of(path))
    end)

    it("refuses --journal LINK: exit 1, the message on stderr, nothing sent, the link's target untouched", function()
      local script = proc.write(tmp .. "/journaled-link.lua", SCRIPT)
      local target = proc.write(tmp .. "/precious.txt", "keep me\n")
      local link = tmp .. "/run-link.jsonl"
      assert(os.execute(("ln -sf %s %s"):format(q(target), q(link))))
      local r = proc.sh(env() .. " " .. q(proc.BIN) .. " --journal " .. q(link) .. " " .. q(script))
      assert.equal(1, r.code)
      assert.truthy(r.err:find("the run stopped: cannot write the journal " .. link .. ": " .. link
        .. " is a symbolic link; refusing to write through it", 1, true), r.err)
      assert.equal("keep me\n", proc.read(target))
      assert.equal(20, server:account(3002).message_per_day)
      for _, req in ipairs(support.requests(server)) do assert.equal("GET", req.method) end -- the before-read only
    end)

    it("tightens an existing 0644 --journal to 0600, says so on stderr, and records the process's pid", function()
      local script = proc.write(tmp .. "/journaled-wide.lua", SCRIPT)
      local path = proc.write(tmp .. "/wide-run.jsonl", "")
      assert(os.execute("chmod 644 " .. q(path)))
      local cmd = "echo $$; exec " .. env() .. " " .. q(proc.BIN) .. " --journal " .. q(path) .. " " .. q(script)
      local r = proc.sh("sh -c " .. q(cmd))
      assert.equal(4, r.code, r.err)
      assert.equal("smartlua: journal: " .. path .. " had mode 0644; tightened to 0600", r.errlines[1])
      assert.equal("600", mode_of(path))
      local recs = lines_of(path)
      assert.equal("begin", recs[1].type)
      assert.equal(math.tointeger(tonumber(r.lines[1])), recs[1].pid)
    end)

    it("goes to the default path when no --journal is given, and only when something was written", function()
      local script = proc.write(tmp .. "/journaled2.lua", SCRIPT)
      local xdg = tmp .. "/xdg"
      os.execute("rm -rf " .. q(xdg))
      local r = proc.sh(env() .. " " .. q(proc.BIN) .. " " .. q(script))
      assert.equal(4, r.code)
      local path = r.errlines[#r.errlines]:match("^smartlua: journal: (%S+)")
      assert.matches("^" .. xdg:gsub("%p", "%%%0") .. "/smartlua/journal/.*%.jsonl$", path)
      assert.equal("700", mode_of(xdg .. "/smartlua/journal"))
      assert.equal("600", mode_of(path))
      os.execute("rm -rf " .. q(xdg))
      r = proc.sh(env() .. " " .. q(proc.BIN) .. " -e "
        .. q("assert(require('smartlead').client():get_email_account(3001))"))
      assert.equal(0, r.code, r.err)
      assert.equal("", r.err)
      assert.is_false(proc.exists(xdg .. "/smartlua"))
    end)
  end)

  describe("undo", function()
    local server, client
    support.shared_server(function(s, c) server, client = s, c end)

    local function journaled(path, fn) return support.journaled(client, path, fn) end

    local function quiet() local lines = {} return lines, function(l) lines[#lines + 1] = l end end

    it("restores the fixture exactly: updates, warmup, attach and detach, newest first", function()
      local before = timeless(server:state())
      local path = tmp .. "/undo-me.jsonl"
      local records = journaled(path, function(c)
        assert(c:update_email_account(3002,
          { max_email_per_day = 17, from_name = "Changed", custom_tracking_url = "t.example.com" }))
        assert(c:update_email_account(3002, { max_email_per_day = 15, bcc = "copy@example.com" }))
        assert(c:update_email_account(3007, { time_to_wait_in_mins = 9, client_id = json.null, is_suspended = true }))
        assert(c:update_warmup(3001, { warmup_enabled = false, total_warmup_per_day = 7, reply_rate_percentage = 12 }))
        assert(c:add_campaign_email_accounts(4104, { 3003, 3005 }))
        assert(c:remove_campaign_email_accounts(4101, { 3002 }))
      end)
      assert.are_not.same(before, timeless(server:state()))
      local lines, out = quiet()
      local report = apply.undo(records, { client = client, journal = tmp .. "/undo-journal.jsonl", out = out })
      assert.equal(0, apply.exit_code(report), table.concat(lines, "\n"))
      assert.same(before, timeless(server:state()))
      -- its own journal, each write pointing back at what it undid
      local undo_records = lines_of(tmp .. "/undo-journal.jsonl")
      assert.equal("undo", undo_records[1].mode)
      local undone, at = {}, {}
      for _, r in ipairs(undo_records) do
        if r.type == "intent" then undone[#undone + 1], at[r.undo_of] = r.undo_of, #undone + 1 end
      end
      assert.is_true(at[2] < at[1], "the two writes to 3002 are undone newest first") -- the others concurrently
      table.sort(undone)
      assert.same({ 1, 2, 3, 4, 5, 6 }, undone)
      -- a second undo has nothing left to do
      lines, out = quiet()
      report = apply.undo(records, { client = client, journal = tmp .. "/undo-again.jsonl", out = out })
      assert.equal(0, report.sent)
      assert.equal(0, apply.exit_code(report), table.concat(lines, "\n"))
      assert.same({ "Already undone: every write of the journal is as it was before; nothing was sent." }, lines)
      assert.same(before, timeless(server:state()))
    end)

    it("reports saves as not undoable and skips accounts changed since", function()
      local path = tmp .. "/undo-save.jsonl"
      local records = journaled(path, function(c)
        assert(c:update_email_account(3005, { max_email_per_day = 11 }))
        assert(c:add_smtp_account { from_name = "Kept", from_email = "kept@example.org", user_name = "kept@example.org",
          password = "pw-kept", smtp_host = "smtp.example.org", smtp_port = 587, imap_host = "imap.example.org",
          imap_port = 993, warmup_enabled = false })
      end)
      assert(client:update_email_account(3005, { max_email_per_day = 12 })) -- someone else, later
      local lines, out = quiet()
      local report = apply.undo(records, { client = client, journal = tmp .. "/undo-save-j.jsonl", out = out })
      assert.equal(4, apply.exit_code(report))
      assert.equal(0, report.sent)
      local id = server:state().accounts[#server:state().accounts].id
      assert.same({
        ("cannot undo journal #2: add_smtp_account created kept@example.org (account %d); "
          .. "remove it in SmartLead if it was wrong"):format(id),
        "skipped 3005 " .. server:account(3005).from_email
          .. " (journal #1): changed since; not overwriting (max_email_per_day 12 -> "
          .. records[2].before.max_email_per_day .. ")",
        "Undo: 0 writes sent, 1 skipped, 0 failed, 1 cannot be undone.",
      }, lines)
      assert.equal(12, server:account(3005).message_per_day)
    end)

    it("`smartlua undo JOURNAL` runs the same from the command line", function()
      local path = tmp .. "/cli-undo.jsonl"
      local before = timeless(server:state())
      journaled(path, function(c) assert(c:update_email_account(3002, { max_email_per_day = 33 })) end)
      local r = proc.sh(("env SMARTLEAD_API_KEY=%s SMARTLEAD_BASE_URL=%s %s undo --journal %s %s"):format(
        q(support.KEY), q(server:url()), q(proc.BIN), q(tmp .. "/cli-undo-j.jsonl"), q(path)))
      assert.equal(0, r.code, r.err)
      assert.same({ "restored 3002 umar.baker@fastpipeline.co: max_email_per_day 33 -> 20",
        "Undo: 1 write sent, 0 skipped, 0 failed, 0 cannot be undone." }, r.lines)
      assert.same({ "smartlua: journal: " .. tmp .. "/cli-undo-j.jsonl" }, r.errlines)
      assert.same(before, timeless(server:state()))
    end)
  end)
end)
