-- Fault injection: each fault the mock can inject, alone and mixed, against reads, set-value
-- updates and saves; bulk runs in process and through the command-line run layer; SIGKILL at
-- many points followed by --resume; memory over a long run. Every case is checked against the
-- mock's request log and its final state, not only against what the calls returned, and is
-- reproducible from its seed, which every assertion message names (SMARTLUA_FAULT_SEED=N moves
-- all seeds by N). SMARTLUA_SPEC_SCALE (default 1) scales the big counts for the valgrind pass;
-- lines starting "[measure]" on stderr give the figures of a run.
local support = require "support"
local proc = require "proc"
local json = require "smartlead.json"
local journal = require "smartlead.journal"
local smartlead = require "smartlead"
local core = require "smartlead.core"

local q = proc.q
local SCALE = tonumber(os.getenv("SMARTLUA_SPEC_SCALE")) or 1
local SEED_SHIFT = math.tointeger(tonumber(os.getenv("SMARTLUA_FAULT_SEED") or "")) or 0
local SLACK = tonumber(os.getenv("SMARTLUA_SPEC_TIMING_SLACK")) or 0.05
local CHILD = proc.ROOT .. "/spec/fault_child.lua"
local OWNER = support.OWNER

local function scaled(n, floor) return math.max(floor, math.floor(n * SCALE + 0.5)) end
local function seed_of(n) return n + SEED_SHIFT end

local function measure(fmt, ...)
  io.stderr:write("[measure] ", fmt:format(...), "\n")
  io.stderr:flush()
end

-- The value a run sets on account id (the child computes the same: spec/fault_child.lua).
local function intended(id, salt) return 1000 + (id * 7 + salt) % 997 end

-- The mixed fault load of the bulk runs.
local function mixed_faults(seed)
  return { seed = seed, p5xx = 0.10, drop = 0.025, drop_after = 0.025, p429 = 0.05, truncate = 0.02, html = 0.01 }
end

---------------------------------------------------------------------------- state and log helpers

local function by_id(accounts)
  local t = {}
  for _, a in ipairs(accounts) do t[a.id] = a end
  return t
end

local own_ids = support.own_ids

local function own_in_fixture()
  local seed = assert(json.decode(assert(proc.read(proc.ROOT .. "/spec/fixtures/seed.json"))))
  local n = 0
  for _, a in ipairs(seed.accounts) do
    if (a.user_id or OWNER) == OWNER then n = n + 1 end
  end
  return n
end

local function deep_equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not deep_equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- Equal but for the fields named in `except`.
local function same_except(a, b, except)
  local x, y = {}, {}
  for k, v in pairs(a) do if not except[k] then x[k] = v end end
  for k, v in pairs(b) do if not except[k] then y[k] = v end end
  return deep_equal(x, y)
end

-- Log entries grouped by "METHOD path".
local function by_request(log)
  local t = {}
  for _, e in ipairs(log) do
    local k = e.method .. " " .. e.path
    t[k] = t[k] or {}
    table.insert(t[k], e)
  end
  return t
end

local function update_key(id) return "POST /api/v1/email-accounts/" .. id end
local function read_key(id) return "GET /api/v1/email-accounts/" .. id .. "/" end

-- The client did not get the handler's answer as it was (an injected fault or a 429 refusal).
local function disturbed(e) return e.fault ~= nil or e.status == 429 end
-- The handler ran and changed what it was asked to (late faults included).
local function applied(e) return e.status == 200 end
-- The handler's 200 reached the client untouched.
local function clean_success(e) return e.status == 200 and e.fault == nil end

local function fault_counts(log)
  local t, total = {}, 0
  for _, e in ipairs(log) do
    local f = e.fault or (e.status == 429 and "429 (rate limit)") or nil
    if f then
      t[f] = (t[f] or 0) + 1
      total = total + 1
    end
  end
  return t, total
end

