-- The rate limiter learns the server's budget (smartlead-api.md "Rate limits"): the safe default
-- until the server shows its own, the server's windows used as shown (never more), several
-- windows at once, presets, limits the headers did not show learned from 429s and remembered
-- for the key across runs; and it bounds what the server says: waits beyond a ceiling or a
-- call's max_wait, and the answer bytes held at once. Rates are read from the mock's log
-- (arrival times) or from a tiny responder (spec/responder.lua) for what the mock cannot send.
local support = require "support"
local responder = require "responder"
local proc = require "proc"
local core = require "smartlead.core"
local config = require "smartlead.config"
require "smartlead" -- the Lua-side client methods (each, accounts)

local TIMING_SLACK = support.TIMING_SLACK

local busiest_window = support.busiest_window

local function count_status(log, status)
  local n = 0
  for _, e in ipairs(log) do n = n + (e.status == status and 1 or 0) end
  return n
end

local function seq(n)
  local ids = {}
  for i = 1, n do ids[i] = 1000 + i end
  return ids
end

-- A distinct key per test, so no limiter state is shared with other specs or tests.
local key_serial = 0
local function fresh_key(tag)
  key_serial = key_serial + 1
  return ("limiter-%s-%d-%d"):format(tag, key_serial, math.random(1, 1e9))
end

local function new_client(url, key, opts)
  local o = { api_key = key, base_url = url }
  for k, v in pairs(opts or {}) do o[k] = v end
  return require("smartlead.client").wrap(core.new_client(o))
end

local function reads(client, ids, concurrency)
  return client:each(ids, function(id) return client:get_email_account(id) end,
                     { concurrency = concurrency, progress = false })
end

-- Ends any wait that should not happen within `seconds` (an unbounded wait fails the spec
-- instead of hanging it).
local function watchdog(seconds) core.request_interrupt(seconds) end
local function no_watchdog() core.clear_interrupt() end

local function state_dir()
  local xdg = os.getenv("XDG_STATE_HOME")
  return (xdg and xdg ~= "" and xdg or (os.getenv("HOME") .. "/.local/state")) .. "/smartlua/limits"
end

local function sha256(s)
  local r = proc.sh("printf %s " .. proc.q(s) .. " | sha256sum")
  return r.out:match("^(%x+)")
end

local function mode_of(path)
  return proc.sh("stat -c %a " .. proc.q(path)).out:match("%d+")
end

