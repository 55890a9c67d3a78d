-- Tracing (smartlua -v/-vv/-vvv, core.set_trace): what each level shows on stderr, and that no
-- level ever shows the API key or a password. Traces go to the process's own stderr, so the
-- requests run in a child build/smartlua whose stderr the spec captures.
local proc = require "proc"
local core = require "smartlead.core"
local json = require "smartlead.json"

-- Distinctive secrets: '+' and '/' make the key travel percent-encoded in the URL.
local KEY = "TRACEKEY+9d41c7e2/b5a8f3"
local SMTP_PW = "SmtpPw-5e1f9a77-secret"
local IMAP_PW = "ImapPw-c3d2b8aa-secret"

-- The child: its own mock with the key above; reads, an error answer, a retried read and a save.
local CHILD = [[
local core = require "smartlead.core"
local mock_server = require "smartlead.mock.server"
local KEY, LEVEL, SMTP_PW, IMAP_PW = arg[1], tonumber(arg[2]), arg[3], arg[4]
local server = mock_server.start { api_key = KEY }
local c = server:client { max_retries = 3 }
core.set_trace(LEVEL)
assert(c:get_email_accounts { offset = 0, limit = 100 })
local _, err = c:get_email_account(999999)
print("error: " .. tostring(err))
server:configure { faults = { seed = 3, p5xx = 0.5 } } -- seed 3: one 503, then 200
assert(c:get_email_account(3001))
server:configure { faults = require("smartlead.json").null }
assert(c:add_smtp_account {
  from_name = "Tracy Trace", from_email = "tracy@trace-domain.io", user_name = "tracy@trace-domain.io",
  password = SMTP_PW, smtp_host = "smtp.trace-domain.io", smtp_port = 587,
  imap_host = "imap.trace-domain.io", imap_port = 993, imap_user_name = "tracy@trace-domain.io",
  imap_password = IMAP_PW, warmup_enabled = false,
})
core.set_trace(0)
server:stop()
]]

local function percent_encode(s)
  return (s:gsub("[^%w%-%._~]", function(ch) return ("%%%02X"):format(ch:byte()) end))
end

