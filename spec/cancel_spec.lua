-- Ctrl-C cancellation: while core.request_interrupt()'s flag is set (the REPL's SIGINT handler
-- sets it), the engine aborts every queued and running transfer within about 0.2 s, each call
-- fails with err.kind "cancelled", and client:each stops starting items. Only the caller clears
-- the flag (core.clear_interrupt), after which everything works as before. A delayed
-- request_interrupt(seconds) stands in for a Ctrl-C pressed while a call blocks.
local support = require "support"
local core = require "smartlead.core"
local tasks = require "smartlead.tasks"

local LATENCY_MS = 1500 -- far longer than any cancelled call may take
local SLACK = tonumber(os.getenv("SMARTLUA_SPEC_TIMING_SLACK")) or 0.05

local function own_ids(server, n) return support.own_ids(server:state(), n) end

local function timed(fn)
  local t0 = core.monotime()
  local a, b = fn()
  return core.monotime() - t0, a, b
end

describe("Ctrl-C cancellation", function()
  local server, client

  support.shared_server(function(s, c) server, client = s, c end)
  after_each(function() core.clear_interrupt() end)

  local function assert_engine_idle()
    local st = core.engine_status()
    assert.equal(0, st.queued)
    assert.equal(0, st.running)
  end

  it("fails a call made while the flag is set at once, without sending it", function()
    server:configure { latency_ms = LATENCY_MS }
    core.request_interrupt()
    assert.is_true(core.interrupt_pending())
    local elapsed, res, err = timed(function() return client:get_email_account(3001) end)
    assert.is_nil(res)
    assert.equal("smartlead.Error", getmetatable(err).__name)
    assert.equal("cancelled", err.kind)
    assert.equal("CANCELLED", err.code)
    assert.equal("cancelled by Ctrl-C; the request was not sent", err.message)
    assert.equal("GET", err.method)
    assert.equal("/email-accounts/3001/", err.path)
    assert.is_nil(err.ambiguous)
    assert.equal(0, err.attempts)
    assert.is_true(elapsed < 0.2 + SLACK, "took " .. elapsed)
    assert.same({}, support.requests(server))
    assert.is_true(core.interrupt_pending()) -- the engine never clears it
    assert_engine_idle()
  end)

  it("aborts a blocking call in flight within about 0.2 s", function()
    server:configure { latency_ms = LATENCY_MS }
    core.request_interrupt(0.3)
    local elapsed, res, err = timed(function() return client:get_email_account(3001) end)
    assert.is_nil(res)
    assert.equal("cancelled", err.kind)
    assert.equal("cancelled by Ctrl-C; the request was aborted", err.message)
    assert.equal("cancelled CANCELLED error: cancelled by Ctrl-C; the request was aborted (GET /email-accounts/3001/)",
      tostring(err))
    assert.is_nil(err.ambiguous) -- a read
    assert.equal(1, err.attempts)
    assert.is_true(elapsed >= 0.3 and elapsed < 0.3 + 0.2 + 0.3 + SLACK, "took " .. elapsed)
    assert.equal(1, #support.requests(server))
    assert_engine_idle()
  end)

  it("reports a write aborted in flight as ambiguous, and one never sent as not", function()
    server:configure { latency_ms = LATENCY_MS }
    core.request_interrupt(0.2)
    local _, err = client:update_email_account(3001, { max_email_per_day = 33 })
    assert.equal("cancelled", err.kind)
    assert.is_true(err.ambiguous)
    assert.truthy(err.message:find("may have been applied", 1, true))
    local _, unsent = client:update_email_account(3001, { max_email_per_day = 34 })
    assert.equal("cancelled", unsent.kind)
    assert.is_nil(unsent.ambiguous)
    assert.equal(1, #support.requests(server))
  end)

  it("resumes scheduled coroutines waiting on cancelled transfers with the error", function()
    server:configure { latency_ms = LATENCY_MS }
    local ids = own_ids(server, 3)
    local list = {}
    for i, id in ipairs(ids) do list[i] = tasks.spawn(function() return client:get_email_account(id) end) end
    core.request_interrupt(0.3)
    local elapsed = timed(function() tasks.wait(list) end)
    assert.is_true(elapsed < 0.3 + 0.2 + 0.3 + SLACK, "took " .. elapsed)
    for _, t in ipairs(list) do
      assert.is_true(t.ok)
      assert.is_nil(t.results[1])
      assert.equal("cancelled", t.results[2].kind)
    end
    assert_engine_idle()
  end)

  it("stops client:each from starting items and raises cancelled once in-flight ones resolve", function()
    server:configure { latency_ms = 200 }
    local ids = own_ids(server, 20)
    assert.equal(20, #ids)
    local seen = 0
    local elapsed, ok, err = timed(function()
      return pcall(client.each, client, ids, function(id)
        local res, e = client:get_email_account(id)
        seen = seen + 1
        if seen == 3 then core.request_interrupt() end
        return res, e
      end, { concurrency = 4, progress = false })
    end)
    assert.is_false(ok)
    assert.equal("cancelled", err.kind)
    assert.truthy(tostring(err):find("cancelled by Ctrl-C", 1, true))
    local report = err.report
    assert.equal(20, report.total)
    assert.is_true(report.ok >= 3)
    for _, f in ipairs(report.failed) do assert.equal("cancelled", f.error.kind) end
    assert.is_true(report.ok + #report.failed < 20)
    assert.is_true(#support.requests(server) < 20)
    assert.is_true(elapsed < 20 * 0.2 / 4, "took " .. elapsed)
    assert_engine_idle()
  end)

  it("works normally again after core.clear_interrupt()", function()
    core.request_interrupt()
    assert.equal("cancelled", select(2, client:get_email_account(3001)).kind)
    core.clear_interrupt()
    assert.is_false(core.interrupt_pending())
    server:configure { latency_ms = 50 }
    local acc = assert(client:get_email_account(3001))
    assert.equal(3001, acc.id)
    local report = client:each(own_ids(server, 5), function(id) return client:get_email_account(id) end,
      { progress = false })
    assert.same({ total = 5, ok = 5, failed = {} }, report)
    assert_engine_idle()
  end)

  -- The REPL's Ctrl-C hook can stop the driver right after the engine handed coroutines back:
  -- they are dropped unresumed, and their transfers must go with them (the valgrind pass checks).
  it("frees the transfer of a coroutine dropped without being resumed", function()
    server:configure { latency_ms = LATENCY_MS }
    do
      local co = coroutine.create(function() return client:get_email_account(3001) end)
      core.schedule(co)
      assert(coroutine.resume(co))
      core.request_interrupt()
      local handed = core.engine_pump(0)
      assert.equal(1, #handed)
      assert.equal(co, handed[1])
    end
    collectgarbage()
    collectgarbage()
    assert_engine_idle()
  end)

  it("a delayed interrupt that fires with nothing in flight still fails the next call", function()
    core.request_interrupt(0.05)
    os.execute("sleep 0.1")
    assert.is_true(core.interrupt_pending())
    assert.equal("cancelled", select(2, client:get_email_account(3001)).kind)
  end)
end)