describe("rate settings", function()
  it("reads one window, several windows, presets, auto and off", function()
    assert.same({ requests = 10, per = 2 }, config.parse_rate("10/2"))
    assert.same({ { requests = 10, per = 1 }, { requests = 60, per = 60 }, { requests = 1000, per = 3600 } },
                config.parse_rate("10/1, 60/60, 1000/3600"))
    local pro = config.parse_rate("pro")
    assert.equal("pro", pro.preset)
    assert.same({ { requests = 20, per = 1 }, { requests = 120, per = 60 }, { requests = 3000, per = 3600 } },
                { pro[1], pro[2], pro[3] })
    assert.equal("standard", config.show_rate(config.parse_rate("standard")))
    assert.equal("10/1,60/60", config.show_rate(config.parse_rate("10/1,60/60")))
    assert.equal("auto", config.parse_rate("auto"))
    assert.equal(false, config.parse_rate("off"))
    for _, bad in ipairs { "fast", "10/", "10/1,", "0/1", "1e3/2", "-1/2", "inf", "10/1,,5/2" } do
      local v, err = config.parse_rate(bad)
      assert.is_nil(v, bad)
      assert.truthy(err:find("rate must be", 1, true), bad)
    end
  end)

  it("gives the client the configured windows, and shows them as its budget", function()
    local url = "http://127.0.0.1:9/api/v1"
    local function budget(rate) return new_client(url, fresh_key("cfg"), { rate = rate }):rate_budget() end
    local b = budget("standard")
    assert.equal("configured", b.source)
    assert.same({ { requests = 10, per = 1, source = "configured" }, { requests = 60, per = 60, source = "configured" },
                  { requests = 1000, per = 3600, source = "configured" } }, b.windows)
    assert.same({ { requests = 10, per = 2, source = "configured" } }, budget("legacy").windows)
    assert.same({ { requests = 3, per = 1, source = "configured" }, { requests = 5, per = 4, source = "configured" } },
                budget({ { requests = 5, per = 4 }, { requests = 3, per = 1 } }).windows)
    b = budget(nil)
    assert.same({ { requests = 10, per = 2, source = "default" } }, b.windows)
    assert.equal("configured", b.source)
    b = budget(false)
    assert.is_true(b.off)
    assert.same({}, b.windows)
    assert.has_error(function() budget("10/0") end)
    assert.has_error(function() budget({ { requests = 0, per = 1 } }) end)
    assert.has_error(function() budget(true) end)
  end)

  it("honours every window at once", function()
    local server = support.server { api_key = fresh_key("multi") }
    local c = server:client { rate = "2/0.5,4/2", concurrency = 4 }
    assert.equal(10, reads(c, support.own_ids(server:state(), 10), 4).ok)
    local log = server:log()
    assert.equal(10, #log)
    assert.is_true(busiest_window(log, 0.5 - TIMING_SLACK) <= 2, "more than 2 in half a second")
    assert.is_true(busiest_window(log, 2 - TIMING_SLACK) <= 4, "more than 4 in 2 seconds")
    assert.is_true(log[10].at - log[1].at >= 4 - TIMING_SLACK, "10 requests at 4 per 2 s took under 4 s")
    c:close()
    server:stop()
  end)
end)

describe("the server's budget", function()
  it("reads X-RateLimit-Reset as seconds to go, a Unix time in seconds or in milliseconds", function()
    local wall = 1795968000
    assert.equal(60, core.rate_reset_in(60, wall))
    assert.equal(0, core.rate_reset_in(0, wall))
    assert.equal(60, core.rate_reset_in(wall + 60, wall))
    assert.equal(60, core.rate_reset_in((wall + 60) * 1000, wall))
    assert.equal(-30, core.rate_reset_in(wall - 30, wall)) -- a reset just past: that window is over
    assert.is_true(core.rate_reset_in(1000000000000, wall) < -365 * 86400) -- 10^12 ms: 2001
    local now = core.rate_reset_in(0) -- the default clock is the wall clock: 0 is "now" as a delta
    assert.equal(0, now)
  end)

  it("waits out a reset given in milliseconds", function()
    local r = responder.start { limit = 5, remaining = 0, reset_ms_in = 2 }
    local c = new_client(r:url(), fresh_key("ms"), { max_wait = 30 })
    watchdog(20)
    assert.truthy(c:get_email_account(1))
    local t0 = core.monotime()
    assert.truthy(c:get_email_account(2))
    local seconds = core.monotime() - t0
    no_watchdog()
    assert.is_true(seconds > 0.9 and seconds < 3.5, ("waited %.1fs for a reset 1 to 2 s ahead"):format(seconds))
    c:close()
    r:stop()
  end)

  it("uses a larger window the server shows instead of staying at the default", function()
    local server = support.server { api_key = fresh_key("larger") }
    server:configure { rate_limit = { requests = 30, per = 2 } }
    local c = server:client { rate = "auto" } -- the default, as users get it
    local t0 = core.monotime()
    assert.equal(60, reads(c, support.own_ids(server:state(), 60), 8).ok)
    local seconds = core.monotime() - t0
    local log = server:log()
    assert.equal(60, #log)
    assert.equal(0, count_status(log, 429), "the server refused requests")
    -- at the default 10 per 2 s, 60 requests take 10 s; at the server's 30 per 2 s, 2 windows and a bit
    assert.is_true(seconds < 8, ("60 requests took %.1fs"):format(seconds))
    local b = c:rate_budget()
    assert.equal("server", b.source)
    assert.equal(1, #b.windows)
    assert.equal(30, b.windows[1].requests)
    assert.is_true(b.windows[1].per >= 2 and b.windows[1].per < 3.2, "per " .. b.windows[1].per)
    c:close()
    server:stop()
  end)

  it("never sends more than a smaller window the server shows, from the first request on", function()
    local server = support.server { api_key = fresh_key("smaller") }
    server:configure { rate_limit = { requests = 4, per = 1 } }
    local c = server:client { rate = "auto" }
    assert.equal(12, reads(c, support.own_ids(server:state(), 12), 8).ok)
    local log = server:log()
    assert.equal(12, #log)
    assert.equal(0, count_status(log, 429), "a burst before the first answer met the server's window")
    c:close()
    server:stop()
  end)
end)

describe("windows behind windows", function()
  it("a documented plan's burst brings the plan's minute and hour, paced before the server shows them", function()
    local server = support.server { api_key = fresh_key("plan") }
    server:configure { rate_model = "standard" } -- 10/1s, 60/60s, 1000/3600s; the headers show the tightest
    local c = server:client { rate = "auto" }
    assert.equal(12, reads(c, support.own_ids(server:state(), 12), 8).ok)
    local got = {}
    for _, w in ipairs(c:rate_budget().windows) do got[#got + 1] = ("%s %d/%d"):format(w.source, w.requests, w.per) end
    table.sort(got)
    assert.same({ "plan 1000/3600", "plan 60/60", "server 10/1" }, got)
    c:close()
    server:stop()
  end)

  it("after a reset one request goes first: its answer shows an hour nearly spent behind the burst", function()
    local server = support.server { api_key = fresh_key("behind"), latency_ms = 100 }
    -- the headers show the window with the fewest left: the burst, until the hour has fewer
    server:configure { rate_limit = { { requests = 10, per = 1 }, { requests = 25, per = 3600 } } }
    local c = server:client { rate = "auto", max_wait = 5 }
    watchdog(60)
    local rep = reads(c, support.own_ids(server:state(), 40), 8)
    no_watchdog()
    local log = server:log()
    assert.equal(0, count_status(log, 429), "a request went blind into the spent hour")
    assert.equal(25, count_status(log, 200))
    assert.equal(25, rep.ok)
    for _, f in ipairs(rep.failed) do assert.equal("rate_limit", f.error.kind) end
    c:close()
    server:stop()
  end)
end)

describe("limits the headers did not show", function()
  local r, key
  before_each(function() key = fresh_key("hidden") end)
  after_each(function() if r then r:stop() end end)

  it("are learned from the 429 that met them and kept for the rest of the run", function()
    r = responder.start { limit = 100, per = 60, hidden = "5/1" } -- shows 100 a minute, refuses a 6th in a second
    local c = new_client(r:url(), key, { max_wait = 120 })
    assert.equal(30, reads(c, seq(30), 8).ok)
    local b = c:rate_budget()
    assert.equal("learned", b.source)
    local learned
    for _, w in ipairs(b.windows) do if w.source == "learned" then learned = w end end
    assert.truthy(learned, "no learned window")
    assert.equal(1, learned.per)
    assert.is_true(learned.requests <= 5 and learned.requests >= 1, "learned " .. learned.requests)
    local refused_first = r:count(429)
    assert.is_true(refused_first <= 8, refused_first .. " refusals for 30 requests")
    -- the next 20 keep under the lesson: at most a stray refusal from arrival jitter
    assert.equal(20, reads(c, seq(20), 8).ok)
    assert.is_true(r:count(429) - refused_first <= 1, (r:count(429) - refused_first) .. " refusals after the lesson")
    -- remembered for the key in a 0600 file named by the key's SHA-256, in a 0700 directory
    local path = state_dir() .. "/" .. sha256(key)
    local text = proc.read(path)
    assert.truthy(text, "nothing remembered at " .. path)
    assert.truthy(text:find("window " .. math.floor(learned.requests) .. " 1 ", 1, true), text)
    assert.is_nil(text:find(key, 1, true))
    assert.equal("600", mode_of(path))
    assert.equal("700", mode_of(state_dir()))
    c:reset_rate_state()
    assert.is_false(proc.exists(path), "reset_rate_state forgets the remembered file too")
    c:close()
  end)

  it("are remembered across runs: the next run starts at the lesson", function()
    r = responder.start { limit = 100, per = 60, hidden = "5/1" }
    local dir = proc.mktemp()
    local script = proc.write(dir .. "/run.lua", [[
local core = require "smartlead.core"
require "smartlead"
local c = require("smartlead.client").wrap(core.new_client { api_key = arg[2], base_url = arg[1], max_wait = 120 })
local function show(when)
  local b = c:rate_budget()
  local ws = {}
  for _, w in ipairs(b.windows) do ws[#ws + 1] = ("%s:%s/%s"):format(w.source, w.requests, w.per) end
  print(when, b.source, table.concat(ws, " "))
end
show("before")
local ids = {}
for i = 1, tonumber(arg[3]) do ids[i] = i end
local rep = c:each(ids, function(id) return c:get_email_account(id) end, { progress = false })
show("after")
print("ok", rep.ok)
]])
    local env = "env XDG_STATE_HOME=" .. proc.q(dir .. "/state")
    local run = function(n) return proc.smartlua({ "--no-journal", "-v", script, r:url(), key, tostring(n) }, env) end
    local first = run(20)
    assert.equal(0, first.code, first.err)
    assert.truthy(first.out:find("before\tconfigured\tdefault:10/2", 1, true), first.out)
    assert.truthy(first.out:find("ok\t20", 1, true), first.out)
    local learned = first.out:match("after\tlearned\t.-learned:(%d+)/1")
    assert.truthy(learned, first.out)
    -- -v says what the limiter does when the budget changes; each 429 pause is said without -v too
    assert.truthy(first.err:find("smartlua: rate: server allows 100/60s; pacing at 100/60s", 1, true), first.err)
    assert.truthy(first.err:find("learned from 429s " .. learned .. "/1s", 1, true), first.err)
    assert.truthy(first.err:find("the headers did not show this limit: keeping under " .. learned .. " per 1s", 1,
                  true), first.err)
    local before = r:count(429)
    local second = run(20)
    assert.equal(0, second.code, second.err)
    assert.truthy(second.out:find("before\tlearned\tlearned:" .. learned .. "/1", 1, true), second.out)
    local again = r:count(429) - before
    assert.is_true(again <= 1, ("the second run met the same limit again (%d 429s): %s%s")
      :format(again, second.out, second.err))
    assert.is_nil(second.err:find(key, 1, true))
    proc.rmtree(dir)
  end)
end)

describe("what the server asks for is bounded", function()
  local r, c
  after_each(function()
    no_watchdog()
    if c then c:close() end
    if r then r:stop() end
    c, r = nil, nil
  end)

  it("a reset of 10^12 with nothing remaining does not hold requests back", function()
    r = responder.start { limit = 10, remaining = 0, reset = "1000000000000" }
    c = new_client(r:url(), fresh_key("absurd"), { max_wait = 5 })
    watchdog(20)
    local t0 = core.monotime()
    for i = 1, 4 do assert.truthy(c:get_email_account(i)) end
    assert.is_true(core.monotime() - t0 < 4, "the calls waited")
    assert.equal(4, r:count(200))
    -- a count without a believable reset shows no budget: the safe default still paces
    assert.same({ { requests = 10, per = 2, source = "default" } }, c:rate_budget().windows)
  end)

  it("a reset far ahead fails the next call at once with kind rate_limit and the time asked", function()
    r = responder.start { limit = 10, remaining = 0, reset_in = 1000000 }
    c = new_client(r:url(), fresh_key("far"), { max_wait = 5 })
    watchdog(20)
    assert.truthy(c:get_email_account(1)) -- this answer says: nothing left for 11.6 days
    local t0 = core.monotime()
    local res, err = c:get_email_account(2)
    assert.is_nil(res)
    assert.is_true(core.monotime() - t0 < 2, "the call waited")
    assert.equal("rate_limit", err.kind)
    assert.equal("RATE_LIMIT_EXCEEDED", err.code)
    assert.is_true(math.abs(err.retry_after - 1000000) < 10, "retry_after " .. tostring(err.retry_after))
    assert.truthy(tostring(err):find("rate_limit", 1, true))
    assert.equal(1, r:count(), "the refused call was sent")
  end)

  it("Retry-After: 99999999 fails the call at once with kind rate_limit, and the key's other calls too", function()
    r = responder.start { always429 = 1, retry_after = 99999999 }
    c = new_client(r:url(), fresh_key("retry"), { max_wait = 600 })
    watchdog(20)
    local t0 = core.monotime()
    local res, err = c:update_email_account(7, { max_email_per_day = 5 })
    assert.is_nil(res)
    assert.equal("rate_limit", err.kind)
    assert.equal(429, err.status)
    assert.equal(99999999, err.retry_after)
    assert.equal(1, err.attempts)
    assert.is_nil(err.ambiguous) -- refused unprocessed
    res, err = c:get_email_account(8)
    assert.is_nil(res)
    assert.equal("rate_limit", err.kind)
    assert.is_true(err.retry_after > 99999000)
    assert.is_true(core.monotime() - t0 < 2, "the calls waited")
    assert.equal(1, r:count(), "the paused key sent again")
    assert.is_true(c:rate_budget().pause >= 3599, "the pause is not clamped to the ceiling")
  end)

  it("every such wait is said on stderr", function()
    r = responder.start { limit = 10, remaining = 0, reset_in = 1000000 }
    local r2 = responder.start { always429 = 1, retry_after = 99999999 }
    local dir = proc.mktemp()
    local script = proc.write(dir .. "/run.lua", [[
local core = require "smartlead.core"
core.request_interrupt(30) -- a wait that should not happen fails the spec instead of hanging it
for i, url in ipairs { arg[1], arg[2] } do
  local c = core.new_client { api_key = "stderr-key-" .. i .. "-" .. arg[3], base_url = url, max_wait = 5 }
  c:get_email_account(1)
  local _, err = c:get_email_account(2)
  print(err.kind, err.retry_after)
end
]])
    local res = proc.smartlua({ "--no-journal", script, r:url(), r2:url(), tostring(math.random(1, 1e9)) })
    r2:stop()
    proc.rmtree(dir)
    assert.equal(0, res.code, res.err)
    local kind1, asked1 = res.lines[1]:match("^(%S+)\t(%S+)$")
    local kind2, asked2 = res.lines[2]:match("^(%S+)\t(%S+)$")
    assert.same({ "rate_limit", "rate_limit" }, { kind1, kind2 }, res.out)
    assert.is_true(math.abs(tonumber(asked1) - 1000000) < 10 and tonumber(asked2) > 99999000, res.out)
    assert.truthy(res.err:find("smartlua: x%-ratelimit%-remaining is 0 %(the server asks %d+s; at most 3600s%); " ..
                               "pausing all requests of this key for 3600%.0s"), res.err)
    assert.truthy(res.err:find("rate limited (429, Retry-After 99999999s, more than the 3600s any wait may last); " ..
                               "pausing all requests of this key for 3600.0s", 1, true), res.err)
  end)
end)

describe("answer memory", function()
  local r, c
  after_each(function()
    if c then c:close() end
    if r then r:stop() end
    c, r = nil, nil
    local cap = { api_key = "reset-the-cap", base_url = "http://127.0.0.1:9/api/v1", max_buffered_mb = 256 }
    core.new_client(cap):close()
  end)

  it("is bounded for the engine as a whole (max_buffered_mb, 256 MB by default)", function()
    r = responder.start { body_bytes = 2 * 1048576, half_pause = 0.5 }
    local key = fresh_key("memory")
    c = new_client(r:url(), key, { rate = false, concurrency = 4 })
    assert.equal(256, c:options().max_buffered_mb)
    assert.equal(4, reads(c, seq(4), 4).ok) -- 4 answers of 2 MB at once fit in 256 MB
    local small = new_client(r:url(), key, { rate = false, concurrency = 4, max_buffered_mb = 3 })
    assert.equal(3, c:options().max_buffered_mb) -- the engine's, shared by every client
    local report = reads(small, seq(4), 4) -- 4 first halves of 1 MB wait together for their second halves
    assert.is_true(#report.failed >= 1, "4 halves of 1 MB fit in 3 MB at once")
    local err = report.failed[1].error
    assert.equal("network", err.kind)
    assert.equal("ANSWERS_TOO_LARGE", err.code)
    assert.truthy(err.message:find("max_buffered_mb", 1, true), err.message)
    assert.truthy(small:get_email_account(1), "the bytes of failed answers were not given back")
    small:close()
    local tiny = new_client(r:url(), key, { rate = false, max_buffered_mb = 1 })
    local _, one = tiny:get_email_account(1) -- one answer larger than the whole budget
    assert.equal("ANSWERS_TOO_LARGE", one.code)
    tiny:close()
    assert.has_error(function() new_client(r:url(), key, { max_buffered_mb = 0 }) end)
  end)
end)