local function describe_counts(t)
  local names = {}
  for k in pairs(t) do names[#names + 1] = k end
  table.sort(names)
  local parts = {}
  for _, k in ipairs(names) do parts[#parts + 1] = ("%s=%d"):format(k, t[k]) end
  return #parts > 0 and table.concat(parts, " ") or "none"
end

-- Saves are never sent twice blindly: between two saves of one address the log shows a lookup
-- of that address answered 404 (nothing there yet), or the earlier save was refused with a 429.
-- Returns the list of violations ("address: how").
local function blind_resends(log)
  local last, bad = {}, {}
  for _, e in ipairs(log) do
    if e.method == "POST" and e.path == "/api/v1/email-accounts/save" then
      local addr = type(e.body) == "table" and type(e.body.from_email) == "string" and e.body.from_email:lower()
      if addr then
        local prev = last[addr]
        if prev and prev ~= "looked-up" and prev ~= 429 then
          bad[#bad + 1] = ("%s: saved again after a save answered %s (%s), without a lookup"):format(
            addr, tostring(prev.status), tostring(prev.fault or "no fault"))
        end
        last[addr] = e.status == 429 and 429 or e
      end
    elseif e.method == "GET" and e.path == "/api/v1/email-accounts/fetch-email-account-details" then
      local addr = type(e.query.email) == "string" and e.query.email:lower()
      if addr and e.status == 404 and e.fault == nil then last[addr] = "looked-up" end
    end
  end
  return bad
end

-- Addresses in the state, counted.
local function address_counts(state)
  local t = {}
  for _, a in ipairs(state.accounts) do
    local k = a.from_email:lower()
    t[k] = (t[k] or 0) + 1
  end
  return t
end

local function save_fields(addr, i)
  return { from_name = "Fault " .. i, from_email = addr, user_name = addr, password = "pw-fault-" .. i,
    smtp_host = "smtp.faults.example.net", smtp_port = 587, imap_host = "imap.faults.example.net",
    imap_port = 993, warmup_enabled = false }
end

local function one_of(v, want)
  if type(want) ~= "table" then return v == want end
  for _, w in ipairs(want) do
    if v == w then return true end
  end
  return false
end

-- Checks an error against {kind=, code=, status=, message=, retry_after=} (code and status may
-- be lists of allowed values).
local function check_error(err, want, ctx)
  assert.is_not_nil(err, ctx .. ": no error")
  assert.is_true(one_of(err.kind, want.kind),
    ("%s: kind %s, want %s"):format(ctx, tostring(err.kind), json.encode(want.kind)))
  if want.code then
    assert.is_true(one_of(err.code, want.code),
      ("%s: code %s, want %s"):format(ctx, tostring(err.code), json.encode(want.code)))
  end
  if want.status then
    assert.is_true(one_of(err.status, want.status),
      ("%s: status %s, want %s"):format(ctx, tostring(err.status), json.encode(want.status)))
  end
  if want.message then
    assert.truthy(tostring(err.message):find(want.message, 1, true), ctx .. ": message " .. tostring(err.message))
  end
  if want.retry_after then assert.equal(want.retry_after, err.retry_after, ctx .. ": retry_after") end
  local line = tostring(err)
  assert.is_nil(line:find("\n"), ctx .. ": tostring(err) is one line")
  assert.truthy(line:find(err.kind, 1, true), ctx .. ": tostring(err) names the kind: " .. line)
end

-- After each retry of a refused (429) request, the request comes back no sooner than the pause.
local function check_pauses(log, pause, ctx)
  local pending, checked = {}, 0
  for _, e in ipairs(log) do
    local k = e.method .. " " .. e.path .. " " .. json.encode(e.query) .. " " .. json.encode(e.body or false)
    if pending[k] then
      assert.is_true(e.at - pending[k] >= pause - SLACK,
        ("%s: %s sent again %.2fs after a 429, pause %.1fs"):format(ctx, e.path, e.at - pending[k], pause))
      checked, pending[k] = checked + 1, nil
    end
    if e.status == 429 then pending[k] = e.at end
  end
  return checked
end

---------------------------------------------------------------------------- child processes

local KEY = "faults-spec-key-4d1b8e"

-- Runs argv in the background (stdout, stderr and exit code to files); returns a handle.
local function spawn(dir, name, argv, env)
  local h = { name = name }
  for _, f in ipairs { "out", "err", "rc", "pid" } do
    h[f] = ("%s/%s.%s"):format(dir, name, f)
    os.remove(h[f])
  end
  local words = {}
  for i, a in ipairs(argv) do words[i] = q(a) end
  local inner = ("echo $$ > %s; exec %s"):format(q(h.pid), table.concat(words, " "))
  os.execute(("(env %s sh -c %s >%s 2>%s </dev/null; echo $? >%s) >/dev/null 2>&1 </dev/null &")
    :format(env or "", q(inner), q(h.out), q(h.err), q(h.rc)))
  for _ = 1, 500 do -- up to ~5 s
    h.pid_n = tonumber((proc.read(h.pid) or ""):match("%d+"))
    if h.pid_n then return h end
    proc.nap(0.01)
  end
  error(name .. " did not start")
end

local function exit_code(h)
  local rc = proc.read(h.rc)
  return rc and rc:match("\n") and tonumber(rc:match("%d+")) or nil
end

local function kill(h, signal)
  os.execute(("kill -%s %d 2>/dev/null"):format(signal or "9", h.pid_n))
end

-- The exit code once h is gone, waiting at most `seconds` (then it is killed and this raises).
local function reap(h, seconds)
  local deadline = core.monotime() + seconds
  repeat
    local rc = exit_code(h)
    if rc then return rc end
    proc.nap(0.02)
  until core.monotime() > deadline
  kill(h)
  error(("%s did not exit within %ds: %s"):format(h.name, seconds, proc.read(h.err) or ""))
end

-- `smartlua mock` as its own process, so its state outlives the clients killed in between.
local function start_mock(dir, name, knobs, extra)
  local knobs_file = proc.write(("%s/%s.knobs.json"):format(dir, name), json.encode(knobs or {}))
  local h = spawn(dir, name, { proc.BIN, "mock", "--port", "0", "--knobs", knobs_file,
    "--extra-accounts", tostring(extra or 0) }, "SMARTLEAD_API_KEY=" .. q(KEY))
  for _ = 1, 400 do -- up to ~10 s (a big fleet takes a moment to generate)
    local url = (proc.read(h.out) or ""):match("mock SmartLead API on (%S+)\n")
    if url then
      h.url = url
      h.admin = smartlead.client { api_key = KEY, base_url = (url:gsub("/api/v1$", "")), rate = false }
      return h
    end
    if exit_code(h) then error("smartlua mock exited: " .. (proc.read(h.out) or "") .. (proc.read(h.err) or "")) end
    proc.nap(0.025)
  end
  kill(h)
  error("smartlua mock did not start")
end

local function stop_mock(h)
  if not h then return end
  if h.admin then h.admin:close() end
  if not exit_code(h) then
    kill(h, "TERM")
    pcall(reap, h, 10)
  end
end

local function mock_get(h, what) return assert(h.admin:request("GET", "/__mock/" .. what)) end

-- build/smartlua args... against the mock process h.
local function start_child(dir, name, mock, args, env)
  local argv = { proc.BIN }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return spawn(dir, name, argv, ("SMARTLEAD_API_KEY=%s SMARTLEAD_BASE_URL=%s XDG_CONFIG_HOME=%s %s")
    :format(q(KEY), q(mock.url), q(dir), env or ""))
end

local function json_lines(text)
  local out = {}
  for line in (text or ""):gmatch("[^\n]+") do
    local v = json.decode(line)
    if type(v) == "table" then out[#out + 1] = v end
  end
  return out
end

---------------------------------------------------------------------------- 1. one fault at a time

-- Reads, set-value updates and saves, one call at a time by default (so which request meets
-- which fault follows from the seed alone). Returns what each call answered.
local function workload(server, client, tag, sizes, salt, concurrency)
  local before = server:state()
  local ids = own_ids(before, sizes.reads + sizes.updates)
  local w = { before = before, salt = salt, reads = {}, updates = {}, saves = {},
              read_ids = {}, update_ids = {}, addrs = {} }
  for i = 1, sizes.reads do w.read_ids[i] = ids[i] end
  for i = 1, sizes.updates do w.update_ids[i] = ids[sizes.reads + i] end
  for i = 1, sizes.saves do w.addrs[i] = ("%s-%02d@faults.example.net"):format(tag, i) end
  local opts = { concurrency = concurrency or 1, progress = false }
  client:each(w.read_ids, function(id)
    local a, err = client:get_email_account(id)
    w.reads[id] = { answer = a, err = err }
  end, opts)
  client:each(w.update_ids, function(id)
    local a, err = client:update_email_account(id, { max_email_per_day = intended(id, salt) })
    w.updates[id] = { answer = a, err = err }
  end, opts)
  client:each(w.addrs, function(addr)
    local i = tonumber(addr:match("%-(%d+)@"))
    local a, err = client:add_smtp_account(save_fields(addr, i))
    w.saves[addr] = { answer = a, err = err }
  end, opts)
  return w
end

local function check_reads(w, c, requests, ctx)
  local failed = 0
  for _, id in ipairs(w.read_ids) do
    local r, entries = w.reads[id], requests[read_key(id)] or {}
    local at = ("%s: read of %d"):format(ctx, id)
    assert.is_true(#entries >= 1, at .. " never reached the server")
    for i = 1, #entries - 1 do
      assert.is_true(disturbed(entries[i]), at .. " was sent again after a clean answer")
    end
    local last = entries[#entries]
    if r.answer then
      assert.is_false(disturbed(last), at .. ": answered although the last attempt was a fault")
      local want = w.before_by[id]
      assert.same({ id, want.from_email, want.message_per_day },
                  { r.answer.id, r.answer.from_email, r.answer.message_per_day }, at)
    else
      failed = failed + 1
      assert.is_true(disturbed(last), at .. " failed although the server answered it cleanly")
      check_error(r.err, c.read_error or c.error, at)
      assert.is_nil(r.err.ambiguous, at .. ": a read is never ambiguous")
    end
  end
  if c.retried then assert.equal(0, failed, ctx .. ": reads are retried through this fault") end
  return failed
end

local function check_updates(w, c, requests, after_by, ctx)
  local failed = 0
  for _, id in ipairs(w.update_ids) do
    local u, entries = w.updates[id], requests[update_key(id)] or {}
    local at = ("%s: update of %d"):format(ctx, id)
    local want = intended(id, w.salt)
    assert.is_true(#entries >= 1, at .. " never reached the server")
    local acted, clean = false, 0
    for i, e in ipairs(entries) do
      assert.equal(want, e.body.max_email_per_day, at .. ": a wrong value was sent")
      if i < #entries then assert.is_true(disturbed(e), at .. " was sent again after a clean answer") end
      acted = acted or applied(e)
      if clean_success(e) then clean = clean + 1 end
    end
    assert.equal(acted and want or w.before_by[id].message_per_day, after_by[id].message_per_day, at .. ": state")
    if u.answer then
      assert.is_true(u.answer.ok, at)
      assert.is_true(applied(entries[#entries]), at .. ": ok, but the last attempt was not applied")
      assert.is_true(clean <= 1, at .. ": more than one clean success")
    else
      failed = failed + 1
      check_error(u.err, c.error, at)
      if acted then assert.is_true(u.err.ambiguous, at .. ": applied but not marked ambiguous") end
    end
  end
  if c.retried then assert.equal(0, failed, ctx .. ": set-value updates are retried through this fault") end
  return failed
end

local function check_saves(w, c, log, after, ctx)
  local counts = address_counts(after)
  local after_by_email = {}
  for _, a in ipairs(after.accounts) do after_by_email[a.from_email:lower()] = a end
  local ok = 0
  for _, addr in ipairs(w.addrs) do
    local s, n, at = w.saves[addr], counts[addr] or 0, ("%s: save of %s"):format(ctx, addr)
    assert.is_true(n <= 1, at .. (": %d accounts with this address"):format(n))
    if s.answer then
      ok = ok + 1
      assert.is_true(s.answer.ok, at)
      assert.equal(1, n, at .. ": answered ok but not in the state")
      if s.answer.email_account_id then assert.equal(after_by_email[addr].id, s.answer.email_account_id, at) end
    else
      assert.is_true(n == 0 or s.err.ambiguous == true,
        at .. ": reported failed without `ambiguous` although it was saved: " .. tostring(s.err))
      check_error(s.err, c.save_error or c.error, at)
    end
  end
  assert.same({}, blind_resends(log), ctx .. ": saves sent again blindly")
  -- nothing else came into being: the new accounts are ours, each once
  local ours, new, present = {}, 0, 0
  for _, addr in ipairs(w.addrs) do
    ours[addr] = true
    present = present + (counts[addr] or 0)
  end
  for _, a in ipairs(after.accounts) do
    if not w.before_by[a.id] then
      new = new + 1
      assert.is_true(ours[a.from_email:lower()], ctx .. ": a stray account " .. a.from_email)
    end
  end
  assert.equal(present, new, ctx .. ": new accounts in the state")
  assert.equal(#w.before.accounts + new, #after.accounts, ctx .. ": accounts in the state")
  return ok
end

-- The rest of the state is as it was: no account gone, none changed but the updated field.
local function check_untouched(before, after_by, touched, ctx)
  for _, a in ipairs(before.accounts) do
    local now = after_by[a.id]
    assert.is_not_nil(now, ctx .. ": account " .. a.id .. " is gone")
    local except = { updated_at = true }
    if touched[a.id] then except.message_per_day = true end
    assert.is_true(same_except(a, now, except), ctx .. ": account " .. a.id .. " changed beyond the update")
  end
end

local SIZES = { reads = 10, updates = 10, saves = 6 }
local SMALL = { reads = 6, updates = 6, saves = 4 } -- for the 429 cases, each refusal costs a second

local CASES = {
  { title = "5xx answers", fault = "p5xx", seed = 101, p = 0.25, early = true, retried = true,
    error = { kind = "http", status = { 500, 503 }, code = "SERVER_ERROR" } },
  { title = "connections dropped before the request is read", fault = "drop", seed = 102, p = 0.25,
    early = true, retried = true, error = { kind = "network", code = { "EMPTY_REPLY", "CONNECTION_RESET" } } },
  { title = "connections dropped after the server acted", fault = "drop_after", seed = 103, p = 0.25,
    retried = true, error = { kind = "network", code = { "EMPTY_REPLY", "CONNECTION_RESET" } } },
  { title = "truncated bodies", fault = "truncate", seed = 104, p = 0.25, retried = true,
    error = { kind = "network", code = "TRUNCATED_ANSWER" } },
  { title = "HTML error pages (502 text/html)", fault = "html", seed = 105, p = 0.25, early = true, retried = true,
    error = { kind = "http", status = 502, code = "SERVER_ERROR", message = "HTML page" } },
  { title = "429 with Retry-After", fault = "p429", seed = 113, p = 0.15, early = true, retried = true,
    refused = true, sizes = SMALL, pause = 1,
    error = { kind = "http", status = 429, code = "RATE_LIMIT_EXCEEDED", retry_after = 1 } },
  { title = "429 without Retry-After (the server's window: x-ratelimit-reset and the body)", fault = "rate_limit",
    seed = 107, retried = true, refused = true, sizes = SMALL, pause = 1, concurrency = 6,
    error = { kind = "http", status = 429, code = "RATE_LIMIT_EXCEEDED" } },
  { title = "a server that stalls past the client timeout", fault = "stall", seed = 108, p = 0.2, retried = true,
    timeout = 0.4 + 5 * SLACK, error = { kind = "timeout", code = "TIMEOUT" } },
  { title = "200 with an empty body", fault = "empty", seed = 109, p = 0.25, writes_ok = true,
    error = { kind = "http", status = 200, code = "EMPTY_ANSWER", message = "empty body" } },
  { title = "200 with a plain-text body", fault = "text", seed = 110, p = 0.25, writes_ok = true,
    error = { kind = "json", status = 200, code = "NOT_JSON", message = "not JSON" } },
}

local function knobs_for(c, seed, p)
  if c.fault == "rate_limit" then
    return { rate_limit = p == 1 and { requests = 1, per = 60, retry_after = false }
                                   or { requests = 4, per = 1, retry_after = false } }
  end
  local f = { seed = seed, [c.fault] = p }
  if c.fault == "stall" then f.stall_ms = math.floor((c.timeout * 4) * 1000) end
  return { faults = f }
end

-- Every call once with the fault certain and no retries: the error a caller sees, and what the
-- server did meanwhile.
local function probe(server, c, seed, ctx)
  local pc = server:client { max_retries = 0, timeout = c.timeout }
  local before = by_id(server:state().accounts)
  local rid, uid = table.unpack(own_ids(server:state(), 2))
  local addr = c.fault:gsub("_", "-") .. "-probe@faults.example.net"
  -- under the server's window, forget what each answer taught the client, or it would wait
  local function fresh() if c.fault == "rate_limit" then pc:reset_rate_state() end end
  server:configure(knobs_for(c, seed, 1))
  if c.fault == "rate_limit" then
    assert(pc:get_email_account(rid)) -- takes the window's only request
    fresh()
  end
  local a, err = pc:get_email_account(rid)
  fresh()
  local u, uerr = pc:update_email_account(uid, { max_email_per_day = 777 })
  fresh()
  local s, serr = pc:add_smtp_account(save_fields(addr, 0))
  server:configure { faults = json.null, rate_limit = json.null }
  pc:reset_rate_state()
  pc:close()
  local after = server:state()
  local now = by_id(after.accounts)
  local acted = not c.early and not c.refused
  if c.writes_ok then
    check_error(err, c.error, ctx .. " probe read")
    assert.is_true(u.ok and s.ok, ctx .. " probe: writes answered 200 count as done")
  else
    assert.is_nil(a, ctx .. " probe read")
    check_error(err, c.error, ctx .. " probe read")
    assert.is_nil(u, ctx .. " probe update")
    check_error(uerr, c.error, ctx .. " probe update")
    assert.equal(not c.refused or nil, uerr.ambiguous, ctx .. " probe update: ambiguous unless refused")
    assert.is_nil(s, ctx .. " probe save")
    check_error(serr, c.error, ctx .. " probe save")
    assert.equal(not c.refused or nil, serr.ambiguous, ctx .. " probe save: ambiguous unless refused")
  end
  assert.equal(acted and 777 or before[uid].message_per_day, now[uid].message_per_day,
    ctx .. " probe: update on the server")
  assert.equal(acted and 1 or nil, address_counts(after)[addr], ctx .. " probe: save on the server")
  server:reset()
end

local function fault_case(c, get)
  return function()
    local server = get()
    local seed = seed_of(c.seed)
    local ctx = ("[%s, seed %d]"):format(c.fault, seed)
    probe(server, c, seed, ctx)
    server:configure(knobs_for(c, seed, c.p))
    local client = server:client { timeout = c.timeout }
    local t0 = core.monotime()
    local w = workload(server, client, c.fault:gsub("_", "-"), c.sizes or SIZES, c.seed, c.concurrency)
    local seconds = core.monotime() - t0
    server:configure { faults = json.null, rate_limit = json.null }
    client:reset_rate_state()
    client:close()
    local log, after = server:log(), server:state()
    w.before_by = by_id(w.before.accounts)
    local after_by = by_id(after.accounts)
    local requests = by_request(log)
    local counts, injected = fault_counts(log)
    assert.is_true(injected > 0, ctx .. ": no fault was injected")
    local read_failures = check_reads(w, c, requests, ctx)
    local update_failures = check_updates(w, c, requests, after_by, ctx)
    local saved = check_saves(w, c, log, after, ctx)
    local touched = {}
    for _, id in ipairs(w.update_ids) do touched[id] = true end
    check_untouched(w.before, after_by, touched, ctx)
    if c.writes_ok then
      assert.equal(#w.addrs, saved, ctx .. ": saves answered 200 count as done")
      assert.equal(0, update_failures, ctx)
    end
    if c.retried then assert.equal(#w.addrs, saved, ctx .. ": every save done, checked by address") end
    local paused = c.pause and check_pauses(log, c.pause, ctx) or 0
    if c.refused then assert.is_true(paused > 0, ctx .. ": no request was refused and sent again") end
    local calls = #w.read_ids + #w.update_ids + #w.addrs
    measure("faults %s seed %d: %d calls, %d requests (%d retries/lookups), faults %s, "
      .. "failed reads %d updates %d saves %d, duplicates 0, %.1fs",
      c.fault, seed, calls, #log, #log - calls, describe_counts(counts), read_failures, update_failures,
      #w.addrs - saved, seconds)
  end
end

describe("faults", function()
  local tmp
  setup(function() tmp = proc.mktemp() end)
  teardown(function() proc.rmtree(tmp) end)

  describe("one at a time", function()
    local server
    support.shared_server(function(s) server = s end)
    local get = function() return server end
    for _, c in ipairs(CASES) do
      local what = c.writes_ok and "reads fail with a clear error, writes answered 200 count as done"
        or "reads and set-value updates retried, saves checked by address"
      it(("%s: %s, state exact"):format(c.title, what), fault_case(c, get))
    end

    -- Every answer a 429 asking for more than the calls may wait (max_wait = 0): each call
    -- fails at once as rate limited with the time asked for, the paused key sends nothing more,
    -- and the run ends in moments instead of waiting.
    it("429s asking for more than max_wait: every item fails at once as rate_limit, nothing applied", function()
      local ctx = ("[p429 beyond max_wait, seed %d]"):format(seed_of(700))
      -- retry_after 1 s in the body, sometimes the header
      server:configure { faults = { seed = seed_of(700), p429 = 1 } }
      local impatient = server:client { max_wait = 0 }
      local ids = own_ids(server:state(), 12)
      local t0 = core.monotime()
      local report = impatient:each(ids, function(id)
        return impatient:update_email_account(id, { max_email_per_day = 41 })
      end, { progress = false })
      local seconds = core.monotime() - t0
      server:configure { faults = json.null }
      impatient:reset_rate_state()
      impatient:close()
      assert.equal(0, report.ok, ctx)
      assert.equal(12, #report.failed, ctx)
      for _, f in ipairs(report.failed) do
        check_error(f.error, { kind = "rate_limit", code = "RATE_LIMIT_EXCEEDED" }, ctx)
        assert.is_true(f.error.retry_after > 0 and f.error.retry_after <= 1,
          ctx .. ": retry_after " .. f.error.retry_after)
        assert.is_nil(f.error.ambiguous, ctx .. ": a refused or unsent update is not ambiguous")
      end
      assert.is_true(seconds < 2, ("%s: the run took %.1fs"):format(ctx, seconds))
      assert.is_true(#server:log() <= 8, ctx .. ": the paused key kept sending") -- the first 8 in flight at once
      for _, id in ipairs(ids) do assert.are_not.equal(41, server:account(id).message_per_day, ctx) end
    end)

    -- The first attempt takes effect and its answer is lost; the retry is refused. The caller
    -- must still hear that the write may have happened (it did).
    it("an update applied by an attempt whose answer was lost stays ambiguous when the retry is refused", function()
      local mock = require "smartlead.mock"
      local knobs = { drop_after = 0.5, p429 = 0.5 } -- every request faulted: p429 below 0.5, else drop_after
      local seed
      for s = seed_of(600), seed_of(600) + 1000 do -- three draws: drop_after, then 429, 429
        local rng, u = mock.new_rng(s), {}
        for i = 1, 3 do u[i] = rng.float(); rng.float() end
        if u[1] >= 0.5 and u[2] < 0.5 and u[3] < 0.5 then seed = s break end
      end
      local ctx = ("[drop_after then 429, seed %d]"):format(seed)
      local id = own_ids(server:state(), 1)[1]
      local before = server:account(id).message_per_day
      knobs.seed = seed
      server:configure { faults = knobs }
      local once = server:client { max_retries = 1 }
      local res, err = once:update_email_account(id, { max_email_per_day = 555 })
      server:configure { faults = json.null }
      once:reset_rate_state()
      once:close()
      local log = server:log()
      assert.is_nil(res, ctx)
      check_error(err, { kind = "http", status = 429, code = "RATE_LIMIT_EXCEEDED" }, ctx)
      assert.equal("drop_after", log[1].fault, ctx)
      assert.equal(200, log[1].status, ctx .. ": the first attempt was applied")
      assert.equal(429, log[#log].status, ctx)
      assert.are_not.equal(before, 555, ctx)
      assert.equal(555, server:account(id).message_per_day, ctx .. ": the write took effect")
      assert.is_true(err.ambiguous == true,
        ctx .. ": the write took effect, yet the error does not say it may have: " .. tostring(err))
    end)
  end)

  ---------------------------------------------------------------------------- 2. mixed, bulk

  describe("mixed, in bulk", function()
    local N = scaled(2000, 100)
    local server

    setup(function()
      server = support.server { extra_accounts = math.max(0, N - own_in_fixture()) }
    end)
    teardown(function() if server then server:stop() end end)
    before_each(function()
      server:reset()
      server:configure { faults = json.null, latency_ms = 0 }
    end)

    -- Runs the bulk update through client:each; returns what the checks need.
    local function bulk(seed, salt, n, client_opts)
      local before = server:state()
      local want_ids = own_ids(before, n)
      server:configure { faults = mixed_faults(seed) }
      local client = server:client(client_opts)
      local t0 = core.monotime()
      -- the listing goes through the faults too, with a budget that gets every page
      local lister = server:client { concurrency = 8, max_retries = 10 }
      local listed = assert(lister:all_accounts())
      lister:close()
      table.sort(listed, function(a, b) return a.id < b.id end)
      local ids = {}
      for i = 1, n do ids[i] = listed[i].id end
      local report = client:each(ids, function(id)
        return client:update_email_account(id, { max_email_per_day = intended(id, salt) })
      end, { concurrency = client_opts.concurrency, progress = false })
      local seconds = core.monotime() - t0
      server:configure { faults = json.null }
      client:reset_rate_state()
      client:close()
      return { before = before, want_ids = want_ids, ids = ids, listed = listed, report = report,
               log = server:log(), after = server:state(), seconds = seconds }
    end

    -- The report names exactly the accounts not in the intended state (plus, marked ambiguous,
    -- any the server changed although the answer was lost); every value sent is the intended one.
    local function check_bulk(r, salt, ctx)
      assert.same(r.want_ids, r.ids, ctx .. ": the listing through faults")
      local own = 0
      for _, a in ipairs(r.before.accounts) do own = own + (a.user_id == OWNER and 1 or 0) end
      assert.equal(own, #r.listed, ctx .. ": every account listed once")
      local failed = {}
      for _, f in ipairs(r.report.failed) do
        assert.is_nil(failed[f.item], ctx .. ": item reported twice")
        failed[f.item] = f.error
        assert.is_true(one_of(f.error.kind, { "http", "network", "timeout" }), ctx .. ": why: " .. tostring(f.error))
        assert.truthy(tostring(f.error):find("/email-accounts/" .. f.item, 1, true),
          ctx .. ": the error names the request")
      end
      local requests = by_request(r.log)
      local after_by, before_by, target = by_id(r.after.accounts), by_id(r.before.accounts), {}
      local posts, clean_dups, applied_twice, not_intended, ambiguous_done = 0, 0, 0, 0, 0
      for _, id in ipairs(r.ids) do
        target[id] = true
        local at = ("%s: account %d"):format(ctx, id)
        local want, entries = intended(id, salt), requests[update_key(id)] or {}
        local clean, acted = 0, 0
        for _, e in ipairs(entries) do
          assert.equal(want, e.body.max_email_per_day, at .. ": a wrong value was sent")
          if clean_success(e) then clean = clean + 1 end
          if applied(e) then acted = acted + 1 end
        end
        posts = posts + #entries
        if acted > 1 then applied_twice = applied_twice + 1 end
        local value = after_by[id].message_per_day
        if value ~= want then
          not_intended = not_intended + 1
          assert.is_not_nil(failed[id], at .. (" is at %d, not %d, and the report does not say so"):format(value, want))
          assert.equal(before_by[id].message_per_day, value, at .. ": a third value")
          assert.equal(0, acted, at)
        elseif failed[id] then
          ambiguous_done = ambiguous_done + 1
          assert.is_true(failed[id].ambiguous == true, at .. ": done but reported failed without `ambiguous`")
        else
          assert.equal(1, clean, at .. ": clean successes")
        end
        if clean > 1 then clean_dups = clean_dups + 1 end
      end
      for k, entries in pairs(requests) do
        local id = tonumber(k:match("^POST /api/v1/email%-accounts/(%d+)$"))
        if id then assert.is_true(target[id], ctx .. ": account " .. id .. " was written but not a target") end
        assert.is_nil(k:match("^POST /api/v1/email%-accounts/save"), ctx .. ": a save")
        assert(entries)
      end
      check_untouched(r.before, after_by, target, ctx)
      assert.equal(#r.before.accounts, #r.after.accounts, ctx .. ": accounts added or removed")
      assert.equal(0, clean_dups, ctx .. ": accounts with two clean successes")
      return { failed = #r.report.failed, not_intended = not_intended, posts = posts,
               applied_twice = applied_twice, ambiguous_done = ambiguous_done }
    end

    it(("client:each updates %d accounts through 10%% 5xx, 5%% drops, 5%% 429, 2%% truncation, 1%% HTML: "
        .. "each once, exactly")
        :format(N), function()
      local seed, salt = seed_of(201), 11
      local ctx = ("[mixed each, seed %d, %d accounts]"):format(seed, N)
      -- a retry budget fit for a 23% fault rate: 11 attempts fail together once in 10^7
      local r = bulk(seed, salt, N, { concurrency = 64, max_retries = 10 })
      local s = check_bulk(r, salt, ctx)
      local why = {}
      for _, f in ipairs(r.report.failed) do
        why[#why + 1] = ("%d: %s (attempts %s)"):format(f.item, tostring(f.error), tostring(f.error.attempts))
      end
      assert.same({}, why, ctx .. ": accounts that could not be done")
      local counts, injected = fault_counts(r.log)
      if #r.log >= 1000 then
        for _, f in ipairs { "p5xx", "drop", "drop_after", "p429", "truncate", "html" } do
          assert.is_true((counts[f] or 0) > 0, ctx .. ": no " .. f .. " injected")
        end
      end
      assert.is_true(injected > 0, ctx)
      -- with the default retry budget every account gets there
      assert.equal(0, s.not_intended, ctx .. ": accounts not in the intended state")
      assert.equal(N, r.report.ok, ctx .. ": report.ok")
      measure("mixed each seed %d: %d accounts, %d requests, %d update requests (%d retries), faults %s, "
        .. "%d accounts applied more than once (same value), failed %d, not intended %d, %.1fs",
        seed, N, #r.log, s.posts, s.posts - N, describe_counts(counts), s.applied_twice, s.failed, s.not_intended,
        r.seconds)
    end)

    it("with a small retry budget, the report names exactly the accounts left undone, and why", function()
      local n = scaled(300, 150)
      local seed, salt = seed_of(202), 12
      local ctx = ("[mixed each, max_retries 1, seed %d, %d accounts]"):format(seed, n)
      local r = bulk(seed, salt, n, { concurrency = 64, max_retries = 1 })
      local s = check_bulk(r, salt, ctx)
      assert.is_true(s.failed > 0, ctx .. ": nothing failed, so nothing was checked")
      local counts = fault_counts(r.log)
      measure("mixed each max_retries=1 seed %d: %d accounts, %d requests, faults %s, "
        .. "failed %d (%d of them done, ambiguous), not intended %d, %.1fs",
        seed, n, #r.log, describe_counts(counts), s.failed, s.ambiguous_done, s.not_intended, r.seconds)
    end)
  end)

  describe("mixed, through the command-line run layer", function()
    local N = scaled(2000, 100)
    local dir, mock

    setup(function()
      dir = tmp .. "/cli"
      os.execute("mkdir -p " .. q(dir))
    end)
    teardown(function() stop_mock(mock) end)

    it(("smartlua --journal J updates %d accounts through mixed faults: the journal matches the mock"):format(N),
    function()
      local seed, salt, retries = seed_of(301), 21, 2
      local ctx = ("[run layer, seed %d, %d accounts, max_retries %d]"):format(seed, N, retries)
      mock = start_mock(dir, "mock", { faults = mixed_faults(seed) }, math.max(0, N - own_in_fixture()))
      local before = mock_get(mock, "state")
      local path = dir .. "/bulk.jsonl"
      local t0 = core.monotime()
      local h = start_child(dir, "bulk", mock, { "--journal", path, CHILD, "bulk", tostring(N), "64",
        tostring(retries), tostring(salt) })
      local rc = reap(h, 240)
      local seconds = core.monotime() - t0
      local out = json_lines(proc.read(h.out))
      local summary = out[#out] and out[#out].summary
      assert.is_not_nil(summary, ctx .. ": no summary; stderr: " .. (proc.read(h.err) or ""))
      local reported = {}
      for _, line in ipairs(out) do
        if line.failed then
          reported[line.failed] = line
          assert.truthy(line.message:find("/email-accounts/" .. line.failed, 1, true), ctx .. ": why")
        end
      end
      assert.equal(summary.failed > 0 and 4 or 0, rc, ctx .. ": exit code; stderr: " .. (proc.read(h.err) or ""))
      assert.truthy((proc.read(h.err) or ""):find("journal: " .. path, 1, true), ctx .. ": the journal is named")

      local after, log = mock_get(mock, "state"), mock_get(mock, "log")
      local after_by, before_by = by_id(after.accounts), by_id(before.accounts)
      local ids = own_ids(before, N)
      local idx = journal.index(assert(journal.read(path)))
      local by_account = {}
      for _, seq in ipairs(idx.order) do
        local e = idx.by_seq[seq]
        assert.equal("update_email_account", e.intent.op, ctx)
        local id = e.intent.target.account
        assert.is_nil(by_account[id], ctx .. ": account " .. id .. " journaled twice")
        by_account[id] = e
        assert.is_not_nil(e.result, ctx .. ": journal #" .. seq .. " has no result")
      end
      local done, not_done, ambiguous_done = 0, 0, 0
      for _, id in ipairs(ids) do
        local at = ("%s: account %d"):format(ctx, id)
        local e = by_account[id]
        assert.is_not_nil(e, at .. " is not in the journal")
        local want = intended(id, salt)
        assert.equal(want, e.intent.fields.max_email_per_day, at)
        assert.equal(before_by[id].message_per_day, e.intent.before.max_email_per_day, at .. ": before-value")
        local value = after_by[id].message_per_day
        if e.result.status == "ok" then
          done = done + 1
          assert.equal(want, value, at .. ": journaled done, but not so on the server")
          assert.is_nil(reported[id], at .. ": done, yet reported failed")
        else
          not_done = not_done + 1
          assert.is_not_nil(reported[id], at .. ": journaled failed but not reported")
          if value == want then
            ambiguous_done = ambiguous_done + 1
            assert.is_true(reported[id].ambiguous, at .. ": changed on the server, reported failed without `ambiguous`")
          else
            assert.equal(before_by[id].message_per_day, value, at .. ": a third value")
          end
        end
      end
      assert.equal(not_done, summary.failed, ctx .. ": the report and the journal disagree")
      assert.equal(N, summary.total, ctx)
      local requests = by_request(log)
      local posts = 0
      for _, id in ipairs(ids) do
        for _, e in ipairs(requests[update_key(id)] or {}) do
          posts = posts + 1
          assert.equal(intended(id, salt), e.body.max_email_per_day, ctx .. ": a wrong value was sent to " .. id)
        end
      end
      local target = {}
      for _, id in ipairs(ids) do target[id] = true end
      check_untouched(before, after_by, target, ctx)
      local counts = fault_counts(log)
      measure("run layer seed %d: %d accounts, %d requests, %d update requests (%d retries), faults %s, "
        .. "journal done %d, failed %d (%d changed anyway, marked ambiguous), exit %d, %.1fs",
        seed, N, #log, posts, posts - N, describe_counts(counts), done, not_done, ambiguous_done, rc, seconds)

      -- and `smartlua undo` of that journal puts every account back, those whose write was
      -- journaled failed but took effect (its answer lost) included
      assert(mock.admin:request("POST", "/__mock/config", { body = { faults = json.null } }))
      local u = start_child(dir, "undo", mock, { "undo", "--journal", dir .. "/undo.jsonl", path }, "SMARTLUA_RATE=off")
      local t1 = core.monotime()
      local urc = reap(u, 120)
      local undo_seconds = core.monotime() - t1
      local undo_lines = proc.read(u.out) or ""
      assert.equal(0, urc, ctx .. ": undo: " .. undo_lines:sub(-2000) .. (proc.read(u.err) or ""))
      local restored = by_id(mock_get(mock, "state").accounts)
      local left = {}
      for _, a in ipairs(before.accounts) do
        if not same_except(a, restored[a.id], { updated_at = true }) then
          left[#left + 1] = ("%d: %s, was %s (journal: %s)"):format(a.id, tostring(restored[a.id].message_per_day),
            tostring(a.message_per_day), by_account[a.id] and by_account[a.id].result.status or "-")
        end
      end
      assert.same({}, left, ctx .. ": accounts undo did not restore")
      measure("run layer undo: %d accounts restored, %.1fs", N, undo_seconds)
      stop_mock(mock)
      mock = nil
    end)
  end)

  ---------------------------------------------------------------------------- 3. saves

  describe("saves under ambiguous failures", function()
    it(("%d saves with 30%% of connections dropped after the server stored the account: none doubled, none lost")
        :format(scaled(500, 50)), function()
      local n, seed = scaled(500, 50), seed_of(401)
      local ctx = ("[saves, drop_after 0.3, seed %d, %d saves]"):format(seed, n)
      local server = support.server()
      local before = server:state()
      server:configure { faults = { seed = seed, drop_after = 0.3 } }
      local client = server:client { concurrency = 8 }
      local addrs, answers = {}, {}
      for i = 1, n do addrs[i] = ("bulk-save-%04d@saves.faults.example.net"):format(i) end
      local t0 = core.monotime()
      local report = client:each(addrs, function(addr)
        local a, err = client:add_smtp_account(save_fields(addr, tonumber(addr:match("(%d+)@"))))
        answers[addr] = { answer = a, err = err }
        return a, err
      end, { concurrency = 8, progress = false })
      local seconds = core.monotime() - t0
      server:configure { faults = json.null }
      client:close()
      local log, after = server:log(), server:state()
      server:stop()

      local counts, by_email = address_counts(after), {}
      for _, a in ipairs(after.accounts) do by_email[a.from_email:lower()] = a end
      local dups, missing, recovered, wrong = 0, 0, 0, {}
      for _, addr in ipairs(addrs) do
        local c = counts[addr] or 0
        if c > 1 then dups = dups + 1 end
        if c == 0 then missing = missing + 1 end
        local r = answers[addr]
        if r.answer then
          if r.answer.recovered then recovered = recovered + 1 end
          if c ~= 1 or r.answer.email_account_id ~= by_email[addr].id then
            wrong[#wrong + 1] = addr .. ": ok answer does not match the state"
          end
        elseif not r.err.ambiguous then
          wrong[#wrong + 1] = ("%s: failed, not ambiguous, yet %d in the state: %s"):format(addr, c, tostring(r.err))
        end
      end
      local blind = blind_resends(log)
      local posts = 0
      for _, e in ipairs(log) do
        if e.path == "/api/v1/email-accounts/save" then posts = posts + 1 end
      end
      local fcounts = fault_counts(log)
      measure("saves drop_after=0.3 seed %d: %d saves, %d requests, %d save requests, faults %s, "
        .. "ok %d (%d recovered by lookup), failed %d, inconsistent answers %d, blind resends %d, duplicates %d, "
        .. "missing %d, %.1fs",
        seed, n, #log, posts, describe_counts(fcounts), report.ok, recovered, #report.failed, #wrong, #blind, dups,
        missing, seconds)
      assert.equal(0, dups, ctx .. ": duplicate accounts")
      assert.equal(0, missing, ctx .. ": addresses missing")
      assert.equal(#before.accounts + n, #after.accounts, ctx .. ": accounts in the state")
      assert.same({}, blind, ctx .. ": saves sent again without a lookup")
      assert.same({}, wrong, ctx .. ": answers inconsistent with the state")
      assert.equal(n, report.ok + #report.failed, ctx)
      assert.is_true(recovered > 0, ctx .. ": no save needed its lookup, so nothing was tested")
    end)
  end)

  ---------------------------------------------------------------------------- 4. SIGKILL

  describe("SIGKILL and --resume", function()
    local N = scaled(300, 30)
    local POINTS = scaled(24, 5)
    local dir, mock

    setup(function()
      dir = tmp .. "/kill"
      os.execute("mkdir -p " .. q(dir))
    end)
    teardown(function() stop_mock(mock) end)

    -- How far the journal got: {lines = intent and result lines, intents = intent lines}.
    local function progress(path)
      local text = proc.read(path) or ""
      local lines, begins, intents = 0, 0, 0
      for _ in text:gmatch("\n") do lines = lines + 1 end
      for _ in text:gmatch('"type":"begin"') do begins = begins + 1 end
      for _ in text:gmatch('"type":"intent"') do intents = intents + 1 end
      return { lines = lines - begins, intents = intents }
    end

    local function reached(path, point)
      local p = progress(path)
      if point.lines then return p.lines >= point.lines, p end
      return p.intents >= point.intents, p
    end

    -- Accounts with an ok result, and accounts with an intent but no result, in the journal now.
    local function journal_sets(path)
      local done, pending = {}, {}
      local records = proc.read(path) and journal.read(path)
      if not records then return done, pending end
      local idx = journal.index(records)
      for _, seq in ipairs(idx.order) do
        local e = idx.by_seq[seq]
        local id = e.intent.target.account
        if e.result and e.result.status == "ok" then done[id] = true
        elseif not e.result then pending[id] = true end
      end
      return done, pending
    end

    local function count(set)
      local n = 0
      for _ in pairs(set) do n = n + 1 end
      return n
    end

    -- Kill points: "zero" (as soon as it started) or a count of journal lines, spread over the run.
    local function kill_plan()
      local zeros = POINTS >= 12 and 3 or 1
      local ends = POINTS >= 8 and 2 or 1
      local spread = POINTS - zeros - ends
      local plan = { { zero = true } }
      for i = 1, spread do
        plan[#plan + 1] = { lines = math.floor(3 + (2 * N - 8) * i / (spread + 1)) }
        if zeros >= 2 and i == spread // 3 then plan[#plan + 1] = { zero = true } end
        if zeros >= 3 and i == 2 * spread // 3 then plan[#plan + 1] = { zero = true } end
      end
      -- near the end: the last writes sent, their results not yet journaled
      plan[#plan + 1] = { intents = N - 2 }
      if ends >= 2 then plan[#plan + 1] = { intents = N } end
      return plan
    end

    it(("a bulk update of %d accounts killed at %d points, then resumed: nothing lost, nothing doubled")
        :format(N, POINTS), function()
      local salt, concurrency = 31, 4
      -- about 4.5 s of requests in all, whatever N, so the kill points land inside the run
      local latency = math.max(40, math.min(600, math.floor(4500 * concurrency / N)))
      local ctx = ("[SIGKILL, %d accounts, %d points, latency %d ms]"):format(N, POINTS, latency)
      mock = start_mock(dir, "mock", { latency_ms = latency }, math.max(0, N - own_in_fixture()))
      local before = mock_get(mock, "state")
      local ids = own_ids(before, N)
      local path = dir .. "/kill.jsonl"
      local args = { CHILD, "bulk", tostring(N), tostring(concurrency), "5", tostring(salt) }
      local function launch(i)
        local mode = proc.exists(path) and "--resume" or "--journal"
        local argv = { mode, path }
        for _, a in ipairs(args) do argv[#argv + 1] = a end
        return start_child(dir, "run" .. i, mock, argv)
      end

      local plan = kill_plan()
      local boundaries, done_at = {}, {} -- log seq at the end of each killed run; done sets then
      local kills, zero_kills, pending_total = 0, 0, 0
      local t0 = core.monotime()
      local h = launch(0)
      for i, point in ipairs(plan) do
        local running = true
        if not point.zero then
          local deadline = core.monotime() + 60
          while true do
            local there, p = reached(path, point)
            if there then break end
            if exit_code(h) then running = false break end
            assert.is_true(core.monotime() < deadline, ("%s: journal stuck at %d lines"):format(ctx, p.lines))
            proc.nap(0.01)
          end
        end
        if not running then break end -- finished before this point: the remaining points are past the end
        kill(h)
        local rc = reap(h, 30)
        if rc ~= 137 then
          assert.equal(0, rc, ctx .. ": run " .. (i - 1) .. " failed: " .. (proc.read(h.err) or ""))
          break
        end
        kills = kills + 1
        if point.zero then zero_kills = zero_kills + 1 end
        proc.nap(0.15) -- requests the dead client had already sent get logged
        local log = mock_get(mock, "log")
        boundaries[kills] = #log > 0 and log[#log].seq or 0
        local done, pending = journal_sets(path)
        done_at[kills] = done
        pending_total = pending_total + count(pending)
        h = launch(i)
      end
      local rc = reap(h, 120)
      assert.equal(0, rc, ctx .. ": the last run: " .. (proc.read(h.err) or ""))
      local seconds = core.monotime() - t0
      -- the points near the end may come too late for a run that just finished: a few may go
      local required = math.max(POINTS - 4, math.min(POINTS - 1, 5))
      assert.is_true(kills >= required, ("%s: only %d of %d kill points were reached"):format(ctx, kills, POINTS))

      local log, after = mock_get(mock, "log"), mock_get(mock, "state")
      local after_by = by_id(after.accounts)
      -- the first kill after which each account was journaled done
      local done_since = {}
      for k = 1, kills do
        for id in pairs(done_at[k]) do
          if not done_since[id] then done_since[id] = k end
        end
      end
      local posts, doubled, resent = {}, {}, 0
      for _, e in ipairs(log) do
        local id = e.method == "POST" and tonumber(e.path:match("^/api/v1/email%-accounts/(%d+)$"))
        if id then
          posts[id] = (posts[id] or 0) + 1
          assert.equal(intended(id, salt), e.body.max_email_per_day, ctx .. ": a wrong value was sent to " .. id)
          local k = done_since[id]
          if k and e.seq > boundaries[k] and applied(e) then
            doubled[#doubled + 1] = ("%d written again (log #%d) after the journal showed it done at kill %d")
              :format(id, e.seq, k)
          end
        end
      end
      local target = {}
      for _, id in ipairs(ids) do
        target[id] = true
        assert.equal(intended(id, salt), after_by[id].message_per_day, ctx .. ": account " .. id .. " lost")
        assert.is_true((posts[id] or 0) >= 1, ctx .. ": account " .. id .. " never written")
        if posts[id] > 1 then resent = resent + 1 end
      end
      assert.same({}, doubled, ctx .. ": writes doubled after they were journaled done")
      check_untouched(before, after_by, target, ctx)
      -- the journal closes every write with an ok result, once per account
      local idx = journal.index(assert(journal.read(path)))
      local seen = {}
      for _, seq in ipairs(idx.order) do
        local e = idx.by_seq[seq]
        local id = e.intent.target.account
        assert.is_nil(seen[id], ctx .. ": account " .. id .. " has two journal entries")
        seen[id] = true
        assert.equal("ok", e.result and e.result.status, ctx .. ": journal #" .. seq)
      end
      assert.equal(N, count(seen), ctx .. ": accounts in the journal")
      assert.is_true(resent <= pending_total, ctx .. ": more accounts written twice than writes in flight at kills")
      local total_posts = 0
      for _, n in pairs(posts) do total_posts = total_posts + n end
      measure("SIGKILL: %d accounts, %d kill points of %d planned (%d at time 0), %d writes in flight at the kills, "
        .. "%d accounts written twice (in flight, same value), 0 doubled after done, %d update requests, "
        .. "%d requests, %.1fs",
        N, kills, POINTS, zero_kills, pending_total, resent, total_posts, #log, seconds)
      stop_mock(mock)
      mock = nil
    end)
  end)

  describe("Ctrl-C and SIGTERM", function()
    local N = 40
    local dir, mock
    setup(function()
      dir = tmp .. "/stop"
      os.execute("mkdir -p " .. q(dir))
    end)
    teardown(function() stop_mock(mock) end)

    local function intents(path)
      local n = 0
      for _ in (proc.read(path) or ""):gmatch('"type":"intent"') do n = n + 1 end
      return n
    end

    -- Waits until the journal at path holds `n` intents (or h ended), then sends `signal`.
    local function stop_at(h, path, n, signal, ctx)
      local deadline = core.monotime() + 30
      while intents(path) < n and not exit_code(h) do
        assert.is_true(core.monotime() < deadline, ctx .. ": the run never reached " .. n .. " writes")
        proc.nap(0.01)
      end
      assert.is_nil(exit_code(h), ctx .. ": the run ended before the signal")
      kill(h, signal)
      return reap(h, 30)
    end

    -- Every intent in the journal has its result; returns the accounts journaled ok.
    local function closed(path, ctx)
      local idx, ok = journal.index(assert(journal.read(path))), {}
      for _, seq in ipairs(idx.order) do
        local e = idx.by_seq[seq]
        assert.truthy(e.result, ("%s: journal #%d has no result"):format(ctx, seq))
        if e.result.status == "ok" then ok[#ok + 1] = e.intent.target.account end
      end
      return ok
    end

    local function all_set(salt, ids, ctx)
      local after = by_id(mock_get(mock, "state").accounts)
      for _, id in ipairs(ids) do assert.equal(intended(id, salt), after[id].message_per_day, ctx .. ": " .. id) end
    end

    it("a script stopped by Ctrl-C exits 130, says how to finish, and --resume finishes it", function()
      local salt, ctx = 53, "[SIGINT, script]"
      mock = start_mock(dir, "mock", { latency_ms = 150 }, math.max(0, N - own_in_fixture()))
      local ids = own_ids(mock_get(mock, "state"), N)
      local path = dir .. "/int.jsonl"
      local bulk = { CHILD, "bulk", tostring(N), "4", "5", tostring(salt) }
      local h = start_child(dir, "int", mock, { "--journal", path, table.unpack(bulk) })
      assert.equal(130, stop_at(h, path, 8, "INT", ctx), proc.read(h.err))
      local err = proc.read(h.err)
      assert.truthy(err:find("stopped by SIGINT: ", 1, true), err)
      assert.is_nil(err:find("stack traceback", 1, true), err)
      local resume = err:match("finish the run with: smartlua (%-%-resume [^\n]+)")
      assert.equal(("--resume %s %s"):format(path, CHILD), resume)
      local done = closed(path, ctx)
      assert.is_true(#done >= 4 and #done < N, ctx .. ": " .. #done .. " done before the stop")
      local h2 = start_child(dir, "int2", mock, { "--resume", path, table.unpack(bulk) })
      assert.equal(0, reap(h2, 60), proc.read(h2.err))
      all_set(salt, ids, ctx)
      assert.equal(N, #closed(path, ctx))
    end)

    it("apply stopped by SIGTERM exits 143 and says the apply --resume that finishes it", function()
      local salt, ctx = 59, "[SIGTERM, apply]"
      mock = mock or start_mock(dir, "mock", { latency_ms = 150 }, math.max(0, N - own_in_fixture()))
      local ids = own_ids(mock_get(mock, "state"), N)
      local plan, path = dir .. "/p.json", dir .. "/apply.jsonl"
      local h = start_child(dir, "plan", mock, { "--plan", "--plan-out", plan, CHILD, "bulk", tostring(N), "4", "5",
        tostring(salt) })
      assert.equal(0, reap(h, 60), proc.read(h.err))
      h = start_child(dir, "apply", mock, { "apply", "--journal", path, plan })
      assert.equal(143, stop_at(h, path, 8, "TERM", ctx), proc.read(h.err))
      local out = (proc.read(h.out) or "") .. (proc.read(h.err) or "")
      assert.truthy(out:find("stopped: cancelled by Ctrl-C after", 1, true) or out:find("stopped", 1, true), out)
      assert.truthy(out:find(("finish it with: smartlua apply --resume %s %s"):format(path, plan), 1, true), out)
      closed(path, ctx)
      h = start_child(dir, "apply2", mock, { "apply", "--resume", path, plan })
      assert.equal(0, reap(h, 60), proc.read(h.err))
      all_set(salt, ids, ctx)
    end)
  end)

  ---------------------------------------------------------------------------- 5. memory

  describe("memory over a long run", function()
    local dir, mock
    setup(function()
      dir = tmp .. "/memory"
      os.execute("mkdir -p " .. q(dir))
    end)
    teardown(function() stop_mock(mock) end)

    it(("%d reads through a few faults: RSS flat between the first tenth and the end"):format(scaled(10000, 1000)),
    function()
      if os.getenv("SMARTLUA_SPEC_SANITIZER") then -- set by spec/run.sh's asan suite
        return pending("ASan keeps freed memory in quarantine on purpose: RSS measures nothing there")
      end
      local n = scaled(10000, 1000)
      local step = n // 10
      local seed = seed_of(501)
      local bound_kb = 8 * 1024
      local ctx = ("[memory, seed %d, %d requests]"):format(seed, n)
      mock = start_mock(dir, "mock", { faults = { seed = seed, p5xx = 0.01, drop = 0.005, truncate = 0.005 } })
      local t0 = core.monotime()
      local h = start_child(dir, "reads", mock, { "--no-journal", CHILD, "memory", tostring(n), tostring(step) })
      local rc = reap(h, 170)
      local seconds = core.monotime() - t0
      assert.equal(0, rc, ctx .. ": " .. (proc.read(h.err) or ""))
      local points = json_lines(proc.read(h.out))
      assert.equal(10, #points, ctx .. ": measurements")
      local first, last = points[1], points[#points]
      assert.equal(step, first.at, ctx)
      assert.equal(n, last.at, ctx)
      assert.equal(0, last.failed, ctx .. ": reads failed through retries")
      local log = mock_get(mock, "log")
      local counts = fault_counts(log)
      local requests = #log > 0 and log[#log].seq or 0
      local rss_growth, hwm_growth = last.rss_kb - first.rss_kb, last.hwm_kb - first.hwm_kb
      local figures = ("VmRSS %d kB at %d reads, %d kB at %d (growth %d kB); "
        .. "VmHWM %d kB -> %d kB (growth %d kB); bound %d kB"):format(
        first.rss_kb, first.at, last.rss_kb, last.at, rss_growth, first.hwm_kb, last.hwm_kb, hwm_growth, bound_kb)
      measure("memory seed %d: %d reads, %d requests (%d retries), faults %s; %s; %.1fs",
        seed, n, requests, requests - n - 1, describe_counts(counts), figures, seconds)
      assert.is_true(rss_growth < bound_kb, ctx .. ": " .. figures)
      assert.is_true(hwm_growth < bound_kb, ctx .. ": " .. figures)
      stop_mock(mock)
      mock = nil
    end)
  end)
end)
