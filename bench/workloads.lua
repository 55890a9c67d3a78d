-- bench/workloads.lua: the smartlua side of `make bench`, written as a user would write it, with
-- smartlua's default settings: smartlead.client() and client:each() take no rate, concurrency
-- or retry option here (the bench measures what users get).
--
--   build/smartlua bench/workloads.lua W1|W2|W3|W4|W5|W6|SNAP
--
-- Environment: SMARTLEAD_API_KEY, SMARTLEAD_BASE_URL (the mock), BENCH_IDS_FILE (the updates:
-- one account id a line), BENCH_VALUE (the new max_email_per_day), BENCH_EXPECT (W1, W4, SNAP:
-- the fleet size to assert), BENCH_DB (SNAP: the history file). The last line on stdout is
-- `RESULT {json}` for bench/run.py. A 429 that reaches the script (an error whose status is 429)
-- is counted in seen_429, waited out as a careful user would, and the work finishes.
local smartlead = require "smartlead"
local json = smartlead.json

local workload = arg[1] or error("usage: smartlua bench/workloads.lua W1|W2|W3|W4|W5|W6|SNAP", 0)

local seen_429 = 0

local function sleep(seconds) os.execute(("sleep %.3f"):format(seconds)) end

local function result(t)
  t.seen_429 = seen_429
  io.stdout:write("RESULT ", json.encode(t), "\n")
  io.stdout:flush()
end

-- fn() -> answer | nil, err (or raises err: the account iterator does). A 429 is counted and
-- waited out (Retry-After, else 1 s), at most 60 times; any other error ends the run.
local function patiently(what, fn)
  for _ = 1, 60 do
    local ok, answer, err = pcall(fn)
    if not ok then answer, err = nil, answer end
    if answer ~= nil then return answer end
    if type(err) ~= "table" or err.status ~= 429 then error(what .. ": " .. tostring(err), 0) end
    seen_429 = seen_429 + 1
    sleep(math.min(math.max(tonumber(err.retry_after) or 1, 0.05), 120))
  end
  error(what .. ": still rate limited after 60 tries", 0)
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

local function expect(n)
  local want = math.tointeger(tonumber(os.getenv("BENCH_EXPECT") or ""))
  if want and n ~= want then error(("%s: expected %d distinct accounts, got %d"):format(workload, want, n), 0) end
  return n
end

-- Sets max_email_per_day on every item through client:each (items are accounts, or ids);
-- items whose call ended in a 429 are counted and done again, patiently, one by one.
local function update_all(client, items)
  local fields = { max_email_per_day = math.tointeger(tonumber(os.getenv("BENCH_VALUE"))) }
  local function id_of(item) return type(item) == "table" and item.id or item end
  local report = client:each(items, function(item)
    local ok, err = client:update_email_account(id_of(item), fields)
    if not ok then error(err, 0) end
    return ok
  end)
  for _, f in ipairs(report.failed or {}) do
    local err = f.error
    if type(err) ~= "table" or err.status ~= 429 then error("update: " .. tostring(err), 0) end
    seen_429 = seen_429 + 1
    local id = id_of(f.item)
    patiently("update " .. id, function() return client:update_email_account(id, fields) end)
  end
  return #items
end

-- The idiomatic bulk script picks the accounts it changes from the listing: that also hands the
-- journal (on by default) their before-values, at one request per 100 accounts.
local function pick_from_listing(client, ids)
  local want, targets = {}, {}
  for _, id in ipairs(ids) do want[id] = true end
  patiently("listing", function()
    targets = {}
    for a in client:accounts() do
      if want[a.id] then targets[#targets + 1] = a end
      if #targets == #ids then break end
    end
    return true
  end)
  if #targets ~= #ids then error(("found %d of the %d accounts in the listing"):format(#targets, #ids), 0) end
  return targets
end

local run = {}

-- W1 fleet scan: every account, deduplicated; the count must be exactly BENCH_EXPECT.
function run.W1()
  local client = smartlead.client()
  local list = patiently("all_accounts", function() return client:all_accounts() end)
  local distinct, n = {}, 0
  for _, a in ipairs(list) do
    if not distinct[a.id] then distinct[a.id], n = true, n + 1 end
  end
  result { workload = "W1", accounts = expect(n), rows = #list }
end

-- W2, W3, W6 bulk update: the ids' accounts picked from the listing, then max_email_per_day set
-- on each through client:each.
function run.W2()
  local client = smartlead.client()
  local ids = read_ids()
  local n = update_all(client, pick_from_listing(client, ids))
  result { workload = workload, updated = n }
end
run.W3, run.W6 = run.W2, run.W2

-- W4 cost: every account, streamed; count Gmail inboxes whose warmup reputation is below 90.
function run.W4()
  local client = smartlead.client()
  local seen, weak
  patiently("accounts", function()
    seen, weak = 0, 0
    for a in client:accounts() do
      seen = seen + 1
      if a.type == "GMAIL" then
        local rep = smartlead.reputation(a)
        if rep and rep < 90 then weak = weak + 1 end
      end
    end
    return true
  end)
  result { workload = "W4", accounts = expect(seen), weak_gmail = weak }
end

-- W5 update by id: the ids straight from the file (not listed first), through client:each.
function run.W5()
  local client = smartlead.client()
  result { workload = "W5", updated = update_all(client, read_ids()) }
end

-- SNAP: one fleet-memory snapshot of the whole workspace into BENCH_DB.
function run.SNAP()
  local client = smartlead.client()
  local db = os.getenv("BENCH_DB") or error("BENCH_DB is not set", 0)
  local snap = patiently("snapshot", function() return smartlead.snapshot(client, { db = db, workspace = "bench" }) end)
  result { workload = "SNAP", accounts = expect(snap.accounts), requests = snap.requests }
end

local f = run[workload] or error("unknown workload " .. tostring(workload), 0)
f()
