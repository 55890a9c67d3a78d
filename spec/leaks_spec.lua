-- The leak check: every command, error path and verbosity runs with a distinctive API key and
-- distinctive SMTP/IMAP passwords, then stdout, stderr, the REPL's screen and history, journals,
-- plans, the mock's request log and output, and every file a run wrote are searched for them, raw,
-- percent-encoded, base64 (how SmartLead answers passwords) and by their random parts.
--
-- Each case gets a private directory that is its HOME, XDG_STATE_HOME, XDG_CONFIG_HOME, TMPDIR
-- and cwd, so every file it writes lands there; the whole directory is walked afterwards. The
-- children run under `env -i`: nothing of the caller's environment reaches them.
-- Complements secrets_spec (the key in err values and tostring) and trace_spec (the -v levels).
-- SMARTLUA_SPEC_SCALE < 1 (the valgrind pass) runs a reduced matrix: -vvv and the error outcomes.
-- LEAKS_REPORT=FILE writes every finding to FILE; LEAKS_TIMING=1 prints the slowest cases.
local proc = require "proc"
local tmux = require "tmux"
local json = require "smartlead.json"
local smartlead = require "smartlead"

local q, BIN = proc.q, proc.BIN
local SCALE = tonumber(os.getenv("SMARTLUA_SPEC_SCALE") or "") or 1
local FULL = SCALE >= 1
local LEVELS = FULL and { "", "-v", "-vv", "-vvv" } or { "-vvv" }
local ANY = { 0, 1, 4 } -- a run under injected faults may end either way

---------------------------------------------------------------------------- the secrets

