-- The mock's penalty after a 429 storm (knob rate_penalty = {after=N, seconds=S}): N refusals in
-- a row shut the key out for S seconds, past its windows. smartlead-api.md: "One large account saw
-- the key refused for 8 minutes after Retry-After: 60". Over raw HTTP on the mock's frozen clock.

local support = require "support"
local json = support.json

describe("mock rate penalty", function()
  local server, id
  support.shared_server(function(s) server = s end)

  local function get()
    local r = support.raw(server, "GET", "/email-accounts/" .. id .. "/")
    return { r.status, tonumber(r.header("Retry-After")), tonumber(r.header("X-RateLimit-Reset")) }
  end

  local now
  before_each(function()
    id = support.own_ids(server:state(), 1)[1]
    now = server:clock({ freeze = true }).now
    server:configure { rate_limit = { requests = 1, per = 60 }, rate_penalty = { after = 3, seconds = 480 } }
  end)
  after_each(function() server:configure { rate_limit = json.null, rate_penalty = json.null } end)

  it("shuts the key out after N 429s in a row, and says for how long", function()
    assert.same({ 200, nil, now + 60 }, get())
    assert.same({ 429, 60, now + 60 }, get())
    assert.same({ 429, 60, now + 60 }, get())
    assert.same({ 429, 480, now + 480 }, get(), "the third in a row starts the penalty")
    server:clock { advance = 60 }
    assert.same({ 429, 420, now + 480 }, get(), "the window is over, the penalty is not")
    server:clock { advance = 419 }
    assert.same({ 429, 1, now + 480 }, get(), "refusals in the penalty neither count nor extend it")
    server:clock { advance = 1 }
    assert.same({ 200, nil, now + 540 }, get())
  end)

  it("counts only 429s in a row: an accepted request starts the count again", function()
    assert.equal(200, get()[1])
    assert.same({ 429, 60 }, { get()[1], get()[2] })
    server:clock { advance = 60 }
    assert.equal(200, get()[1])
    assert.same({ 429, 60, now + 120 }, get())
    assert.same({ 429, 60, now + 120 }, get(), "two in a row, not four")
    assert.same({ 429, 480, now + 540 }, get())
  end)

  it("ends with a reset", function()
    get()
    for _ = 1, 3 do get() end
    server:reset()
    assert.equal(200, get()[1])
  end)

  it("refuses a penalty it cannot read", function()
    for _, bad in ipairs({ { after = 0, seconds = 10 }, { after = 2 }, { after = 2, seconds = -1 }, "8m" }) do
      local status = server.handle:admin("POST", "/__mock/config", json.encode({ rate_penalty = bad }))
      assert.equal(400, status, json.encode(bad))
    end
    assert.same({ after = 3, seconds = 480 }, server:configure({}).rate_penalty)
  end)
end)
