-- bench/workloads.lua: the smartlua side of `make bench`, written as a user would write it.
--
--   build/smartlua bench/workloads.lua W1|W2|W3|W4
--
-- Environment: SMARTLEAD_API_KEY, SMARTLEAD_BASE_URL (the mock), BENCH_IDS_FILE (W2, W3: one
-- account id a line), BENCH_VALUE (W2, W3: the new max_email_per_day), BENCH_EXPECT (W1: the
-- fleet size to assert). The last line on stdout is `RESULT {json}` for bench/run.py.
--
-- It uses the concurrent engine when the client has it (smartlead.client{concurrency=, rate=},
-- client:each) and falls back to plain sequential calls otherwise, so it runs on either build.
local smartlead = require "smartlead"
local json = smartlead.json

local workload = arg[1] or error("usage: smartlua bench/workloads.lua W1|W2|W3|W4", 0)

-- A client with the engine's options, or the plain client when this build does not know them.
local function new_client(opts)
  local ok, client = pcall(smartlead.client, opts)
  if ok then return client, true end
  if not tostring(client):find("unknown option", 1, true) then error(client, 0) end
  return smartlead.client(), false
end

local function read_ids()
  local path = os.getenv("BENCH_IDS_FILE") or error("BENCH_IDS_FILE is not set", 0)
  local ids = {}
  for line in io.lines(path) do
    local id = math.tointeger(tonumber(line))
    if id then ids[#ids + 1] = id end
  end
  assert(#ids > 0, "no ids in " .. path)
  return ids
end

local function sleep(seconds) os.execute(("sleep %.3f"):format(seconds)) end

local function result(t)
  io.stdout:write("RESULT ", json.encode(t), "\n")
  io.stdout:flush()
end

-- Sets max_email_per_day on every id. With the engine: client:each, the engine paces and retries;
-- without it: one call after the other, sleeping on a 429 as a careful user would.
-- Returns the count of 429s that reached this script, and the engine flag.
-- The idiomatic script picks the accounts it changes from the listing; that also gives the
-- journal (on by default) the before-values undo needs, at one request per 100 accounts, instead
-- of one read per write. The ids file holds the first N accounts of the listing.
local function pick_from_listing(client, ids)
  local want, targets = {}, {}
  for _, id in ipairs(ids) do want[id] = true end
  for a in client:accounts() do
    if want[a.id] then targets[#targets + 1] = a end
    if #targets == #ids then break end
  end
  if #targets ~= #ids then error(("found %d of the %d accounts in the listing"):format(#targets, #ids), 0) end
  return targets
end

local function bulk_update(client, engine, ids, value, concurrency)
  local seen_429, pending = 0, {}
  local fields = { max_email_per_day = value }
  local function update(id)
    pending[id] = true
    local ok, err = client:update_email_account(id, fields)
    if not ok then
      if err.status == 429 then seen_429 = seen_429 + 1 end
      error(err, 0)
    end
    pending[id] = nil
    return ok
  end
  local leftovers = ids
  if engine and client.each then
    local targets = pick_from_listing(client, ids)
    client:each(targets, function(a) return update(a.id) end, { concurrency = concurrency })
    leftovers = {}
    for _, id in ipairs(ids) do
      if pending[id] then leftovers[#leftovers + 1] = id end
    end
  end
  -- Sequential path (the fallback, or what the engine gave back): retry 429s, bounded.
  for _, id in ipairs(leftovers) do
    local done = false
    for _ = 1, 60 do
      local ok, err = pcall(update, id)
      if ok then done = true break end
      if type(err) ~= "table" or err.status ~= 429 then error(err, 0) end
      sleep(math.min(math.max(tonumber(err.retry_after) or 1, 0.05), 10))
    end
    if not done then error(("account %d: still rate limited after 60 tries"):format(id), 0) end
  end
  return seen_429
end

local run = {}

-- W1 fleet scan: every account, deduplicated; the count must be exactly BENCH_EXPECT.
function run.W1()
  local client, engine = new_client { concurrency = 8, rate = false }
  local list = assert(client:all_accounts())
  local distinct = {}
  local n = 0
  for _, a in ipairs(list) do
    if not distinct[a.id] then distinct[a.id], n = true, n + 1 end
  end
  local expect = math.tointeger(tonumber(os.getenv("BENCH_EXPECT") or ""))
  if expect and n ~= expect then
    error(("W1: expected %d distinct accounts, got %d (%d rows)"):format(expect, n, #list), 0)
  end
  result { workload = "W1", accounts = n, rows = #list, engine = engine and client.each ~= nil }
end

-- W2 bulk update: max_email_per_day on every id, 8 at a time, no client-side pacing.
function run.W2()
  local client, engine = new_client { concurrency = 8, rate = false }
  local ids, value = read_ids(), math.tointeger(tonumber(os.getenv("BENCH_VALUE")))
  local seen_429 = bulk_update(client, engine, ids, value, 8)
  result { workload = "W2", updated = #ids, value = value, seen_429 = seen_429, engine = engine and client.each ~= nil }
end

-- W3 rate-limited: the same against a server allowing 50 requests a second; the client paces.
function run.W3()
  local client, engine = new_client { concurrency = 8, rate = { requests = 50, per = 1 } }
  local ids, value = read_ids(), math.tointeger(tonumber(os.getenv("BENCH_VALUE")))
  local seen_429 = bulk_update(client, engine, ids, value, 8)
  result { workload = "W3", updated = #ids, value = value, seen_429 = seen_429, engine = engine and client.each ~= nil }
end

-- W4 cost: every account, streamed; count Gmail inboxes whose warmup reputation is below 90.
function run.W4()
  local client, engine = new_client { concurrency = 8, rate = false }
  local seen, weak = 0, 0
  for a in client:accounts() do
    seen = seen + 1
    if a.type == "GMAIL" then
      local rep = smartlead.reputation(a)
      if rep and rep < 90 then weak = weak + 1 end
    end
  end
  result { workload = "W4", accounts = seen, weak_gmail = weak, engine = engine and client.each ~= nil }
end

local f = run[workload] or error("unknown workload " .. tostring(workload), 0)
f()
