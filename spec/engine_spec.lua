-- The HTTP engine: concurrency, the per-key rate limiter, 429 handling, retries, safe saves,
-- client:each and the prefetching pager. Rates are measured from the times the mock received
-- the requests (its log), never by timing the spec itself.
local support = require "support"
local smartlead = require "smartlead"
local mock_server = require "smartlead.mock.server"
local core = require "smartlead.core"

-- Own, distinct account ids from the fixtures (3017 and a few others belong to another user).
local function own_ids(server, n) return support.own_ids(server:state(), n) end

local TIMING_SLACK = support.TIMING_SLACK

local busiest_window = support.busiest_window

describe("engine", function()
  local server, client
  support.shared_server(function(s, c) server, client = s, c end)

  describe("client:each", function()
    it("runs every item and reports each failure with its item, without stopping the others", function()
      local items = { 3001, 3002, "boom", 999999, 3003, -4 }
      local report = client:each(items, function(x)
        if x == "boom" then error("item failed on purpose") end
        return client:get_email_account(x)
      end, { concurrency = 3, progress = false })
      assert.equal(6, report.total)
      assert.equal(3, report.ok)
      assert.equal(3, #report.failed)
      assert.same({ 3, 4, 6 }, { report.failed[1].index, report.failed[2].index, report.failed[3].index })
      assert.matches("item failed on purpose", tostring(report.failed[1].error))
      assert.equal(404, report.failed[2].error.status)
      assert.equal("validation", report.failed[3].error.kind)
      local gets = 0
      for _, e in ipairs(server:log()) do gets = gets + (e.method == "GET" and 1 or 0) end
      assert.equal(4, gets) -- 3001, 3002, 999999, 3003; the bad id never left the client
    end)

    it("keeps up to `concurrency` requests in flight at once", function()
      server:configure { latency_ms = 150 }
      local ids = own_ids(server, 12)
      local report = client:each(ids, function(id) return client:get_email_account(id) end,
                                 { concurrency = 4, progress = false })
      assert.equal(12, report.ok)
      -- With 150 ms per answer and 4 in flight, requests arrive in groups of 4.
      local log = server:log()
      assert.equal(12, #log)
      assert.equal(4, busiest_window(log, 0.1))
    end)

    it("never runs two writes to the same account at once", function()
      server:configure { latency_ms = 100 }
      local items = { 3002, 3002, 3002, 3004 }
      local report = client:each(items, function(id)
        return client:update_email_account(id, { max_email_per_day = 20 })
      end, { concurrency = 4, progress = false })
      assert.equal(4, report.ok)
      local same = {}
      for _, e in ipairs(server:log()) do
        if e.path == "/api/v1/email-accounts/3002" then same[#same + 1] = e.at end
      end
      assert.equal(3, #same)
      table.sort(same)
      for i = 2, 3 do assert.is_true(same[i] - same[i - 1] >= 0.09, "writes to 3002 overlapped") end
    end)

    it("refuses misuse", function()
      assert.has_error(function() client:each("x", print) end, "each: items must be a list, got string")
      assert.has_error(function() client:each({}, 5) end, "each: fn must be a function, got number")
      assert.has_error(function() client:each({}, print, { concurrency = 0 }) end,
                       "each: concurrency must be an integer from 1 to 64")
    end)
  end)

  describe("the rate limiter", function()
    it("holds a configured rate: never more than N requests in any window", function()
      local paced = server:client { rate = { requests = 5, per = 1 } }
      local ids = own_ids(server, 16)
      local report = paced:each(ids, function(id) return paced:get_email_account(id) end, { progress = false })
      assert.equal(16, report.ok)
      local log = server:log()
      assert.equal(16, #log)
      -- the log has arrival times: a slow machine (valgrind) delays some arrivals after the
      -- client started them on time, so the windows shrink by that slack
      assert.is_true(busiest_window(log, 1.0 - TIMING_SLACK) <= 5, "more than 5 requests in one second")
      -- 16 requests at 5 per second cannot arrive in less than 3 windows
      assert.is_true(log[16].at - log[1].at >= 3.0 - TIMING_SLACK)
      paced:reset_rate_state()
      paced:close()
    end)

    it("follows x-ratelimit-remaining: no 429 reaches the server when it announces its window", function()
      server:configure { rate_limit = { requests = 4, per = 1 } }
      local ids = own_ids(server, 10)
      local report = client:each(ids, function(id) return client:get_email_account(id) end, { progress = false })
      assert.equal(10, report.ok)
      local refused = 0
      for _, e in ipairs(server:log()) do refused = refused + (e.status == 429 and 1 or 0) end
      -- the first requests go out before any answer announced the window; after that, none
      assert.is_true(refused <= 4, ("%d requests were refused"):format(refused))
    end)

    it("retries 429s with Retry-After and pauses every worker, so the script sees none", function()
      server:configure { faults = { seed = 7, p429 = 0.2 } }
      local ids = own_ids(server, 12)
      local report = client:each(ids, function(id)
        return client:update_email_account(id, { max_email_per_day = 31 })
      end, { progress = false })
      assert.equal(12, report.ok)
      local log, refused, applied = server:log(), 0, {}
      for _, e in ipairs(server:log()) do
        if e.status == 429 then refused = refused + 1 end
        if e.status == 200 then applied[e.path] = (applied[e.path] or 0) + 1 end
      end
      assert.is_true(refused > 0, "the fault knob produced no 429")
      for _, id in ipairs(ids) do
        assert.equal(1, applied["/api/v1/email-accounts/" .. id], "account " .. id)
        assert.equal(31, server:account(id).message_per_day)
      end
      assert.is_true(#log == 12 + refused)
    end)

    it("retries 429s without Retry-After by backing off", function()
      server:configure { rate_limit = { requests = 2, per = 1, retry_after = false } }
      local burst = server:client { rate = false, concurrency = 6 }
      local ids = own_ids(server, 6)
      local report = burst:each(ids, function(id) return burst:get_warmup_stats(id) end, { progress = false })
      assert.equal(6, report.ok)
      local refused = 0
      for _, e in ipairs(server:log()) do refused = refused + (e.status == 429 and 1 or 0) end
      assert.is_true(refused >= 1)
      burst:reset_rate_state()
      burst:close()
    end)

    it("pauses the key after a 429 even when the call that met it does not retry", function()
      server:configure { faults = { seed = 1, p429 = 1 } } -- no x-ratelimit headers; retry_after 1 s
      local once = server:client { max_retries = 0 }
      local ids = own_ids(server, 2)
      local _, err = once:get_email_account(ids[1])
      assert.equal(429, err.status) -- no retries: the caller sees it
      _, err = once:get_email_account(ids[2])
      assert.equal(429, err.status)
      local log = server:log()
      assert.equal(2, #log)
      assert.is_true(log[2].at - log[1].at >= 1 - TIMING_SLACK, "the next request did not wait out the pause")
      once:reset_rate_state()
      once:close()
    end)

    it("counts a wait the server asks for against max_wait: beyond it, the call fails unsent", function()
      server:configure { rate_limit = { requests = 1, per = 30 } }
      local hurried = server:client { max_wait = 2 }
      local ids = own_ids(server, 2)
      assert.truthy(hurried:get_email_account(ids[1])) -- nothing remains for 30 s
      local t0 = core.monotime()
      local res, err = hurried:get_email_account(ids[2])
      local seconds = core.monotime() - t0
      hurried:reset_rate_state()
      hurried:close()
      assert.is_nil(res)
      assert.is_true(seconds < 1.5, ("the call waited %.1fs"):format(seconds))
      assert.equal("rate_limit", err.kind)
      assert.is_true(err.retry_after > 25 and err.retry_after <= 31, "retry_after " .. tostring(err.retry_after))
      assert.equal(1, #server:log())
    end)

    it("gives up after max_retries and says how many attempts it made", function()
      server:configure { faults = { seed = 1, p5xx = 1 } }
      local impatient = server:client { max_retries = 2 }
      local res, err = impatient:get_email_account(3001)
      assert.is_nil(res)
      assert.equal(3, err.attempts)
      assert.equal(3, #server:log())
      impatient:close()
    end)
  end)

  describe("retries", function()
    it("retries a read through dropped connections and 5xx, reaching the same answer", function()
      server:configure { faults = { seed = 3, p5xx = 0.2, drop = 0.1 } }
      local report = client:each(own_ids(server, 30), function(id) return client:get_email_account(id) end,
                                 { progress = false })
      assert.equal(30, report.ok)
      assert.is_true(#server:log() > 30)
    end)

    it("does not repeat a save blindly: a dropped answer is confirmed by address, never saved twice", function()
      server:configure { faults = { seed = 11, drop_after = 1 } }
      local fields = {
        from_name = "Once Only", from_email = "once@only-one.io", user_name = "once@only-one.io",
        password = "pw-once-123", smtp_host = "smtp.only-one.io", smtp_port = 587,
        imap_host = "imap.only-one.io", imap_port = 993, warmup_enabled = false,
      }
      local res = client:add_smtp_account(fields)
      server:configure { faults = smartlead.null }
      assert.is_nil(res) -- the lookup by address was dropped too: we cannot tell, so we say so
      server:configure { faults = { seed = 11, drop_after = 0.5 } }
      local saves = 0
      for i = 1, 10 do
        local f = {}
        for k, v in pairs(fields) do f[k] = v end
        f.from_email, f.user_name = ("once%d@only-one.io"):format(i), ("once%d@only-one.io"):format(i)
        local r = client:add_smtp_account(f)
        if r then saves = saves + 1 end
      end
      server:configure { faults = smartlead.null }
      local per_address = {}
      for _, a in ipairs(server:state().accounts) do
        per_address[a.from_email] = (per_address[a.from_email] or 0) + 1
      end
      for addr, n in pairs(per_address) do assert.equal(1, n, addr) end
      assert.is_true(saves >= 5, "too few saves confirmed: " .. saves)
      -- every confirmed save exists, and none exists twice
      for i = 1, 10 do
        local addr = ("once%d@only-one.io"):format(i)
        assert.is_true((per_address[addr] or 0) <= 1)
      end
    end)

    it("marks a write that may have happened as ambiguous", function()
      server:configure { faults = { seed = 1, drop_after = 1 } }
      local once = server:client { max_retries = 0 }
      local _, err = once:update_email_account(3002, { max_email_per_day = 12 })
      assert.is_true(err.ambiguous)
      assert.equal(12, server:account(3002).message_per_day) -- it did happen
      local _, read_err = once:get_email_account(3002)
      assert.is_nil(read_err.ambiguous) -- a read changes nothing
      once:close()
    end)
  end)

  describe("the pager", function()
    it("fetches ahead with a growing window and stops at the first short page", function()
      local big = mock_server.start { api_key = support.KEY, extra_accounts = 940 } -- 1,200 own accounts
      local c = big:client { concurrency = 4 }
      local seen, n = {}, 0
      for a in c:accounts() do
        assert.is_nil(seen[a.id])
        seen[a.id], n = true, n + 1
      end
      assert.equal(1200, n)
      local offsets = {}
      for _, e in ipairs(big:log()) do offsets[#offsets + 1] = tonumber(e.query.offset) end
      table.sort(offsets)
      -- 12 full pages and the empty 13th; a few requests past the end at most
      assert.is_true(#offsets >= 13 and #offsets <= 13 + 3, "requests: " .. #offsets)
      for i = 1, 13 do assert.equal((i - 1) * 100, offsets[i]) end
      c:close()
      big:stop()
    end)

    it("costs at most its first wave (FIRST_PAGES requests, sent at once) for a fleet of one page", function()
      local n = 0
      for _ in client:accounts { esp = "OUTLOOK", client_id = 11 } do n = n + 1 end
      assert.is_true(n > 0 and n < 100)
      local first = require("smartlead.pages").FIRST_PAGES
      assert.equal(4, first)
      -- the short first page may end the listing before the last of the wave is sent (valgrind)
      local sent = #server:log()
      assert.is_true(sent >= 1 and sent <= first, sent .. " requests")
    end)

    it("raises the page's error when a page cannot be had", function()
      server:configure { faults = { seed = 1, p5xx = 1 } }
      local impatient = server:client { max_retries = 0 }
      assert.has_error(function()
        for _ in impatient:accounts() do end
      end)
      local list, err = impatient:all_accounts()
      assert.is_nil(list)
      assert.equal(500, err.status // 100 * 100)
      impatient:close()
    end)
  end)
end)
