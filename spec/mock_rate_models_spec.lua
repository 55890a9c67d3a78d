-- The mock's named rate models (knob rate_model), from smartlead-docs/guides/rate-limits.mdx and
-- smartlead-api.md "Rate limits": standard (10/s, 60/min, 1,000/h), pro (20/s, 120/min, 3,000/h),
-- legacy (10 per 2 s, the legacy help centre), generous (300/min, near what a live account did),
-- silent (10 per 2 s, no X-RateLimit headers, 429 without Retry-After). Counted through the
-- client's typed methods on the mock's frozen clock; headers over raw HTTP.

local support = require "support"
local json = support.json

local SCALE = tonumber(os.getenv("SMARTLUA_SPEC_SCALE")) or 1

describe("mock rate models", function()
  local server, once, id
  support.shared_server(function(s) server = s end)

  before_each(function()
    id = support.own_ids(server:state(), 1)[1]
    server:clock { freeze = true }
    once = server:client { max_retries = 0 }
  end)
  after_each(function()
    once:close()
    server:configure { rate_model = json.null, rate_headers = json.null, rate_retry_after = json.null }
  end)

  -- Sends up to n reads; returns how many were accepted and the first refusal.
  local function burst(n)
    for i = 1, n do
      local res, err = once:get_email_account(id)
      if not res then
        once:reset_rate_state()
        return i - 1, err
      end
    end
    return n
  end

  -- Checks one model's windows: `second` a second, `minute` a minute, `hour` an hour (if given).
  -- The model's own headers are turned off so that the client does not pace itself.
  local function check_windows(model, second, minute, hour)
    server:configure { rate_model = model, rate_headers = "none" }
    local sent, err = burst(second + 1)
    assert.equal(second, sent, model .. ": a second")
    assert.equal(429, err.status)
    assert.equal(1, err.retry_after)
    local in_minute = second
    for s = 1, 59 do -- a second at a time, until the minute is spent
      server:clock { advance = 1 }
      local n, e = burst(second)
      in_minute = in_minute + n
      if e then
        assert.equal(minute, in_minute, model .. ": a minute")
        assert.equal(60 - s, e.retry_after)
        break
      end
    end
    assert.equal(minute, in_minute, model .. ": a minute")
    if not hour then return end
    local in_hour, minutes = in_minute, 1
    while in_hour < hour and minutes < 60 do
      server:clock { advance = 60 }
      minutes = minutes + 1
      in_hour = in_hour + burst(math.min(second, hour - in_hour))
      for _ = 2, minute // second do
        server:clock { advance = 1 }
        in_hour = in_hour + burst(math.min(second, hour - in_hour))
      end
    end
    server:clock { advance = 60 }
    local n, e = burst(1)
    assert.equal(0, n, model .. ": the hour is spent")
    assert.equal(hour, in_hour, model .. ": an hour")
    assert.is_true(e.retry_after > 60 and e.retry_after < 3600, "until the hour's end: " .. e.retry_after)
  end

  it("standard: 10 a second, 60 a minute, 1,000 an hour", function()
    check_windows("standard", 10, 60, SCALE >= 1 and 1000 or nil)
  end)

  it("pro: 20 a second, 120 a minute, 3,000 an hour", function()
    check_windows("pro", 20, 120, SCALE >= 1 and 3000 or nil)
  end)

  it("legacy: 10 per 2 seconds", function()
    server:configure { rate_model = "legacy", rate_headers = "none" }
    assert.equal(10, burst(11))
    server:clock { advance = 1 }
    assert.equal(0, burst(1))
    server:clock { advance = 1 }
    assert.equal(10, burst(11))
  end)

  it("generous: 300 a minute, no burst limit", function()
    server:configure { rate_model = "generous", rate_headers = "none" }
    local sent, err = burst(301)
    assert.equal(300, sent)
    assert.equal(60, err.retry_after)
  end)

  it("standard, pro and legacy announce their tightest window in the headers", function()
    local now = server:clock().now
    for model, limit in pairs({ standard = 10, pro = 20, legacy = 10 }) do
      server:configure { rate_model = model }
      local r = support.raw(server, "GET", "/email-accounts/" .. id .. "/")
      assert.equal(tostring(limit), r.headers["X-RateLimit-Limit"], model)
      assert.equal(tostring(limit - 1), r.headers["X-RateLimit-Remaining"], model)
      assert.equal(tostring(now + (model == "legacy" and 2 or 1)), r.headers["X-RateLimit-Reset"], model)
    end
  end)

  it("silent: 10 per 2 seconds enforced, no headers, 429 without Retry-After or retry_after", function()
    server:configure { rate_model = "silent" }
    for _ = 1, 10 do
      local r = support.raw(server, "GET", "/email-accounts/" .. id .. "/")
      assert.equal(200, r.status)
      assert.is_nil(r.header("X-RateLimit-Limit"))
    end
    local r = support.raw(server, "GET", "/email-accounts/" .. id .. "/")
    assert.equal(429, r.status)
    assert.is_nil(r.header("Retry-After"))
    assert.is_nil(r.header("X-RateLimit-Reset"))
    assert.same({ error = { code = "RATE_LIMIT_EXCEEDED", message = "Too many requests. Please retry later." } },
      r.body)
  end)

  it("lets a knob set explicitly win over the model's", function()
    local cfg = server:configure { rate_model = "silent", rate_headers = "all", rate_limit = { requests = 2, per = 5 } }
    assert.equal("silent", cfg.rate_model)
    local r = support.raw(server, "GET", "/email-accounts/" .. id .. "/")
    assert.equal("2", r.header("X-RateLimit-Limit"))
    support.raw(server, "GET", "/email-accounts/" .. id .. "/")
    r = support.raw(server, "GET", "/email-accounts/" .. id .. "/")
    assert.equal(429, r.status)
    assert.is_nil(r.header("Retry-After"), "still silent about Retry-After")
    server:configure { rate_limit = json.null }
    assert.equal(400, (server.handle:admin("POST", "/__mock/config", '{"rate_model":"enterprise"}')))
  end)
end)
