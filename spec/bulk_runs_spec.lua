-- apply and undo as bulk runs through client:each: writes to different accounts go out together
-- (the mock's log shows them overlapping), those to one account one after another in order (an
-- undo newest first, an apply in the plan's order, a retried write never overtaken), and an undo
-- stopped by Ctrl-C leaves a whole journal and says what it left, which running it again finishes.
local support = require "support"
local json = require "smartlead.json"
local core = require "smartlead.core"
local journal = require "smartlead.journal"
local run = require "smartlead.run"
local apply = require "smartlead.apply"
local proc = require "proc"

local LATENCY = 0.05 -- seconds the mock holds every answer

-- The mock's POSTs to an account, in arrival order.
local function account_posts(log)
  local out = {}
  for _, e in ipairs(log) do
    if e.method == "POST" and e.path:find("^/api/v1/email%-accounts/%d+/?$") then out[#out + 1] = e end
  end
  return out
end

local function intents_of(records)
  local n = 0
  for _, r in ipairs(records) do
    if r.type == "intent" then n = n + 1 end
  end
  return n
end

-- The mock refuses the next POST to account 3002 with a 429 asking for 1 s.
local function refuse_first_write_to_3002(server)
  server:configure { scripted = { { method = "POST", path = "^/email%-accounts/3002/?$", status = 429, times = 1,
    body = '{"message":"Rate limit exceeded"}', headers = { ["Retry-After"] = "1" } } } }
end

-- 3002 was written 7 (refused, then sent again), then 9: 9 is what it holds.
local function landed_7_then_9(server)
  local bodies = {}
  for i, e in ipairs(account_posts(server:log())) do bodies[i] = { e.status, e.body.max_email_per_day } end
  assert.same({ { 429, 7 }, { 200, 7 }, { 200, 9 } }, bodies)
  assert.equal(9, server:account(3002).message_per_day)
end

local function quiet() local lines = {} return lines, function(l) lines[#lines + 1] = l end end

describe("undo as a bulk run", function()
  local tmp, server, client
  support.shared_server(function(s, c) server, client = s, c end)
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)
  after_each(function() core.clear_interrupt() end)

  -- A journaled run over 40 accounts (max_email_per_day 11), then a second write (13) to the
  -- first three. -> ids, the journal's records
  local function forty(path)
    local ids = support.own_ids(server:state(), 40)
    return ids, support.journaled(client, path, function(c)
      local r = c:each(ids, function(id) return c:update_email_account(id, { max_email_per_day = 11 }) end)
      assert.same({}, r.failed)
      for i = 1, 3 do assert(c:update_email_account(ids[i], { max_email_per_day = 13 })) end
    end)
  end

  it("sends the writes to different accounts together, and puts every account back as it was", function()
    local before = support.timeless(server:state())
    local _, records = forty(tmp .. "/forty.jsonl")
    assert.are_not.same(before, support.timeless(server:state()))
    server:clear_log()
    server:configure { latency_ms = LATENCY * 1000 }
    local lines, out = quiet()
    local report = apply.undo(records, { client = client, journal = tmp .. "/forty-undo.jsonl", out = out })
    assert.equal(0, apply.exit_code(report), table.concat(lines, "\n"))
    assert.equal(intents_of(records), report.sent)
    assert.equal(("Undo: %d writes sent, 0 skipped, 0 failed, 0 cannot be undone."):format(report.sent), lines[#lines])
    local writes = account_posts(server:log())
    assert.equal(report.sent, #writes)
    -- one at a time, no two would arrive within LATENCY of each other: the first answer takes that long
    local together = support.busiest_window(writes, LATENCY)
    assert.is_true(together >= 4, together .. " writes at once at the most")
    assert.same(before, support.timeless(server:state()))
  end)

  it("undoes two writes to one account newest first, one after the other: the older before-value wins", function()
    local original = {}
    for _, a in ipairs(server:state().accounts) do original[a.id] = a.message_per_day end
    local ids, records = forty(tmp .. "/twice.jsonl")
    server:clear_log()
    server:configure { latency_ms = LATENCY * 1000 }
    local lines, out = quiet()
    local report = apply.undo(records, { client = client, journal = tmp .. "/twice-undo.jsonl", out = out })
    assert.equal(0, apply.exit_code(report), table.concat(lines, "\n"))
    local writes = account_posts(server:log())
    for i = 1, 3 do
      local id, mine = ids[i], {}
      for _, e in ipairs(writes) do
        if e.path:find("/" .. id .. "/?$") then mine[#mine + 1] = e end
      end
      assert.equal(2, #mine, "account " .. id)
      assert.same({ { max_email_per_day = 11 }, { max_email_per_day = original[id] } }, { mine[1].body, mine[2].body })
      assert.is_true(mine[2].at - mine[1].at >= LATENCY, "the second went out after the first was answered")
      assert.equal(original[id], server:account(id).message_per_day)
    end
  end)

  it("stopped by Ctrl-C, its journal is whole and it says what it left; run again, it finishes", function()
    local before = support.timeless(server:state())
    local path = tmp .. "/stop.jsonl"
    local _, records = forty(path)
    server:configure { latency_ms = LATENCY * 1000 }
    local lines, restored = {}, 0
    local function out(l) -- Ctrl-C once ten accounts are back, while others are in flight
      lines[#lines + 1] = l
      if l:find("^restored ") then restored = restored + 1 end
      if restored == 10 then core.request_interrupt() end
    end
    local undo_journal = tmp .. "/stop-undo.jsonl"
    local report = apply.undo(records, { client = client, journal = undo_journal, out = out, source = path })
    core.clear_interrupt()
    local text = table.concat(lines, "\n")
    assert.equal(4, apply.exit_code(report), text)
    assert.matches("\nstopped: cancelled by Ctrl%-C", text)
    local left = tonumber(text:match("\nnot reached: (%d+) writes of the journal %(#[-#%d, ]+%); run `smartlua undo "
      .. path:gsub("%p", "%%%0") .. "` again to finish"))
    assert.truthy(left, text)
    assert.is_true(left > 0 and left < intents_of(records) - 10, text)
    local idx = journal.index(assert(journal.read(undo_journal)))
    for _, seq in ipairs(idx.order) do assert.truthy(idx.by_seq[seq].result, "journal #" .. seq .. " has no result") end
    assert.are_not.same(before, support.timeless(server:state()))
    lines, out = quiet()
    report = apply.undo(records, { client = client, journal = tmp .. "/stop-undo-2.jsonl", out = out })
    assert.equal(0, apply.exit_code(report), table.concat(lines, "\n"))
    assert.same(before, support.timeless(server:state()))
  end)
end)

describe("apply as a bulk run", function()
  local tmp, server, client
  support.shared_server(function(s, c) server, client = s, c end)
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)
  after_each(function() server:configure { scripted = json.null } end)

  it("a write refused with 429 and sent again is not overtaken by the plan's next write to that account", function()
    local s = run.session { mode = "plan" }
    local previous = client:set_session(s)
    assert(client:update_email_account(3002, { max_email_per_day = 7 }))
    assert(client:update_email_account(3002, { max_email_per_day = 9 }))
    client:set_session(previous)
    refuse_first_write_to_3002(server)
    local lines, out = quiet()
    local report = apply.apply(s.plan, { client = client, journal = tmp .. "/j.jsonl", out = out })
    assert.equal(0, apply.exit_code(report), table.concat(lines, "\n"))
    landed_7_then_9(server)
  end)
end)

describe("writes to one account in a script", function()
  local server, client
  support.shared_server(function(s, c) server, client = s, c end)
  after_each(function() server:configure { scripted = json.null } end)

  it("land in the order made, even when the first is refused with 429 and sent again", function()
    refuse_first_write_to_3002(server)
    -- two items of one each: the second is submitted while the first waits for its retry
    local report = client:each({ 7, 9 }, function(v)
      return client:update_email_account(3002, { max_email_per_day = v })
    end, { progress = false })
    assert.equal(2, report.ok)
    landed_7_then_9(server)
  end)
end)

describe("the progress line", function()
  local tmux = require "tmux"
  local tmp
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  it("gives the ETA the key's budget allows, an hourly cap included, not the pace so far", function()
    -- 3,000 reads at the Standard plan's windows: the first go at 10 a second, but 1,000 an hour
    -- makes the whole about 3 hours, and the line says so from the start; Ctrl-C then stops it
    local script = proc.write(tmp .. "/reads.lua", [[
      local c = require("smartlead").client { rate = "standard" }
      local ids = {}
      for i = 1, 3000 do ids[i] = 3001 + (i - 1) % 260 end
      c:each(ids, function(id) return c:get_email_account(id) end)
    ]])
    local pane = tmux.start(("%s --mock --no-journal %s"):format(proc.q(proc.BIN), proc.q(script)))
    local ok, err = pcall(function()
      local screen = pane:wait_for("each %d+/3000 .-ETA 2h5%dm", 15)
      assert.truthy(screen:match("each (%d+)/3000"), screen)
      pane:key("C-c")
      screen = pane:wait_for("%[exited %d+%]", 15)
      assert.truthy(screen:find("[exited 130]", 1, true), screen)
    end)
    pane:kill()
    assert(ok, err)
  end)
end)
