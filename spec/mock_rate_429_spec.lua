-- The mock's 429, as smartlead-docs/guides/rate-limits.mdx shows it: the body
-- {"error":{"code":"RATE_LIMIT_EXCEEDED","message":"...","retry_after":N}} and a Retry-After
-- header in seconds, which knob rate_retry_after can take away (the guide's troubleshooting:
-- "Retry-After header is missing on 429 response"). Through the client and over raw HTTP.

local support = require "support"
local json = support.json

describe("mock 429", function()
  local server, once, id
  support.shared_server(function(s) server = s end)

  before_each(function()
    id = support.own_ids(server:state(), 1)[1]
    server:clock { freeze = true }
    server:configure { rate_limit = { requests = 1, per = 30 } }
    once = server:client { max_retries = 0 }
    assert(once:get_email_account(id))
  end)
  after_each(function()
    once:close()
    server:configure { rate_limit = json.null, rate_retry_after = json.null }
  end)

  local function refused()
    local r = support.raw(server, "GET", "/email-accounts/" .. id .. "/")
    assert.equal(429, r.status)
    return r
  end

  it("answers the guide's body and Retry-After", function()
    local _, err = once:get_email_account(id)
    assert.equal(429, err.status)
    assert.equal("RATE_LIMIT_EXCEEDED", err.code)
    assert.equal(30, err.retry_after)
    assert.same({ error = { code = "RATE_LIMIT_EXCEEDED", message = "Too many requests. Please retry after 30 seconds.",
      retry_after = 30 } }, err.data)
    local r = refused()
    assert.equal("30", r.headers["Retry-After"])
    assert.equal("application/json", r.header("Content-Type"))
    assert.same(err.data, r.body)
  end)

  it("counts down Retry-After as the window runs out, and never says 0", function()
    server:clock { advance = 29 }
    local r = refused()
    assert.equal("1", r.header("Retry-After"))
    assert.equal("Too many requests. Please retry after 1 second.", r.body.error.message)
    server:clock { advance = 0.5 }
    assert.equal("1", refused().header("Retry-After"))
    server:clock { advance = 0.5 }
    assert.equal(200, support.raw(server, "GET", "/email-accounts/" .. id .. "/").status)
  end)

  it("leaves Retry-After out and keeps the body's retry_after (rate_retry_after = body or false)", function()
    for _, v in ipairs({ "body", false }) do
      server:configure { rate_retry_after = v }
      local r = refused()
      assert.is_nil(r.header("Retry-After"))
      assert.equal(30, r.body.error.retry_after)
      local _, err = once:get_email_account(id)
      assert.equal(30, err.retry_after, "the client falls back on the body")
      once:reset_rate_state()
    end
  end)

  it("gives no hint at all with rate_retry_after = none", function()
    server:configure { rate_retry_after = "none" }
    local r = refused()
    assert.is_nil(r.header("Retry-After"))
    assert.same({ error = { code = "RATE_LIMIT_EXCEEDED", message = "Too many requests. Please retry later." } },
      r.body)
    assert.equal("none", server:configure({}).rate_retry_after)
    assert.equal("both", server:configure({ rate_retry_after = true }).rate_retry_after)
    assert.equal(400, (server.handle:admin("POST", "/__mock/config", '{"rate_retry_after":"sometimes"}')))
  end)
end)
