-- The mock's clock (GET/POST /__mock/clock, server:clock): frozen and moved on by specs, it
-- drives everything the mock dates or times: updated_at, warmup-stats days, the documented
-- reconnect rule (3 per 24 h, 30 minutes apart) and the rate windows (mock_rate_spec.lua).
-- Over real HTTP.

local support = require "support"
local json = support.json

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%S.000Z", math.floor(t)) end

describe("mock clock", function()
  local server, client
  support.shared_server(function(s, c) server, client = s, c end)

  it("runs with the wall clock until told otherwise", function()
    local before = os.time()
    local c = server:clock()
    assert.same({ offset = 0, frozen = false }, { offset = c.offset, frozen = c.frozen })
    assert.is_true(c.now >= before and c.now <= os.time())
  end)

  it("freezes, moves on by an offset, and goes on from where it stood when unfrozen", function()
    local frozen = server:clock { freeze = true }
    assert.is_true(frozen.frozen)
    assert.equal(frozen.now, server:clock().now)
    local later = server:clock { advance = 3600 }
    assert.equal(frozen.now + 3600, later.now)
    assert.equal(3600, later.offset)
    assert.equal(frozen.now - 60, server:clock({ offset = -60 }).now)
    local going = server:clock { freeze = false }
    assert.is_false(going.frozen)
    assert.is_true(going.now >= frozen.now - 60 and going.now <= frozen.now - 60 + 2)
  end)

  it("dates what it writes on its own clock", function()
    local now = server:clock({ freeze = true, advance = 86400 * 30 }).now
    local id = support.own_ids(server:state(), 1)[1]
    assert(client:update_email_account(id, { max_email_per_day = 42 }))
    assert.equal(iso(now), server:account(id).updated_at)
    local stats = assert(client:get_warmup_stats(id))
    assert.equal(os.date("!%Y-%m-%d", now), stats.stats_by_date[#stats.stats_by_date].date)
  end)

  it("times the documented reconnect rule: 3 calls in 24 h, at least 30 minutes apart", function()
    server:clock { freeze = true }
    local once = server:client { max_retries = 0 }
    local function reconnect() return once:reconnect_failed_email_accounts() end
    assert(reconnect())
    local _, err = reconnect()
    assert.equal(406, err.status)
    server:clock { advance = 1799 }
    assert.equal(406, select(2, reconnect()).status)
    server:clock { advance = 1 }
    assert(reconnect())
    server:clock { advance = 1800 }
    assert(reconnect())
    server:clock { advance = 1800 }
    assert.equal(406, select(2, reconnect()).status, "a fourth call within 24 h")
    server:clock { advance = 86400 }
    assert(reconnect())
    once:close()
  end)

  it("goes back to the wall clock on reset", function()
    server:clock { freeze = true, advance = 7200 }
    server:reset()
    local c = server:clock()
    assert.same({ offset = 0, frozen = false }, { offset = c.offset, frozen = c.frozen })
  end)

  it("refuses what it cannot read, and changes nothing then", function()
    for _, bad in ipairs({ { advance = "1h" }, { freeze = "yes" }, { rewind = 5 }, { offset = 1e13 } }) do
      local status, text = server.handle:admin("POST", "/__mock/clock", json.encode(bad))
      assert.equal(400, status, json.encode(bad))
      assert.is_string(json.decode(text).error)
    end
    local status = server.handle:admin("POST", "/__mock/clock", "[1]")
    assert.equal(400, status)
    assert.equal(0, server:clock().offset)
  end)
end)
