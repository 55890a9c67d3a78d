-- The child process of spec/faults_spec.lua: run by build/smartlua (with --journal J, --resume J
-- or --no-journal) against a `smartlua mock` process named by SMARTLEAD_API_KEY and
-- SMARTLEAD_BASE_URL. Prints JSON lines on stdout for the spec to check.
--
--   fault_child.lua bulk N CONCURRENCY MAX_RETRIES SALT
--       sets max_email_per_day = 1000 + (id * 7 + SALT) % 997 on the first N own accounts
--       (sorted by id) through client:each; one {"failed":id,...} line per item that could not
--       be done, then {"summary":{...}}
--   fault_child.lua memory N STEP
--       N reads (get_email_account, concurrency 8), {"at":n,"rss_kb":,"hwm_kb":,...} after
--       every STEP of them
local smartlead = require "smartlead"
local json = smartlead.json

local mode = arg[1]

local function number_arg(i, default)
  local n = math.tointeger(tonumber(arg[i] or ""))
  return n or default
end

local function emit(v)
  io.stdout:write(json.encode(v), "\n")
  io.stdout:flush()
end

local function new_client(concurrency, max_retries)
  -- no client-side pace: the mock's latency and faults are what this run is about
  return smartlead.client { rate = false, concurrency = concurrency, max_retries = max_retries }
end

-- Every account, listed with a retry budget that gets each page through the faults.
local function own_accounts()
  local lister = new_client(8, 10)
  local list = assert(lister:all_accounts())
  lister:close()
  table.sort(list, function(a, b) return a.id < b.id end)
  return list
end

local function bulk()
  local n, concurrency, retries, salt = number_arg(2, 100), number_arg(3, 8), number_arg(4, 5), number_arg(5, 0)
  local client = new_client(concurrency, retries)
  local list = own_accounts()
  assert(#list >= n, ("only %d accounts, %d asked"):format(#list, n))
  local items = {}
  for i = 1, n do items[i] = list[i].id end
  local report = client:each(items, function(id)
    return client:update_email_account(id, { max_email_per_day = 1000 + (id * 7 + salt) % 997 })
  end, { concurrency = concurrency, progress = false })
  for _, f in ipairs(report.failed) do
    local e = f.error
    local t = type(e) == "table" or type(e) == "userdata"
    emit { failed = f.item, kind = t and e.kind or "raised", code = t and e.code or nil,
           status = t and e.status or nil, ambiguous = t and e.ambiguous or false,
           message = tostring(e) }
  end
  emit { summary = { total = report.total, ok = report.ok, failed = #report.failed } }
end

local function memory_status()
  local f = assert(io.open("/proc/self/status", "r"))
  local text = f:read("a")
  f:close()
  return tonumber(text:match("VmRSS:%s*(%d+)")), tonumber(text:match("VmHWM:%s*(%d+)"))
end

local function memory()
  local n, step = number_arg(2, 10000), number_arg(3, 1000)
  local client = new_client(8, 5)
  local list = own_accounts()
  local done, ok, failed = 0, 0, 0
  while done < n do
    local items = {}
    for i = 1, math.min(step, n - done) do items[i] = list[(done + i - 1) % #list + 1].id end
    local report = client:each(items, function(id)
      local a, err = client:get_email_account(id)
      if a and a.id ~= id then error(("asked %d, got %s"):format(id, tostring(a.id))) end
      return a, err
    end, { concurrency = 8, progress = false })
    done, ok, failed = done + #items, ok + report.ok, failed + #report.failed
    local rss, hwm = memory_status()
    emit { at = done, rss_kb = rss, hwm_kb = hwm, ok = ok, failed = failed }
  end
end

if mode == "bulk" then bulk()
elseif mode == "memory" then memory()
else error("usage: fault_child.lua bulk|memory ...", 0) end