local function trace_lines(r)
  local out = {}
  for _, l in ipairs(r.errlines) do
    if l:find("^smartlua: ") then out[#out + 1] = l end
  end
  return out
end

local function find_line(lines, pattern)
  for _, l in ipairs(lines) do
    if l:find(pattern) then return l end
  end
end

describe("tracing", function()
  local tmp, script

  setup(function()
    tmp = proc.mktemp()
    os.execute("mkdir -p " .. proc.q(tmp .. "/xdg"))
    script = proc.write(tmp .. "/child.lua", CHILD)
  end)
  teardown(function() proc.rmtree(tmp) end)

  local function run(level)
    local r = proc.smartlua({ "--no-journal", script, KEY, tostring(level), SMTP_PW, IMAP_PW },
      proc.keyless_env(tmp .. "/xdg"))
    assert.equal(0, r.code, r.err)
    return r
  end

  local function assert_no_secrets(r)
    for _, secret in ipairs { KEY, percent_encode(KEY), SMTP_PW, IMAP_PW, "9d41c7e2", "5e1f9a77", "c3d2b8aa" } do
      assert.is_nil(r.err:find(secret, 1, true), "stderr shows " .. secret)
      assert.is_nil(r.out:find(secret, 1, true), "stdout shows " .. secret)
    end
  end

  describe("core.set_trace", function()
    after_each(function() core.set_trace(0) end)

    it("sets a process-wide level from 0 to 3 that core.trace_level reads back", function()
      assert.equal(0, core.trace_level())
      core.set_trace(2)
      assert.equal(2, core.trace_level())
      assert.has_error(function() core.set_trace(4) end)
      assert.has_error(function() core.set_trace(-1) end)
      assert.equal(2, core.trace_level())
    end)
  end)

  describe("at -vvv", function()
    local r, lines

    setup(function()
      r = run(3)
      lines = trace_lines(r)
    end)

    it("never shows the API key (raw or percent-encoded) or a password", function()
      assert.is_true(#lines > 10)
      assert_no_secrets(r)
    end)

    it("writes one line per attempt with method, path, query with the key masked, status and time", function()
      local l = find_line(lines, "^smartlua: GET /api/v1/email%-accounts/%?")
      assert.truthy(l, r.err)
      assert.truthy(l:find("api_key=***", 1, true))
      assert.truthy(l:find("offset=0", 1, true) and l:find("limit=100", 1, true))
      assert.truthy(l:match(" %-> 200 in %d+ ms$"), l)
    end)

    it("shows the error answer's status and the save's", function()
      assert.truthy(find_line(lines,
        "^smartlua: GET /api/v1/email%-accounts/999999/%?api_key=%*%*%* %-> 404 in %d+ ms$"))
      assert.truthy(find_line(lines, "^smartlua: POST /api/v1/email%-accounts/save%?api_key=%*%*%* %-> 200 in %d+ ms$"))
      assert.truthy(r.out:find("http 404", 1, true))
    end)

    it("shows a retried attempt as such", function()
      assert.truthy(find_line(lines, "^smartlua: GET /api/v1/email%-accounts/3001/.* %-> 50%d in %d+ ms; retrying in"))
      assert.truthy(find_line(lines,
        "^smartlua: GET /api/v1/email%-accounts/3001/.* %-> 200 in %d+ ms %(attempt 2, retry after 50%d%)$"))
    end)

    it("shows request and response headers, bodies with passwords masked, and the rate state", function()
      assert.truthy(find_line(lines, "^smartlua:   > User%-Agent: smartlua/"))
      assert.truthy(find_line(lines, "^smartlua:   < Content%-Type: application/json"))
      assert.truthy(find_line(lines, "^smartlua:   rate: "))
      local body = find_line(lines, '^smartlua:   > {.*"from_email":"tracy@trace%-domain%.io"')
      assert.truthy(body, r.err)
      assert.truthy(body:find('"password":"********"', 1, true))
      assert.truthy(body:find('"imap_password":"********"', 1, true))
      assert.truthy(find_line(lines, '^smartlua:   < %[{'))
    end)
  end)

  it("-v writes only the attempt lines", function()
    local r = run(1)
    local lines = trace_lines(r)
    assert.equal(5, #lines, r.err) -- list, 404, 503 then 200, save
    for _, l in ipairs(lines) do assert.truthy(l:match("^smartlua: [A-Z]+ /api/v1/%S+ %-> %d+ in %d+ ms"), l) end
    assert_no_secrets(r)
  end)

  it("-vv adds headers and the rate state but no bodies", function()
    local r = run(2)
    local lines = trace_lines(r)
    assert.truthy(find_line(lines, "^smartlua:   > GET /api/v1/email%-accounts/%?api_key=%*%*%*"))
    assert.truthy(find_line(lines, "^smartlua:   < HTTP/1%.1 200"))
    assert.truthy(find_line(lines, "^smartlua:   rate: no x%-ratelimit headers; client pacing off"))
    assert.is_nil(find_line(lines, "tracy@trace%-domain"))
    assert_no_secrets(r)
  end)

  it("level 0 writes nothing", function()
    local r = run(0)
    assert.same({}, trace_lines(r))
  end)
end)

describe("core.mask_body", function()
  local function masked(v) return json.decode(core.mask_body(json.encode(v))) end

  it("masks string and number values of keys naming a password, token, secret or api key", function()
    assert.same({ smtp_password = "********", imap_password = "********", password = "********",
                  api_key = "********", refresh_token = "********", client_secret = "********", from_email = "a@b.io",
                  smtp_port = 587 },
      masked { smtp_password = "p1", imap_password = "p2", password = 12345678, api_key = "k", refresh_token = "r",
               client_secret = "s", from_email = "a@b.io", smtp_port = 587 })
  end)

  it("masks inside nested objects and arrays, and keeps null, booleans and other keys", function()
    -- any key holding "token" counts, token_type too: a harmless word lost beats a guess
    assert.same({ token = { access_token = "********", expiry_date = 1767225600000, token_type = "********" },
                  list = { { password = "********" }, { password = json.null } }, ok = true },
      masked { token = { access_token = "ya29.x", token_type = "Bearer", expiry_date = 1767225600000 },
               list = { { password = "p" }, { password = json.null } }, ok = true })
  end)

  it("is not fooled by escaped quotes in values or keys, or by a secret word as a value", function()
    assert.equal([[{"password":"********","note":"password"}]],
      core.mask_body([[{"password":"a\"b\\","note":"password"}]]))
    assert.equal([[{"x\"password":"********","y":"z"}]], core.mask_body([[{"x\"password":"v","y":"z"}]]))
    assert.equal([[{ "password" :  "********" , "n": 1}]], core.mask_body([[{ "password" :  "s e c" , "n": 1}]]))
  end)

  it("masks a value cut off at the end of the text", function()
    assert.equal([[{"a":1,"refresh_token":"********"]], core.mask_body([[{"a":1,"refresh_token":"1//abc-TOK]]))
  end)

  it("masks registered secrets and api_key= query values anywhere", function()
    core.add_secret("MaskBodySecret-77aa")
    assert.equal([[{"url":"https://x/y?api_key=***","m":"*** here"}]],
      core.mask_body([[{"url":"https://x/y?api_key=abc123","m":"MaskBodySecret-77aa here"}]]))
  end)

  it("leaves text that is not JSON as it is", function()
    assert.equal("plain text, no secrets", core.mask_body("plain text, no secrets"))
    assert.equal("", core.mask_body(""))
  end)
end)
