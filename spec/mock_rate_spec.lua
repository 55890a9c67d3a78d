-- The mock's rate windows and X-RateLimit-* headers, as smartlead-api.md "Rate limits" and
-- smartlead-docs/guides/rate-limits.mdx describe them: one budget per key over every endpoint,
-- several windows at once (burst, minute, hour), headers for the tightest window, Reset a Unix
-- time in seconds (or, by knob, seconds from now or epoch milliseconds). Over real HTTP, on the
-- mock's frozen clock so that no window turns over by chance.

local support = require "support"

describe("mock rate windows", function()
  local server, id
  local OTHER_KEY = "spec-other-key-5d1e" -- the same user's second key
  support.shared_server(function(s) server = s end, { other_keys = { [OTHER_KEY] = support.OWNER } })

  local function get(opts) return support.raw(server, "GET", "/email-accounts/" .. id .. "/", opts) end
  local function update(n)
    return support.raw(server, "POST", "/email-accounts/" .. id, { body = { max_email_per_day = n } })
  end
  local function seen(r)
    return { r.status, tonumber(r.header("X-RateLimit-Limit")), tonumber(r.header("X-RateLimit-Remaining")),
      tonumber(r.header("X-RateLimit-Reset")), tonumber(r.header("Retry-After")) }
  end

  local now
  before_each(function()
    id = support.own_ids(server:state(), 1)[1]
    now = server:clock({ freeze = true }).now
  end)
  after_each(function()
    server:configure { rate_limit = support.json.null, rate_reset = support.json.null,
                       rate_headers = support.json.null }
  end)

  it("sends the guide's header names, Reset as a Unix time in seconds", function()
    server:configure { rate_limit = { requests = 3, per = 10 } }
    local r = get()
    assert.equal(200, r.status)
    assert.equal("3", r.headers["X-RateLimit-Limit"])
    assert.equal("2", r.headers["X-RateLimit-Remaining"])
    assert.equal(tostring(now + 10), r.headers["X-RateLimit-Reset"])
  end)

  it("keeps several windows at once and describes the tightest", function()
    server:configure { rate_limit = { { requests = 2, per = 1 }, { requests = 5, per = 60 } } }
    assert.same({ 200, 2, 1, now + 1 }, seen(get()))
    assert.same({ 200, 2, 0, now + 1 }, seen(get()))
    assert.same({ 429, 2, 0, now + 1, 1 }, seen(get()), "the burst window is spent")
    server:clock { advance = 1 }
    assert.same({ 200, 2, 1, now + 2 }, seen(get()), "burst: 1 left; minute: 2 left")
    server:clock { advance = 1 }
    assert.same({ 200, 5, 1, now + 60 }, seen(get()), "1 left in each: the later reset binds")
    server:clock { advance = 1 }
    assert.same({ 200, 5, 0, now + 60 }, seen(get()))
    server:clock { advance = 1 }
    assert.same({ 429, 5, 0, now + 60, 56 }, seen(get()), "the minute window is spent")
    server:clock { advance = 56 }
    assert.same({ 200, 2, 1, now + 61 }, seen(get()))
  end)

  it("counts one budget per key over every endpoint, and no refused request", function()
    server:configure { rate_limit = { { requests = 2, per = 1 }, { requests = 3, per = 60 } } }
    assert.equal(200, get().status)
    assert.equal(200, update(41).status)
    for _ = 1, 3 do assert.equal(429, update(42).status) end
    assert.equal(41, server:account(id).message_per_day, "a refused write changes nothing")
    server:clock { advance = 1 }
    assert.same({ 200, 3, 0, now + 60 }, seen(get()), "three accepted in the minute, whatever was refused")
    assert.equal(429, get().status)
    assert.same({ 200, 2, 1, now + 2 }, seen(support.raw(server, "GET", "/email-accounts/", { key = OTHER_KEY })),
      "the same user's other key has its own budget")
  end)

  it("tests an hourly cap in seconds on the mock's clock", function()
    server:configure { rate_limit = { { requests = 10, per = 1 }, { requests = 3, per = 3600 } } }
    for _ = 1, 3 do assert.equal(200, get().status) end
    assert.same({ 429, 3, 0, now + 3600, 3600 }, seen(get()))
    server:clock { advance = 3599 }
    assert.same({ 429, 3, 0, now + 3600, 1 }, seen(get()))
    server:clock { advance = 1 }
    assert.same({ 200, 3, 2, now + 7200 }, seen(get()), "a new hour: 2 left of 3 binds, not 9 of 10")
  end)

  it("keeps the older one-window form {requests=, per=, retry_after=}", function()
    local cfg = server:configure { rate_limit = { requests = 1, per = 5, retry_after = false } }
    assert.same({ requests = 1, per = 5, retry_after = false }, cfg.rate_limit)
    assert.equal(200, get().status)
    local r = get()
    assert.same({ 429, 1, 0, now + 5 }, seen(r))
    assert.is_nil(r.header("Retry-After"))
    local listed = server:configure { rate_limit = { { requests = 1, per = 5 } } }
    assert.same({ { requests = 1, per = 5 } }, listed.rate_limit)
  end)

  it("gives Reset as a Unix time, seconds from now, or a Unix time in milliseconds (knob rate_reset)", function()
    server:configure { rate_limit = { requests = 5, per = 30 } }
    assert.equal(tostring(now + 30), get().header("X-RateLimit-Reset"))
    server:configure { rate_reset = "seconds" }
    server:clock { advance = 10 }
    assert.equal("20", get().header("X-RateLimit-Reset"))
    server:configure { rate_reset = "epoch_ms" }
    assert.equal(tostring((now + 30) * 1000), get().header("X-RateLimit-Reset"))
  end)

  it("sends the headers on every answer, only on GETs, or never (knob rate_headers)", function()
    server:configure { rate_limit = { requests = 5, per = 60 } }
    assert.equal("4", update(40).header("X-RateLimit-Remaining"))
    server:configure { rate_headers = "get" }
    local write = update(41)
    assert.equal(200, write.status)
    assert.is_nil(write.header("X-RateLimit-Limit"))
    assert.equal("2", get().header("X-RateLimit-Remaining"))
    server:configure { rate_headers = "none" }
    assert.is_nil(get().header("X-RateLimit-Limit"))
    assert.is_nil(get().header("X-RateLimit-Limit"))
    local refused = get()
    assert.equal(429, refused.status)
    assert.is_nil(refused.header("X-RateLimit-Reset"))
    assert.equal("60", refused.header("Retry-After"), "Retry-After is not one of them")
  end)

  it("refuses rate knobs it cannot read", function()
    for _, bad in ipairs({ { rate_limit = {} }, { rate_limit = { { requests = 0, per = 1 } } },
      { rate_limit = { { requests = 1 } } }, { rate_reset = "iso" }, { rate_headers = "post" } }) do
      local status, text = server.handle:admin("POST", "/__mock/config", support.json.encode(bad))
      assert.equal(400, status, text)
      assert.not_match("%.lua:%d+:", text, "the message names no source line")
    end
  end)
end)