-- 2n random hex digits with at least one letter, so no run of digits (times, pids) can match.
local function hex(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local raw = f:read(n)
  f:close()
  local h = raw:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
  if not h:find("%a") then h = "e" .. h:sub(2) end
  return h
end

local function percent(s, lower)
  local fmt = lower and "%%%02x" or "%%%02X"
  return (s:gsub("[^%w%-%._~]", function(c) return fmt:format(c:byte()) end))
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n, chars = a << 16 | (b or 0) << 8 | (c or 0), 2 + (b and 1 or 0) + (c and 1 or 0)
    for j = 1, 4 do
      local idx = (n >> (6 * (4 - j))) & 63
      out[#out + 1] = j <= chars and B64:sub(idx + 1, idx + 1) or "="
    end
  end
  return table.concat(out)
end

local KEY = "sk-LEAK-" .. hex(6)
local SPECIAL = ("sk+LEAK/%s=%s&tail-%s"):format(hex(5), hex(5), hex(5)) -- travels percent-encoded
local WRONG = "sk-WRONG-" .. hex(6)                                        -- a 401's key is a secret too
-- 24 bytes each: base64 of them is a prefix of base64 of anything they start
local SMTP_PW = "pw-SMTP-LEAK-" .. hex(5) .. "x"
local IMAP_PW = "pw-IMAP-LEAK-" .. hex(5) .. "x"
local CSV_PW = 'pw"CSV,LEAK ' .. hex(5) -- quoted in CSV, escaped in JSON
-- what the mock stores for its seeded accounts: SEED_SMTP .. "-" .. id, SEED_IMAP .. "-" .. id
local SEED_SMTP = "pw-SEED-SMTP-" .. hex(5) .. "x"
local SEED_IMAP = "pw-SEED-IMAP-" .. hex(5) .. "x"

-- {label=, text=, key=} in every form a secret may take, longest first.
local NEEDLES = {}
do
  local function secret(label, value, is_key)
    local forms = { { "raw", value }, { "percent-encoded", percent(value) },
                    { "percent-encoded", percent(value, true) },
                    { "JSON-escaped", (value:gsub("/", "\\/"):gsub('"', '\\"')) } }
    if not is_key then forms[#forms + 1] = { "base64", (base64(value):gsub("=+$", "")) } end
    for frag in value:gmatch("%x+") do
      if #frag >= 10 then forms[#forms + 1] = { "random part", frag } end
    end
    local seen = {}
    for _, f in ipairs(forms) do
      if not seen[f[2]] then
        seen[f[2]] = true
        NEEDLES[#NEEDLES + 1] = { label = label, form = f[1], text = f[2], key = is_key }
      end
    end
  end
  secret("the API key", KEY, true)
  secret("the special-character API key", SPECIAL, true)
  secret("the wrong API key", WRONG, true)
  secret("the SMTP password", SMTP_PW)
  secret("the IMAP password", IMAP_PW)
  secret("the CSV password", CSV_PW)
  secret("a seeded SMTP password", SEED_SMTP)
  secret("a seeded IMAP password", SEED_IMAP)
  table.sort(NEEDLES, function(a, b) return #a.text > #b.text end)
end

---------------------------------------------------------------------------- searching

local stats = { runs = 0, sources = 0, occurrences = 0 }
local findings = {}

local function mask_all(s)
  for _, n in ipairs(NEEDLES) do
    s = s:gsub(n.text:gsub("%p", "%%%0"), "<" .. n.label .. ">")
  end
  return s
end

-- Records every secret found in text (one finding per secret and source), with context.
local function search(where, text, allow_keys)
  stats.sources = stats.sources + 1
  local reported = {}
  for _, n in ipairs(NEEDLES) do
    if not reported[n.label] and not (allow_keys and n.key) then
      local i = text:find(n.text, 1, true)
      if i then
        reported[n.label] = true
        local count, from = 0, 1
        while true do
          local j = text:find(n.text, from, true)
          if not j then break end
          count, from = count + 1, j + #n.text
        end
        stats.occurrences = stats.occurrences + count
        local context = mask_all(text:sub(math.max(1, i - 100), i + #n.text + 100))
        findings[#findings + 1] = ("%s: %s (%s) x%d, near: %s"):format(mask_all(where), n.label, n.form, count,
          ("%q"):format(context):gsub("\\\n", "\\n"))
      end
    end
  end
end

local function check(where, ok, message)
  if not ok then findings[#findings + 1] = mask_all(where .. ": " .. message) end
end

-- Fails the test with the findings since `mark` (at most 25 shown).
local function assert_clean(mark)
  local mine = {}
  for i = mark + 1, #findings do mine[#mine + 1] = findings[i] end
  if #mine > 25 then
    local n = #mine
    for i = #mine, 26, -1 do mine[i] = nil end
    mine[#mine + 1] = ("... and %d more"):format(n - 25)
  end
  assert(#mine == 0, #mine .. " leak(s) or failed runs:\n" .. table.concat(mine, "\n"))
end

local function files_under(dir)
  local p = assert(io.popen("find " .. q(dir) .. " -type f -print0 2>/dev/null"))
  local list = p:read("a")
  p:close()
  local out = {}
  for path in list:gmatch("([^%z]+)%z") do out[#out + 1] = path end
  table.sort(out)
  return out
end

local function search_tree(where, dir, allow)
  for _, path in ipairs(files_under(dir)) do
    local rel = path:sub(#dir + 2)
    search(where .. " / file " .. rel, proc.read(path) or "", allow and allow[rel])
  end
end

---------------------------------------------------------------------------- running things

local TMP, INPUTS
local BASE_PATH = os.getenv("PATH") or "/usr/local/bin:/usr/bin:/bin"

local function env_words(env)
  local names = {}
  for k in pairs(env) do names[#names + 1] = k end
  table.sort(names)
  local w = {}
  for i, k in ipairs(names) do w[i] = q(k .. "=" .. env[k]) end
  return table.concat(w, " ")
end

local function arg_words(args)
  local w = {}
  for i, a in ipairs(args) do w[i] = q(a) end
  return table.concat(w, " ")
end

-- A private tree: run/{home,state,config,tmp,cwd} (what the program may write), io/ (ours).
local ncases = 0
local function new_dir()
  ncases = ncases + 1
  local dir = ("%s/case%04d"):format(TMP, ncases)
  local r = dir .. "/run"
  os.execute(("mkdir -p %s %s %s %s %s %s"):format(q(r .. "/home"), q(r .. "/state"), q(r .. "/config"),
    q(r .. "/tmp"), q(r .. "/cwd"), q(dir .. "/io")))
  return { dir = dir, run = r, cwd = r .. "/cwd", io = dir .. "/io" }
end

local function base_env(ctx, key, url)
  return {
    PATH = BASE_PATH, LANG = "C.UTF-8", HOME = ctx.run .. "/home", XDG_STATE_HOME = ctx.run .. "/state",
    XDG_CONFIG_HOME = ctx.run .. "/config", TMPDIR = ctx.run .. "/tmp",
    SMARTLEAD_API_KEY = key, SMARTLEAD_BASE_URL = url, SMARTLUA_RATE = "off",
    LEAK_SMTP_PW = SMTP_PW, LEAK_IMAP_PW = IMAP_PW, LEAK_CSV_PW = CSV_PW, LEAK_WRONG = WRONG,
  }
end

local MOCKS = {}

-- `smartlua mock --port 0 --seed SEED` as its own process, with its own private tree.
local function start_mock(name, key)
  local ctx = new_dir()
  local h = { name = name, key = key, ctx = ctx, out = ctx.io .. "/out", err = ctx.io .. "/err", rc = ctx.io .. "/rc",
              pidfile = ctx.io .. "/pid" }
  local env = base_env(ctx, key, nil)
  env.SMARTLUA_RATE = nil
  local inner = ("echo $$ > %s; cd %s && exec env -i %s %s mock --port 0 --seed %s"):format(q(h.pidfile), q(ctx.cwd),
    env_words(env), q(BIN), q(INPUTS .. "/seed.json"))
  os.execute(("(sh -c %s >%s 2>%s </dev/null; echo $? >%s) >/dev/null 2>&1 </dev/null &"):format(q(inner), q(h.out),
    q(h.err), q(h.rc)))
  for _ = 1, 200 do -- up to 10 s
    local url = (proc.read(h.out) or ""):match("mock SmartLead API on (%S+)\n")
    if url then
      h.url, h.pid = url, tonumber((proc.read(h.pidfile) or ""):match("%d+"))
      h.admin = smartlead.client { api_key = key, base_url = url:gsub("/api/v1$", ""), rate = false, max_retries = 2 }
      return h
    end
    if proc.read(h.rc) then break end
    proc.nap(0.05)
  end
  error("smartlua mock did not start: " .. mask_all(proc.read(h.err) or ""))
end

local function stop_mock(h)
  if not h or h.stopped then return end
  h.stopped = true
  h.admin:close()
  if h.pid then os.execute("kill " .. h.pid .. " 2>/dev/null") end
  for _ = 1, 100 do
    local rc = proc.read(h.rc)
    if rc and rc:match("\n") then return tonumber(rc:match("%d+")) end
    proc.nap(0.05)
  end
  if h.pid then os.execute("kill -9 " .. h.pid .. " 2>/dev/null") end
end

local function admin(mock, method, path, body)
  local res, err = mock.admin:request(method, path, { body = body })
  assert(res ~= nil, "mock admin " .. method .. " " .. path .. ": " .. tostring(err))
  return res
end

local function set_knobs(mock, knobs)
  knobs = knobs or {}
  admin(mock, "POST", "/__mock/reset")
  admin(mock, "POST", "/__mock/config",
    { faults = knobs.faults or json.null, rate_limit = knobs.rate_limit or json.null })
end

local function code_ok(code, want)
  if type(want) == "number" then return code == want end
  for _, w in ipairs(want) do
    if code == w then return true end
  end
  return false
end

-- One build/smartlua run in the case's tree; returns {code=, out=, err=}.
local function run_step(ctx, step, i)
  local env = base_env(ctx, ctx.mock.key, ctx.mock.url)
  for k, v in pairs(step.env or {}) do env[k] = v or nil end
  local args = type(step.args) == "function" and step.args(ctx) or step.args
  local input = "/dev/null"
  if step.stdin then input = proc.write(ctx.io .. "/" .. i .. ".in", step.stdin) end
  local out, err = ctx.io .. "/" .. i .. ".out", ctx.io .. "/" .. i .. ".err"
  local _, how, code = os.execute(("cd %s && timeout -k 5 120 env -i %s %s %s <%s >%s 2>%s"):format(q(ctx.cwd),
    env_words(env), q(BIN), arg_words(args), q(input), q(out), q(err)))
  if how == "signal" then code = 128 + code end
  stats.runs = stats.runs + 1
  return { code = code, out = proc.read(out) or "", err = proc.read(err) or "", args = args }
end

local function describe_run(r)
  return "smartlua " .. table.concat(r.args, " ")
end

-- A case: {name=, steps={{args=, env=, stdin=, code=, expect=} | {fn=}}, knobs=, mock=, setup=,
-- allow=, check=}. allow: {relative path = true}: files that may hold the API key (the config
-- file it was written to). env values false unset a variable.
local function run_case(c)
  local ctx = new_dir()
  ctx.mock = c.mock or MOCKS.main
  set_knobs(ctx.mock, c.knobs)
  if c.setup then c.setup(ctx) end
  for i, step in ipairs(c.steps) do
    if step.fn then
      step.fn(ctx)
    else
      local r = run_step(ctx, step, i)
      local where = ("%s [step %d: %s]"):format(c.name, i, describe_run(r))
      search(where .. " / stdout", r.out)
      search(where .. " / stderr", r.err)
      check(where, code_ok(r.code, step.code or 0), ("exit %s, expected %s; stderr: %s"):format(tostring(r.code),
        type(step.code) == "table" and table.concat(step.code, "|") or tostring(step.code or 0), r.err:sub(-600)))
      if step.expect then
        check(where, (r.out .. r.err):find(step.expect, 1, true) ~= nil, ("did not show %q; stdout: %s stderr: %s")
          :format(step.expect, r.out:sub(1, 400), r.err:sub(-400)))
      end
    end
  end
  search(c.name .. " / mock request log", json.encode(admin(ctx.mock, "GET", "/__mock/log")))
  search_tree(c.name, ctx.run, c.allow)
  if c.check then c.check(ctx) end
  os.execute("rm -rf " .. q(ctx.dir))
end

local function run_cases(cases)
  local now = require("smartlead.core").monotime
  local mark, t0, runs, times = #findings, now(), stats.runs, {}
  for _, c in ipairs(cases) do
    local t = now()
    run_case(c)
    times[#times + 1] = { now() - t, c.name }
  end
  if os.getenv("LEAKS_TIMING") then
    io.stderr:write(("\n[leaks] %d cases, %d runs in %.1f s\n"):format(#cases, stats.runs - runs, now() - t0))
    table.sort(times, function(a, b) return a[1] > b[1] end)
    for i = 1, math.min(12, #times) do
      io.stderr:write(("  %.2f s  %s\n"):format(times[i][1], mask_all(times[i][2])))
    end
  end
  assert_clean(mark)
end

-- LEAKS_REPORT=FILE: every finding, one per line (the failure message shows the first 25).
local function write_report()
  local path = os.getenv("LEAKS_REPORT")
  if path and path ~= "" then proc.write(path, table.concat(findings, "\n") .. "\n") end
end

---------------------------------------------------------------------------- inputs

local ATTACH_ID -- an account that can be attached to campaign 4101 (connected, not a member)

local function csv_field(v)
  v = tostring(v)
  if v:find('[",\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

local CSV_COLS = { "from_name", "from_email", "user_name", "password", "smtp_host", "smtp_port", "imap_host",
  "imap_port", "imap_user_name", "imap_password", "warmup_enabled" }

local function csv_row(name, email, pw, ipw, host)
  host = host or "leak-test.io"
  local v = { name, email, email, pw, "smtp." .. host, 587, "imap." .. host, 993, email, ipw, "false" }
  for i, x in ipairs(v) do v[i] = csv_field(x) end
  return table.concat(v, ",")
end

local CSV_OK_TEXT = table.concat({ table.concat(CSV_COLS, ","),
  csv_row("Leak One", "leak.one@leak-test.io", SMTP_PW, IMAP_PW),
  csv_row("Leak Two", "leak.two@leak-test.io", CSV_PW, IMAP_PW) }, "\n") .. "\n"

-- every way a row can go wrong, each carrying a password
local CSV_MIXED_TEXT = table.concat({ table.concat(CSV_COLS, ","),
  csv_row("Leak Three", "leak.three@leak-test.io", SMTP_PW, IMAP_PW),
  csv_row("Bad Port", "bad.port@leak-test.io", SMTP_PW, IMAP_PW):gsub(",587,", ",abc,"),
  csv_row("No Password", "no.password@leak-test.io", "", IMAP_PW),
  csv_row("Bad Host", "bad.host@leak-test.io", SMTP_PW, IMAP_PW, "invalid.leak-test.io"),
  csv_row("Olivia Again", "olivia.hall@hypergrowth.dev", SMTP_PW, IMAP_PW),
  csv_row("Leak Three Again", "leak.three@leak-test.io", CSV_PW, IMAP_PW) }, "\n") .. "\n"

local CSV_BADCOL_TEXT = "from_name,from_email,user_name,passwd,smtp_host,smtp_port,imap_host,imap_port\n"
  .. ("Col,col@leak-test.io,col@leak-test.io,%s,smtp.leak-test.io,587,imap.leak-test.io,993\n"):format(SMTP_PW)

local function save_body(email, extra)
  local b = { from_name = "Api Leak", from_email = email, user_name = email, password = SMTP_PW,
    imap_password = IMAP_PW, imap_user_name = email, smtp_host = "smtp.leak-test.io", smtp_port = 587,
    imap_host = "imap.leak-test.io", imap_port = 993, warmup_enabled = false }
  for k, v in pairs(extra or {}) do b[k] = v end
  return json.encode(b)
end

local SAVE_TEXT = save_body("api.leak@leak-test.io")
local SAVE_INVALID_TEXT = json.encode { password = SMTP_PW, imap_password = IMAP_PW, smtp_port = "not-a-port",
  from_email = "api.invalid@leak-test.io" }
local BAD_JSON_TEXT = ('{"password": "%s", "imap_password": "%s", '):format(SMTP_PW, IMAP_PW)

-- The scripts read the key and the passwords from the environment, as users' scripts do.
local SCRIPT_CALLS = [[
local sl = require "smartlead"
local c = sl.client()
local k = os.getenv("SMARTLEAD_API_KEY")
print(c); print(tostring(c)); print(c:base_url())
print(c:options()); print(sl.show(c:options()))
for name, v in pairs(c:options()) do print(name, v) end
print(sl.show { api_key = k, note = k, nested = { k, "x" .. k }, password = os.getenv("LEAK_SMTP_PW"),
  imap_password = os.getenv("LEAK_IMAP_PW") })
local a = assert(c:get_email_account(3001))
print(sl.show(a)); print(sl.show(a, { columns = { "id", "password", "imap_password" } }))
local list = assert(c:get_email_accounts { limit = 5 })
print(sl.show(list)); print(sl.show(list, { columns = { "id", "from_email", "password", "imap_password" } }))
print(sl.show(assert(c:get_campaign_email_accounts(4101))))
local _, e = c:get_email_account(999999); print(e); print(sl.show(e))
_, e = c:request("GET", "/" .. k); print(e); print(sl.show(e))
_, e = c:request("GET", "/email-accounts/", { query = { foo = k } }); print(e)
_, e = c:get_email_accounts { esp = k }; print(e)
_, e = c:update_email_account(3001, { [k] = 1 }); print(e)
local n = 0
for acct in c:accounts { esp = "GMAIL" } do n = n + 1 end
print("accounts", n)
]]

local SCRIPT_SAVE = [[
local sl = require "smartlead"
local c = sl.client()
local pw, ipw = os.getenv("LEAK_SMTP_PW"), os.getenv("LEAK_IMAP_PW")
local function fields(email, extra)
  local f = { from_name = "Script Leak", from_email = email, user_name = email, password = pw, imap_password = ipw,
    imap_user_name = email, smtp_host = "smtp.leak-test.io", smtp_port = 587, imap_host = "imap.leak-test.io",
    imap_port = 993, warmup_enabled = false }
  for k, v in pairs(extra or {}) do f[k] = v end
  return f
end
local r, e = c:add_smtp_account(fields("script.leak@leak-test.io")); print(sl.show(r or e))
local a, e2 = c:get_email_account_by_email("script.leak@leak-test.io"); print(sl.show(a or e2))
r, e = c:add_smtp_account(fields("script.leak@leak-test.io")); print(e); print(sl.show(e))
r, e = c:add_smtp_account(fields("bad.host@leak-test.io", { smtp_host = "smtp.invalid.leak-test.io" })); print(e)
r, e = c:add_smtp_account(fields("nul@leak-test.io", { password = pw .. "\0" })); print(e); print(sl.show(e))
r, e = c:add_smtp_account(fields("num@leak-test.io", { imap_password = 1234567 })); print(e)
r, e = c:add_smtp_account { password = pw, imap_password = ipw }; print(e)
r, e = c:add_smtp_account(fields("typo@leak-test.io", { pasword = pw })); print(e)
r, e = c:request("POST", "/email-accounts/save", { body = { password = pw, imap_password = ipw, smtp_port = "x" } })
print(e); print(sl.show(e))
r, e = c:request("POST", "/email-accounts/save", { body = fields("raw.save@leak-test.io") }); print(sl.show(r or e))
r, e = c:add_smtp_account(fields("olivia.hall@hypergrowth.dev", { id = 3001 })); print(sl.show(r or e))
print(sl.show(c:get_email_account(3001)))
]]

-- With max_retries = 0 a fault is the final answer: every kind of failure reaches the script.
local SCRIPT_FAIL = [[
local sl = require "smartlead"
local c = sl.client { max_retries = 0 }
local k, pw, ipw = os.getenv("SMARTLEAD_API_KEY"), os.getenv("LEAK_SMTP_PW"), os.getenv("LEAK_IMAP_PW")
local _, e = c:get_email_account(3001); print(e); print(sl.show(e))
_, e = c:update_email_account(3001, { max_email_per_day = 44 }); print(e)
_, e = c:add_smtp_account { from_name = "Fail Leak", from_email = "fail.leak@leak-test.io",
  user_name = "fail.leak@leak-test.io", password = pw, imap_password = ipw, smtp_host = "smtp.leak-test.io",
  smtp_port = 587, imap_host = "imap.leak-test.io", imap_port = 993, warmup_enabled = false }
print(e); print(sl.show(e))
_, e = c:request("GET", "/" .. k, { query = { q = k } }); print(e)
local list, e3 = c:all_accounts(); print(e3); local report = c:each({ 3001, 3002, 999999 }, function(id)
  return c:update_email_account(id, { max_email_per_day = 45 }) end)
print(sl.show(report))
error(e3 or e or "no error at all")
]]

local SCRIPT_ERRORS = {
  key_in_error = [[
local k = os.getenv("SMARTLEAD_API_KEY")
local function f() error("failed for " .. k .. " at https://x/?api_key=" .. k) end
f()]],
  key_in_tostring = [[error(setmetatable({}, { __tostring = function() return "object " .. ]]
    .. [[os.getenv("SMARTLEAD_API_KEY") end }))]],
  key_in_local = [[local function use(key) return key + 1 end; use(os.getenv("SMARTLEAD_API_KEY"))]],
  wrong_key = [[
local sl = require "smartlead"
local c = sl.client { api_key = os.getenv("LEAK_WRONG") }
print(c)
local _, e = c:get_email_account(3001); print(e); print(sl.show(e))
error(e)]],
  refused_base_url = [[require("smartlead").client { base_url = "http://evil.example/?api_key=" .. ]]
    .. [[os.getenv("SMARTLEAD_API_KEY") }]],
  key_as_option = [[require("smartlead").client { [os.getenv("SMARTLEAD_API_KEY")] = 1 }]],
  error_in_each = [[
local sl = require "smartlead"
local c = sl.client()
local r = c:each({ 3001, 3002 }, function(id) error("in each " .. os.getenv("SMARTLEAD_API_KEY")) end)
print(sl.show(r))
error(r.failed[1].error)]],
  assert_err = [[
local sl = require "smartlead"
assert(sl.client():request("GET", "/" .. os.getenv("SMARTLEAD_API_KEY")))]],
}

local SCRIPT_WRITER = [[
local sl = require "smartlead"
local c = sl.client()
local attach = tonumber(arg[1])
assert(c:update_email_account(3001, { max_email_per_day = 37, signature = "leak check" }))
assert(c:update_warmup(3002, { warmup_enabled = true, total_warmup_per_day = 21 }))
assert(c:add_campaign_email_accounts(4101, { attach }))
assert(c:remove_campaign_email_accounts(4101, { 3003 }))
print(sl.show(assert(c:request("POST", "/email-accounts/save", { body = { id = 3004, from_name = "Resaved",
  from_email = "resaved.leak@leak-test.io", user_name = "resaved.leak@leak-test.io",
  password = os.getenv("LEAK_SMTP_PW"), smtp_host = "smtp.leak-test.io", smtp_port = 587,
  imap_host = "imap.leak-test.io", imap_port = 993, warmup_enabled = false } }))))
-- last, so the resume case (which cuts the journal's last record) checks a save in flight
print(sl.show(assert(c:add_smtp_account { from_name = "Writer Leak", from_email = "writer.leak@leak-test.io",
  user_name = "writer.leak@leak-test.io", password = os.getenv("LEAK_SMTP_PW"),
  imap_password = os.getenv("LEAK_IMAP_PW"), smtp_host = "smtp.leak-test.io", smtp_port = 587,
  imap_host = "imap.leak-test.io", imap_port = 993, warmup_enabled = false })))
]]

local function write_inputs()
  -- the bundled fixtures with distinctive stored passwords
  local seed = json.decode(assert(proc.read(proc.ROOT .. "/spec/fixtures/seed.json")))
  local members, owner = {}, nil
  for _, c in ipairs(seed.campaigns) do
    if c.id == 4101 then
      owner = c.user_id
      for _, id in ipairs(c.email_account_ids) do members[id] = true end
    end
  end
  for _, a in ipairs(seed.accounts) do
    a.password, a.imap_password = SEED_SMTP .. "-" .. a.id, SEED_IMAP .. "-" .. a.id
    if not ATTACH_ID and a.user_id == owner and not members[a.id] and a.is_smtp_success and a.is_imap_success
        and not a.is_suspended then
      ATTACH_ID = a.id
    end
  end
  assert(ATTACH_ID, "no account to attach in the fixtures")
  proc.write(INPUTS .. "/seed.json", json.encode(seed))
  proc.write(INPUTS .. "/accounts.csv", CSV_OK_TEXT)
  proc.write(INPUTS .. "/mixed.csv", CSV_MIXED_TEXT)
  proc.write(INPUTS .. "/badcol.csv", CSV_BADCOL_TEXT)
  proc.write(INPUTS .. "/save.json", SAVE_TEXT)
  proc.write(INPUTS .. "/save_invalid.json", SAVE_INVALID_TEXT)
  proc.write(INPUTS .. "/bad.json", BAD_JSON_TEXT)
  proc.write(INPUTS .. "/calls.lua", SCRIPT_CALLS)
  proc.write(INPUTS .. "/save.lua", SCRIPT_SAVE)
  proc.write(INPUTS .. "/fail.lua", SCRIPT_FAIL)
  proc.write(INPUTS .. "/writer.lua", SCRIPT_WRITER)
  for name, text in pairs(SCRIPT_ERRORS) do proc.write(INPUTS .. "/" .. name .. ".lua", text) end
  proc.write(INPUTS .. "/knobs_key.json", json.encode { api_key = KEY, latency_ms = 0 })
  proc.write(INPUTS .. "/knobs_bad.json", "api_key = " .. KEY .. "\n")
end

local function input(name) return INPUTS .. "/" .. name end

---------------------------------------------------------------------------- the matrix

-- Global options go anywhere on a subcommand's line: the level goes last.
local function with_level(args, level)
  local out = { table.unpack(args) }
  if level ~= "" then out[#out + 1] = level end
  return out
end

-- Before the script (or -e, or -): smartlua [-v..] script.lua args.
local function script_args(level, args)
  local out = {}
  if level ~= "" then out[1] = level end
  for _, a in ipairs(args) do out[#out + 1] = a end
  return out
end

local fault_seed = 0
local function mixed_faults()
  fault_seed = fault_seed + 1
  return { faults = { seed = fault_seed, p5xx = 0.12, p429 = 0.06, drop = 0.08, drop_after = 0.08, truncate = 0.06,
    html = 0.05, empty = 0.03, text = 0.03 } }
end

local CONFIG_FILE = "config/smartlua/config"

local function write_config(ctx, text, mode)
  os.execute("mkdir -p " .. q(ctx.run .. "/config/smartlua") .. " && chmod 700 " .. q(ctx.run .. "/config/smartlua"))
  local path = proc.write(ctx.run .. "/" .. CONFIG_FILE, text)
  os.execute(("chmod %s %s"):format(mode or "600", q(path)))
end

-- Each entry: { args, outcome, code, stdin=, setup=, allow=, env=, expect= }. Outcomes: ok, usage,
-- err (validation and other errors), e404, e401 (the wrong key), faults (mixed injected faults),
-- rate (the server's rate limit).
local function cli_entries()
  local E = {}
  local function add(args, outcome, code, extra)
    local e = { args = args, outcome = outcome, code = code }
    for k, v in pairs(extra or {}) do e[k] = v end
    E[#E + 1] = e
  end
  local id = tostring(ATTACH_ID)
  -- accounts list
  add({ "accounts", "list", "--format", "json" }, "ok", 0)
  add({ "accounts", "list", "--format", "ndjson" }, "ok", 0)
  add({ "accounts", "list", "--format", "csv" }, "ok", 0)
  add({ "accounts", "list", "--format", "table" }, "ok", 0)
  add({ "accounts", "list", "--format", "csv", "--fields", "id,from_email,password,imap_password" }, "ok", 0,
    { expect = "********" })
  add({ "accounts", "list", "--format", "json", "--fields", "id,password,imap_password", "--esp", "GMAIL" }, "ok", 0)
  add({ "accounts", "list", "--where", "a.password ~= nil and a.id < 3010", "--format", "ndjson" }, "ok", 0)
  add({ "accounts", "list", "--esp", "BOGUS" }, "usage", 2)
  add({ "accounts", "list", "--password", SMTP_PW }, "usage", 2)
  add({ "accounts", "list", "--api-key", KEY }, "usage", 2)
  add({ "accounts", "list", "--where", "a.password ==" }, "usage", 2)
  add({ "accounts", "list", "--where", "error(a.password)" }, "err", 1)
  add({ "accounts", "list", "--where", "math.floor(a.imap_password)" }, "err", 1)
  add({ "accounts", "list", "--format", "json" }, "e401", 1)
  add({ "accounts", "list", "--format", "json" }, "faults", ANY)
  add({ "accounts", "list", "--format", "ndjson" }, "rate", 0)
  -- accounts get
  add({ "accounts", "get", "3001" }, "ok", 0)
  add({ "accounts", "get", "3001", "--format", "table" }, "ok", 0, { expect = "********" })
  add({ "accounts", "get", "3001", "--format", "csv" }, "ok", 0)
  add({ "accounts", "get", "3001", "--format", "ndjson", "--fetch-campaigns" }, "ok", 0)
  add({ "accounts", "get", "3001", "--fields", "id,password,imap_password", "--format", "json" }, "ok", 0)
  add({ "accounts", "get", "3001", "--fields", "password,imap_password", "--format", "table" }, "ok", 0)
  add({ "accounts", "get", "abc" }, "usage", 2)
  add({ "accounts", "get", KEY }, "usage", 2)
  add({ "accounts", "get", "999999" }, "e404", 1)
  add({ "accounts", "get", "3001" }, "e401", 1)
  add({ "accounts", "get", "3001", "--format", "table" }, "faults", ANY)
  -- accounts update
  add({ "accounts", "update", "3001", "--max-email-per-day", "40", "--signature", "Best, Leak" }, "ok", 0)
  add({ "accounts", "update", "3002", "--total-warmup-per-day", "21", "--reply-rate-percentage", "20" }, "ok", 0)
  add({ "accounts", "update", "3001", "--max-email-per-day", "41", "--plan" }, "ok", 0)
  add({ "accounts", "update", "3001", "--max-email-per-day", "-5" }, "usage", 2)
  add({ "accounts", "update", "3001", "--password", SMTP_PW }, "usage", 2)
  add({ "accounts", "update", "3001", "--imap-password=" .. IMAP_PW }, "usage", 2)
  add({ "accounts", "update", "3001", "--max-emails-per-day", "4" }, "usage", 2)
  add({ "accounts", "update", "999999", "--max-email-per-day", "40" }, "e404", 1)
  add({ "accounts", "update", "3001", "--max-email-per-day", "40" }, "e401", 1)
  add({ "accounts", "update", "3001", "--max-email-per-day", "42" }, "faults", ANY)
  -- accounts add
  add({ "accounts", "add", "--csv", input("accounts.csv") }, "ok", 0)
  add({ "accounts", "add", "--csv", "-", "--format", "csv" }, "ok", 0, { stdin = CSV_OK_TEXT })
  add({ "accounts", "add", "--csv", input("accounts.csv"), "--plan" }, "ok", 0)
  add({ "accounts", "add", "--csv", input("mixed.csv"), "--format", "json" }, "err", 4)
  add({ "accounts", "add", "--csv", input("badcol.csv") }, "err", 1)
  add({ "accounts", "add" }, "usage", 2)
  add({ "accounts", "add", "--csv", input("accounts.csv"), "--password", SMTP_PW }, "usage", 2)
  add({ "accounts", "add", "--csv", input("accounts.csv") }, "e401", 4)
  add({ "accounts", "add", "--csv", input("accounts.csv") }, "faults", ANY)
  -- campaigns
  add({ "campaigns", "attach", "4101", "--ids", id }, "ok", 0)
  add({ "campaigns", "attach", "4101", "--ids", "-" }, "ok", 0, { stdin = id .. "\n" })
  add({ "campaigns", "detach", "4101", "--ids", "3001,3002" }, "ok", 0)
  add({ "campaigns", "detach", "4101", "--ids", "3001", "--plan" }, "ok", 0)
  add({ "campaigns", "accounts", "4101" }, "ok", 0)
  add({ "campaigns", "accounts", "4101", "--format", "csv", "--fields", "id,password,imap_password" }, "ok", 0)
  add({ "campaigns", "accounts", "4101", "--format", "table" }, "ok", 0)
  add({ "campaigns", "attach", "4101", "--ids", "abc" }, "usage", 2)
  add({ "campaigns", "attach", "4101" }, "usage", 2)
  add({ "campaigns", "attach", KEY, "--ids", "3001" }, "usage", 2)
  add({ "campaigns", "attach", "999999", "--ids", "3001" }, "e404", 1)
  add({ "campaigns", "accounts", "999999" }, "e404", 1)
  add({ "campaigns", "detach", "4101", "--ids", "3001" }, "e401", 1)
  add({ "campaigns", "accounts", "4101" }, "e401", 1)
  add({ "campaigns", "attach", "4101", "--ids", id }, "faults", ANY)
  -- api
  add({ "api", "GET", "/email-accounts/3001/" }, "ok", 0, { expect = '"password": "********"' })
  add({ "api", "GET", "/email-accounts/", "-q", "limit=5", "-q", "esp=GMAIL" }, "ok", 0)
  add({ "api", "GET", "/campaigns/4101/email-accounts" }, "ok", 0)
  add({ "api", "POST", "/email-accounts/3001", "-d", '{"max_email_per_day": 43}' }, "ok", 0)
  add({ "api", "POST", "/email-accounts/save", "-d", "@" .. input("save.json") }, "ok", 0, { check = function(ctx)
    local state = admin(ctx.mock, "GET", "/__mock/state")
    local stored = false
    for _, a in ipairs(state.accounts) do stored = stored or a.password == SMTP_PW end
    check("api POST save", stored, "the SMTP password was not stored: nothing was there to leak")
  end })
  add({ "api", "POST", "/email-accounts/save", "-d", "@-" }, "ok", 0, { stdin = SAVE_TEXT })
  add({ "api", "POST", "/email-accounts/save", "-d", SAVE_TEXT }, "ok", 0)
  add({ "api", "POST", "/email-accounts/save", "-d", "@" .. input("save.json"), "--plan" }, "ok", 0)
  -- a URL pasted with the key in it: refused whole
  add({ "api", "POST", "/email-accounts/3001?api_key=" .. KEY, "-d", '{"max_email_per_day": 44}' }, "usage", 2)
  add({ "api", "GET", "/email-accounts/?api_key=" .. KEY .. "&limit=2" }, "usage", 2)
  add({ "api", "GET", "/email-accounts/", "-q", "api_key=" .. KEY }, "usage", 2)
  add({ "api", "POST", "/email-accounts/save", "-d", "@" .. input("bad.json") }, "usage", 2)
  add({ "api", "POST", "/email-accounts/save", "-d", BAD_JSON_TEXT }, "usage", 2)
  add({ "api", "BOGUS", "/email-accounts/" }, "usage", 2)
  add({ "api", "POST", "/email-accounts/save", "-d", "@" .. input("save_invalid.json") }, "err", 1)
  add({ "api", "GET", "/email-accounts/", "-q", "foo=" .. KEY }, "err", { 0, 1 })
  add({ "api", "GET", "/no-such-endpoint" }, "e404", 1)
  add({ "api", "GET", "/" .. KEY }, "e404", 1)
  add({ "api", "GET", "/email-accounts/999999/" }, "e404", 1)
  add({ "api", "POST", "/email-accounts/999999", "-d", '{"max_email_per_day": 40}' }, "e404", 1)
  add({ "api", "GET", "/email-accounts/3001/" }, "e401", 1)
  add({ "api", "POST", "/email-accounts/save", "-d", "@" .. input("save.json") }, "e401", 1)
  add({ "api", "GET", "/email-accounts/3001/" }, "faults", ANY)
  add({ "api", "POST", "/email-accounts/save", "-d", "@" .. input("save.json") }, "faults", ANY)
  -- config
  local allow = { [CONFIG_FILE] = true }
  local function key_file(ctx)
    write_config(ctx, ("api_key = %s\n\n[acme]\napi_key = %s\nrate = 20/2\n"):format(KEY, KEY))
  end
  add({ "config", "list" }, "ok", 0)
  add({ "config", "list", "--format", "json" }, "ok", 0)
  add({ "config", "list", "--profile", "acme" }, "ok", 0,
    { setup = key_file, allow = allow, env = { SMARTLEAD_API_KEY = false } })
  add({ "config", "set", "api_key", "-" }, "ok", 0, { stdin = KEY .. "\n", allow = allow })
  add({ "config", "set", "api_key", "-", "--profile", "acme" }, "ok", 0, { stdin = KEY .. "\r\n", allow = allow })
  add({ "config", "set", "api_key", KEY }, "ok", 0, { allow = allow })
  add({ "config", "set", "rate", "10/2" }, "ok", 0)
  add({ "accounts", "get", "3001" }, "ok", 0, { setup = key_file, allow = allow, env = { SMARTLEAD_API_KEY = false } })
  add({ "config", "set", "bogus", "x" }, "usage", 2)
  add({ "config", "set", "api_key" }, "usage", 2)
  add({ "config", "set", "api_key", "-" }, "usage", 2, { stdin = "" })
  add({ "config", "list" }, "err", ANY, { env = { SMARTLEAD_API_KEY = false },
    setup = function(ctx) write_config(ctx, ("api_key = %s\n"):format(KEY), "644") end, allow = allow })
  add({ "config", "list" }, "err", ANY, { env = { SMARTLEAD_API_KEY = false },
    setup = function(ctx) write_config(ctx, ("api_key %s\n[acme\napi_key == %s\n"):format(KEY, KEY)) end,
    allow = allow })
  add({ "accounts", "get", "3001" }, "err", { 1, 2 }, { env = { SMARTLEAD_API_KEY = false },
    setup = function(ctx) write_config(ctx, ("api_key %s\n"):format(KEY)) end, allow = allow })
  add({ "accounts", "get", "999999" }, "e404", 1,
    { setup = key_file, allow = allow, env = { SMARTLEAD_API_KEY = false } })
  -- a base URL or a key the client refuses
  add({ "accounts", "get", "3001" }, "err", { 1, 2 },
    { env = { SMARTLEAD_BASE_URL = "http://evil.example/" .. KEY .. "/api/v1?api_key=" .. KEY } })
  add({ "accounts", "get", "3001" }, "err", { 1, 2 }, { env = { SMARTLEAD_API_KEY = "two words " .. KEY } })
  add({ "config", "list" }, "err", ANY, { env = { SMARTLEAD_API_KEY = "two words " .. KEY } })
  -- the mock subcommand's error paths, and --mock in-process seeded with distinctive passwords
  add({ "mock", "--bogus" }, "usage", 2)
  add({ "mock", "--knobs", input("knobs_key.json") }, "usage", 2)
  add({ "mock", "--knobs", input("knobs_bad.json") }, "usage", 2)
  add({ "accounts", "get", "3001", "--mock=" .. input("seed.json"), "--format", "table" }, "ok", 0)
  add({ "accounts", "list", "--mock=" .. input("seed.json"), "--format", "csv",
    "--fields", "id,password,imap_password" }, "ok", 0)
  add({ "api", "GET", "/email-accounts/3001/", "--mock=" .. input("seed.json") }, "ok", 0)
  add({ "accounts", "get", "999999", "--mock=" .. input("seed.json") }, "e404", 1)
  return E
end

local ERROR_OUTCOMES = { usage = true, err = true, e404 = true, e401 = true, faults = true }

local function entry_case(e, level, mock)
  local env = {}
  for k, v in pairs(e.env or {}) do env[k] = v end
  if e.outcome == "e401" then env.SMARTLEAD_API_KEY = WRONG end
  local knobs
  if e.outcome == "faults" then knobs = mixed_faults() end
  if e.outcome == "rate" then
    knobs = { rate_limit = { requests = 2, per = 1 } }
  end
  local args = with_level(e.args, level)
  local expect = e.expect or (e.outcome == "e401" and "401") or (e.outcome == "e404" and "404") or nil
  return {
    name = ("%s [%s%s]"):format(table.concat(args, " "), e.outcome, mock and (", " .. mock.name .. " key") or ""),
    mock = mock, knobs = knobs, setup = e.setup, allow = e.allow, check = e.check,
    steps = { { args = args, env = env, stdin = e.stdin, code = e.code, expect = expect } },
  }
end

-- The first entry of each subcommand and outcome runs at every level; the other variants
-- (formats, fields, inputs) at -vvv, whose trace holds what the lower levels show and more.
local function cli_cases()
  local cases, seen = {}, {}
  for _, e in ipairs(cli_entries()) do
    if FULL or ERROR_OUTCOMES[e.outcome] then
      local cell = e.args[1] .. " " .. e.args[2] .. " " .. e.outcome
      for _, level in ipairs(seen[cell] and { "-vvv" } or LEVELS) do cases[#cases + 1] = entry_case(e, level) end
      seen[cell] = true
    end
  end
  return cases
end

local FAULT_KINDS = { "p5xx", "p429", "drop", "drop_after", "truncate", "html", "empty", "text" }

local function script_cases()
  local cases = {}
  local function add(name, args, code, extra)
    for _, level in ipairs(extra and extra.levels or LEVELS) do
      local c = { name = ("script %s [%s]"):format(name, level),
        steps = { { args = script_args(level, args), code = code } } }
      for k, v in pairs(extra or {}) do
        if k == "stdin" or k == "env" then c.steps[1][k] = v elseif k ~= "levels" then c[k] = v end
      end
      cases[#cases + 1] = c
    end
  end
  -- calls.lua and save.lua make writes the API refuses on purpose: exit 4
  if FULL then
    add("calls.lua", { input("calls.lua") }, 4)
    add("calls.lua --plan", { "--plan", input("calls.lua") }, { 0, 4 }, { levels = { "-vvv" } })
    add("save.lua", { input("save.lua") }, 4)
    add("save.lua --no-journal", { "--no-journal", input("save.lua") }, 0, { levels = { "-vvv" } })
    add("save.lua --plan --plan-out", { "--plan", "--plan-out", "plan.json", input("save.lua") }, { 0, 4 },
      { levels = { "-vvv" } })
    add("calls.lua -i (stdin not a terminal)", { "-i", input("calls.lua") }, 4, { levels = { "-vvv" } })
  end
  add("calls.lua, wrong key", { input("calls.lua") }, 1, { env = { SMARTLEAD_API_KEY = WRONG } })
  local names = {}
  for name in pairs(SCRIPT_ERRORS) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do add(name .. ".lua", { input(name .. ".lua") }, 1) end
  add("-e error(key)", { "-e", 'error("key " .. os.getenv("SMARTLEAD_API_KEY"))' }, 1)
  add("- (stdin)", { "-" }, 1, { stdin = SCRIPT_ERRORS.key_in_error })
  for _, kind in ipairs(FAULT_KINDS) do
    add("fail.lua, " .. kind .. " every time", { input("fail.lua") }, 1,
      { knobs = { faults = { seed = 1, [kind] = 1 } } })
  end
  add("fail.lua, server rate limit", { input("fail.lua") }, 1, { knobs = { rate_limit = { requests = 2, per = 1 } },
    levels = { "-vvv" } })
  add("calls.lua --mock=seed", { "--mock=" .. input("seed.json"), input("calls.lua") }, 4, { levels = { "-vvv" } })
  return cases
end

-- Plans, apply, undo, journals and resume, for a script and for the one-line commands.
local function flow_cases(mock, levels)
  local cases = {}
  local suffix = mock and (", " .. mock.name .. " key") or ""
  local function newest_journal(ctx)
    local list = {}
    for _, path in ipairs(files_under(ctx.run .. "/state")) do
      if path:match("%.jsonl$") then list[#list + 1] = path end
    end
    assert(#list > 0, "no journal was written")
    return list[#list]
  end
  local function cut_last_record(ctx)
    local path = ctx.cwd .. "/j.jsonl"
    local text = assert(proc.read(path), "no journal j.jsonl")
    local last = text:match("([^\n]*\n)$") or ""
    proc.write(path, text:sub(1, #text - #last))
  end
  local writer = input("writer.lua")
  local id = tostring(ATTACH_ID)
  for _, level in ipairs(levels or LEVELS) do
    local function L(args) return script_args(level, args) end
    local function add(name, steps, extra)
      if extra and extra.secondary and level ~= "-vvv" then return end
      local c = { name = ("%s [%s%s]"):format(name, level, suffix), steps = steps, mock = mock }
      cases[#cases + 1] = c
    end
    add("writer.lua, journaled, then undo", {
      { args = L { writer, id }, code = 0 },
      { args = function(ctx) return { "undo", level ~= "" and level or "--yes", newest_journal(ctx) } end,
        code = { 0, 4 } },
    })
    add("writer.lua --plan --plan-out, apply, undo", {
      { args = L { "--plan", "--plan-out", "plan.json", writer, id }, code = 0 },
      { args = { "apply", level ~= "" and level or "--yes", "plan.json" }, code = { 0, 4 } },
      { args = function(ctx) return { "undo", level ~= "" and level or "--yes", newest_journal(ctx) } end,
        code = { 0, 4 } },
    })
    add("writer.lua --journal, cut, --resume", {
      { args = L { "--journal", "j.jsonl", writer, id }, code = 0 },
      { fn = cut_last_record },
      { args = L { "--resume", "j.jsonl", writer, id }, code = { 0, 4 } },
      { args = { "undo", level ~= "" and level or "--yes", "j.jsonl" }, code = { 0, 4 } },
    })
    add("writer.lua --max-changes 1", { { args = L { "--max-changes", "1", writer, id }, code = 3 } },
      { secondary = true })
    add("writer.lua, wrong key", { { args = L { writer, id }, code = 1, env = { SMARTLEAD_API_KEY = WRONG } } },
      { secondary = true })
    add("accounts update --plan-out, apply, undo", {
      { args = with_level({ "accounts", "update", "3001", "--max-email-per-day", "39", "--plan-out", "plan.json" },
        level), code = 0 },
      { args = { "apply", level ~= "" and level or "--yes", "plan.json" }, code = 0 },
      { args = function(ctx) return { "undo", level ~= "" and level or "--yes", newest_journal(ctx) } end, code = 0 },
    })
    add("accounts add --plan-out, apply", {
      { args = with_level({ "accounts", "add", "--csv", input("accounts.csv"), "--plan-out", "plan.json" }, level),
        code = 0 },
      { args = { "apply", level ~= "" and level or "--yes", "plan.json" }, code = { 0, 4 } },
    })
    add("api POST save --plan-out, apply; api POST --journal, undo", {
      { args = with_level({ "api", "POST", "/email-accounts/save", "-d", "@" .. input("save.json"),
        "--plan-out", "plan.json" }, level), code = 0 },
      { args = { "apply", level ~= "" and level or "--yes", "plan.json" }, code = { 0, 4 } },
      { args = with_level({ "api", "POST", "/email-accounts/save", "-d", "@" .. input("save.json"),
        "--journal", "j.jsonl" }, level), code = 0 },
      { args = with_level({ "api", "POST", "/email-accounts/3001?api_key=" .. (mock and mock.key or KEY), "-d",
        '{"max_email_per_day": 38}', "--journal", "j.jsonl" }, level), code = 2 },
      { args = with_level({ "api", "POST", "/email-accounts/3001", "-d", '{"max_email_per_day": 38}',
        "--journal", "j.jsonl" }, level), code = 0 },
      { args = { "undo", level ~= "" and level or "--yes", "j.jsonl" }, code = { 0, 4 } },
    })
    add("campaigns attach --journal, undo", {
      { args = with_level({ "campaigns", "attach", "4101", "--ids", id, "--journal", "j.jsonl" }, level), code = 0 },
      { args = { "undo", level ~= "" and level or "--yes", "j.jsonl" }, code = 0 },
    })
    add("api POST save with the passwords inline, journal list, journal show --last, undo --last", {
      { args = with_level({ "api", "POST", "/email-accounts/save", "-d", SAVE_TEXT }, level), code = 0 },
      { args = { "journal", "list", "--format", "table" }, code = 0 }, -- no request: no -v
      { args = { "journal", "show", "--last", "--format", "json" }, code = 0 },
      { args = { "journal", "show", "--last", "--format", "table" }, code = 0 },
      { args = { "undo", "--last", level ~= "" and level or "--yes" }, code = { 0, 4 } },
    })
    add("accounts update --ids, --where --plan; campaigns attach --where", {
      { args = with_level({ "accounts", "update", "--ids", "3001,3002", "--max-email-per-day", "37" }, level),
        code = 0 },
      { args = with_level({ "accounts", "update", "--where", "a.id <= 3003", "--max-email-per-day", "36", "--plan" },
        level), code = 0 },
      { args = with_level({ "campaigns", "attach", "4101", "--where", "a.id == " .. id }, level), code = { 0, 4 } },
      { args = with_level({ "accounts", "list", "--count", "--where", "reputation(a) < 90" }, level), code = 0 },
    }, { secondary = true })
    add("undo of a journal that is not there", { { args = { "undo", level ~= "" and level or "--yes", "missing.jsonl" },
      code = { 1, 2 } } }, { secondary = true })
  end
  return cases
end

-- The special-character key: a cut of the matrix against a mock that has that key.
local function special_cases(mock)
  local levels = FULL and { "", "-vvv" } or { "-vvv" }
  local id = tostring(ATTACH_ID)
  local allow = { [CONFIG_FILE] = true }
  local E = {
    { args = { "accounts", "list", "--format", "json" }, outcome = "ok", code = 0 },
    { args = { "accounts", "get", "3001", "--format", "table" }, outcome = "ok", code = 0 },
    { args = { "accounts", "update", "3001", "--max-email-per-day", "40" }, outcome = "ok", code = 0 },
    { args = { "accounts", "add", "--csv", input("accounts.csv") }, outcome = "ok", code = 0 },
    { args = { "campaigns", "attach", "4101", "--ids", id }, outcome = "ok", code = 0 },
    { args = { "api", "GET", "/email-accounts/3001/" }, outcome = "ok", code = 0 },
    { args = { "config", "list" }, outcome = "ok", code = 0 },
    { args = { "config", "set", "api_key", "-" }, outcome = "ok", code = 0, stdin = SPECIAL .. "\n", allow = allow },
    { args = { "accounts", "get", "3001" }, outcome = "ok", code = 0, allow = allow,
      env = { SMARTLEAD_API_KEY = false },
      setup = function(ctx) write_config(ctx, ("api_key = %s\n"):format(SPECIAL)) end },
    { args = { "api", "GET", "/" .. SPECIAL }, outcome = "e404", code = 1 },
    { args = { "api", "GET", "/email-accounts/", "-q", "username=" .. SPECIAL }, outcome = "err", code = { 0, 1 } },
    { args = { "api", "GET", "/email-accounts/?api_key=" .. SPECIAL .. "&limit=2" }, outcome = "usage", code = 2 },
    { args = { "api", "POST", "/email-accounts/3001?api_key=" .. SPECIAL, "-d", '{"max_email_per_day": 44}' },
      outcome = "usage", code = 2 },
    { args = { "accounts", "get", SPECIAL }, outcome = "usage", code = 2 },
    { args = { "accounts", "get", "999999" }, outcome = "e404", code = 1 },
    { args = { "accounts", "update", "3001", "--max-email-per-day", "42" }, outcome = "faults", code = ANY },
  }
  local cases = {}
  for _, e in ipairs(E) do
    if FULL or ERROR_OUTCOMES[e.outcome] then
      for _, level in ipairs(levels) do cases[#cases + 1] = entry_case(e, level, mock) end
    end
  end
  for _, level in ipairs(levels) do
    local function add(name, args, code, knobs)
      cases[#cases + 1] = { name = ("script %s [%s, special key]"):format(name, level), mock = mock, knobs = knobs,
        steps = { { args = script_args(level, args), code = code } } }
    end
    if FULL then add("calls.lua", { input("calls.lua") }, 4) end
    add("key_in_error.lua", { input("key_in_error.lua") }, 1)
    add("assert_err.lua", { input("assert_err.lua") }, 1)
    add("fail.lua, drop every time", { input("fail.lua") }, 1, { faults = { seed = 1, drop = 1 } })
  end
  for _, c in ipairs(flow_cases(mock, { levels[#levels] })) do cases[#cases + 1] = c end
  return cases
end

---------------------------------------------------------------------------- the REPL

local function repl_session(level, mock)
  local ctx = new_dir()
  ctx.mock = mock
  set_knobs(mock)
  local name = ("REPL [%s]"):format(level)
  local env = base_env(ctx, mock.key, mock.url)
  env.NO_COLOR = "1"
  local pane = tmux.start(('cd %s && env -i TERM="$TERM" %s %s %s'):format(q(ctx.cwd), env_words(env), q(BIN), level))
  stats.runs = stats.runs + 1
  local screens = {}
  local ok, err = pcall(function()
    pane:wait_for("client ready as `sl`", 15, true)
    pane:wait_for("\n> ", 5, true)
    -- typed lines that hold a secret themselves: their echo is the user's, not a leak
    local typed_secrets = {}
    local function eval(line, expect)
      if mask_all(line) ~= line then typed_secrets[#typed_secrets + 1] = line end
      local before = pane:count("\n> ")
      pane:line(line)
      local deadline = os.time() + 15
      while pane:count("\n> ") <= before and os.time() <= deadline do proc.nap(0.05) end
      local screen = pane:capture()
      if expect and not screen:find(expect, 1, true) then
        findings[#findings + 1] = ("%s: %q did not show %q"):format(name, mask_all(line), expect)
      end
      screens[#screens + 1] = screen
    end
    local save = ('r = sl:add_smtp_account{ from_name = "Repl Leak", from_email = "repl.leak@leak-test.io", '
      .. 'user_name = "repl.leak@leak-test.io", password = os.getenv("LEAK_SMTP_PW"), '
      .. 'imap_password = os.getenv("LEAK_IMAP_PW"), '
      .. 'smtp_host = "smtp.leak-test.io", smtp_port = 587, imap_host = "imap.leak-test.io", imap_port = 993, '
      .. 'warmup_enabled = false }')
    eval(('k = "%s"'):format(mock.key))
    eval("k", '"')
    eval(('w = smartlead.client{ api_key = "%s" }'):format(WRONG))
    eval("w", "smartlead.Client")
    -- literals given to secret-named variables stay out of the history, known keys or not
    eval(('wrong_key = "%s"'):format(WRONG))
    eval(('smtp_password, imap_password = "%s", "%s"'):format(SMTP_PW, IMAP_PW))
    eval("smartlead.client{ api_key = wrong_key }:get_email_account(3001)", "401")
    eval("w:get_email_account(3001)", "401")
    eval(":trace", "attempts")
    eval("sl", "smartlead.Client")
    eval("sl:options()", "max_retries")
    eval("sl:get_email_account(3001)", "********")
    eval("sl:get_email_accounts{ limit = 3 }", "accounts)")
    eval("sl:get_email_account(999999)", "(:trace for the details)")
    eval(":trace", "attempts")
    eval('error("boom " .. k)', "(:trace for the traceback)")
    eval(":trace", "stack traceback")
    eval('sl:request("GET", "/" .. k)', "404")
    eval('sl:get_email_accounts{ esp = k }')
    eval('t = { api_key = k, note = k, password = os.getenv("LEAK_SMTP_PW"), '
      .. 'nested = { imap_password = os.getenv("LEAK_IMAP_PW"), why = "x" .. k } }')
    eval("t", "nested")
    eval(save)
    eval("r")
    eval('sl:get_email_account_by_email("repl.leak@leak-test.io")', "********")
    eval(save:gsub("^r = ", ""), "ACCOUNT_ALREADY_EXIST")
    eval('smartlead.show(sl:get_email_account(3002), { columns = { "id", "password", "imap_password" } })')
    eval(('sl:request("GET", "/email-accounts/", { query = { foo = "%s" } })'):format(mock.key))
    pane:key("C-d")
    pane:wait_exit(15)
    screens[#screens + 1] = pane:capture()
    local text = table.concat(screens, "\n")
    for _, line in ipairs(typed_secrets) do
      local i, j = text:find(line, 1, true)
      while i do
        text = text:sub(1, i - 1) .. "<typed line>" .. text:sub(j + 1)
        i, j = text:find(line, i, true)
      end
    end
    search(name .. " / screen", text)
  end)
  pane:kill()
  if not ok then findings[#findings + 1] = name .. ": " .. mask_all(tostring(err)) end
  search(name .. " / mock request log", json.encode(admin(mock, "GET", "/__mock/log")))
  local history = proc.read(ctx.run .. "/state/smartlua/history")
  check(name, history and history:find("get_email_account", 1, true), "no history file was written")
  search_tree(name, ctx.run)
  os.execute("rm -rf " .. q(ctx.dir))
end

---------------------------------------------------------------------------- the spec

describe("leak check", function()
  setup(function()
    TMP = proc.mktemp()
    INPUTS = TMP .. "/inputs"
    os.execute("mkdir -p " .. q(INPUTS))
    write_inputs()
    MOCKS.main = start_mock("main", KEY)
    MOCKS.special = start_mock("special", SPECIAL)
  end)

  teardown(function()
    stop_mock(MOCKS.main)
    stop_mock(MOCKS.special)
    write_report()
    io.stderr:write(("[measure] leak check: %d runs, %d files and streams searched, %d occurrences\n"):format(
      stats.runs, stats.sources, stats.occurrences))
    proc.rmtree(TMP)
  end)

  it("the mock serves the seeded passwords base64-encoded in lists, plain in the single read", function()
    local one = assert(MOCKS.main.admin:request("GET", "/api/v1/email-accounts/3001/"))
    assert.equal(SEED_SMTP .. "-3001", one.password)
    local a = assert(MOCKS.main.admin:request("GET", "/api/v1/email-accounts/", { query = { limit = 1 } }))[1]
    assert.equal(3001, a.id)
    assert.equal(base64(SEED_SMTP .. "-3001"), a.password)
    assert.equal(base64(SEED_IMAP .. "-3001"), a.imap_password)
    local hit = false
    for _, n in ipairs(NEEDLES) do hit = hit or a.password:find(n.text, 1, true) ~= nil end
    assert.is_true(hit)
  end)

  it("finds what it looks for: a run that shows every secret on purpose", function()
    local mark, occurrences = #findings, stats.occurrences
    run_case { name = "self-test", steps = { { code = 0, args = { "-e", [[
      local sl = require "smartlead"
      print(os.getenv("SMARTLEAD_API_KEY"))
      io.stderr:write(os.getenv("LEAK_SMTP_PW"), "\n")
      print(sl.json.encode(assert(sl.client():get_email_accounts { limit = 1 })[1]))
      local f = assert(io.open("note.txt", "w"))
      f:write(sl.json.encode { os.getenv("LEAK_IMAP_PW"), os.getenv("LEAK_CSV_PW") })
      f:close()
    ]] } } } }
    local got = table.concat(findings, "\n", mark + 1)
    for i = #findings, mark + 1, -1 do findings[i] = nil end
    stats.occurrences = occurrences
    for _, want in ipairs { "stdout: the API key (raw)", "stderr: the SMTP password (raw)",
                            "stdout: a seeded SMTP password (base64)",
                            "stdout: a seeded IMAP password (base64)", "note.txt: the IMAP password (raw)",
                            "note.txt: the CSV password (JSON-escaped)" } do
      assert.truthy(got:find(want, 1, true), want .. " not found in:\n" .. got)
    end
    for _, secret in ipairs { KEY, SMTP_PW, IMAP_PW, CSV_PW, base64(SEED_SMTP) } do
      assert.falsy(got:find(secret, 1, true), "a finding shows the secret itself")
    end
  end)

  it("one-line commands: every subcommand, outcome and verbosity", function()
    run_cases(cli_cases())
  end)

  it("scripts: errors carrying the key, printed clients and options, saves, final faults", function()
    run_cases(script_cases())
  end)

  it("plans, apply, undo, journals and resume", function()
    run_cases(flow_cases())
  end)

  it("a key with + / = & (percent-encoded in URLs)", function()
    run_cases(special_cases(MOCKS.special))
  end)

  it("the REPL: screen and history", function()
    local mark = #findings
    local levels = FULL and { "", "-vvv" } or { "-vvv" }
    for _, level in ipairs(levels) do repl_session(level, MOCKS.main) end
    if FULL then repl_session("-vvv", MOCKS.special) end
    assert_clean(mark)
  end)

  it("the mock servers' own output and files", function()
    local mark = #findings
    for _, name in ipairs { "main", "special" } do
      local h = MOCKS[name]
      local rc = stop_mock(h)
      check("mock " .. name, rc == 0, "smartlua mock exited " .. tostring(rc))
      search("mock " .. name .. " / stdout", proc.read(h.out) or "")
      search("mock " .. name .. " / stderr", proc.read(h.err) or "")
      search_tree("mock " .. name, h.ctx.run)
    end
    assert_clean(mark)
  end)
end)
