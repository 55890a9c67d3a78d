-- Cooperative tasks over the HTTP engine. A task is a coroutine registered with the engine:
-- its endpoint calls yield while the request is in flight, and the engine hands the coroutine
-- back when the answer is there. Script authors write sequential code; `each` and the pager
-- run many such tasks at once.
local core = require "smartlead.core"

local IO_WAIT = core.IO_WAIT
local WAIT_TASKS = setmetatable({}, { __name = "smartlead.tasks.WAIT" }) -- yielded by a task waiting on tasks

local M = {}

local by_co = setmetatable({}, { __mode = "k" }) -- coroutine -> task, for tasks not finished
local ready = {}                                 -- tasks to resume on the next turn

local function finish(task, ok, ...)
  task.done, task.ok = true, ok
  task.results = table.pack(...)
  by_co[task.co] = nil
  for _, w in ipairs(task.waiters) do ready[#ready + 1] = w end
  task.waiters = {}
end

local function step(task)
  local res = table.pack(coroutine.resume(task.co))
  if coroutine.status(task.co) == "dead" then
    return finish(task, table.unpack(res, 1, res.n))
  end
  local why = res[2]
  if why ~= IO_WAIT and why ~= WAIT_TASKS then
    -- a coroutine.yield inside a task has nobody to go to: fail the task, loudly
    finish(task, false, "coroutine.yield() inside a smartlead task is not supported")
  end
end

-- tasks.spawn(fn, ...) -> task; runs on the next turn of whoever is waiting.
function M.spawn(fn, ...)
  local args = table.pack(...)
  local task = { waiters = {}, done = false }
  task.co = coroutine.create(function() return fn(table.unpack(args, 1, args.n)) end)
  core.schedule(task.co)
  by_co[task.co] = task
  ready[#ready + 1] = task
  return task
end

-- tasks.pass(): inside a task, lets every other ready task run before this one goes on (tasks
-- started together see each other); elsewhere nothing.
function M.pass()
  local me = by_co[coroutine.running()]
  if not me then return end
  ready[#ready + 1] = me
  coroutine.yield(WAIT_TASKS)
end

local function all_done(list)
  for _, t in ipairs(list) do
    if not t.done then return false end
  end
  return true
end

-- Resumes what is ready, then lets the engine move data for up to `block` seconds.
local function turn(block)
  while #ready > 0 do
    local batch = ready
    ready = {}
    for _, t in ipairs(batch) do
      if not t.done then step(t) end
    end
  end
  for _, co in ipairs(core.engine_pump(block)) do
    local t = by_co[co]
    if t then ready[#ready + 1] = t end
  end
end

-- tasks.wait(list[, on_turn]) waits until every task in list is done. Inside a task it
-- yields to the driver; elsewhere it drives the engine itself, calling on_turn() each turn.
function M.wait(list, on_turn)
  local me = by_co[coroutine.running()]
  if me then
    while not all_done(list) do
      for _, t in ipairs(list) do
        if not t.done then t.waiters[#t.waiters + 1] = me end
      end
      coroutine.yield(WAIT_TASKS)
    end
    return
  end
  while not all_done(list) do
    turn(#ready > 0 and 0 or 0.1)
    if on_turn then on_turn() end
  end
end

-- ---------------------------------------------------------------- each

-- Seconds the key's budget needs for n more requests, by its slowest window (as a plan's
-- estimate counts them: an hourly cap shows from the start, not once it is met); 0 unpaced.
local function paced_seconds(client, n)
  local ok, b = pcall(function() return client:rate_budget() end)
  if not ok or type(b) ~= "table" or b.off then return 0 end
  local slowest = 0
  for _, w in ipairs(b.windows or {}) do slowest = math.max(slowest, n / w.requests * w.per) end
  return slowest
end

-- "37s", "12m05s", "2h59m"
local function eta_text(seconds)
  local s = math.floor(seconds + 0.5)
  if s < 60 then return s .. "s" end
  if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%dh%02dm"):format(s // 3600, s % 3600 // 60)
end

local function progress_printer(label, total, client)
  if total < 2 or not core.isatty(2) then return nil end
  local t0, last = core.monotime(), -1
  return function(done, final)
    local now = core.monotime()
    if not final and now - last < 0.25 then return end
    last = now
    local elapsed = now - t0
    local rate = elapsed > 0 and done / elapsed or 0
    local eta = math.max(rate > 0 and (total - done) / rate or 0, paced_seconds(client, total - done))
    local st = core.engine_status()
    local wait = st.pause > 0.5 and (" | waiting %.1fs: %s"):format(st.pause, st.reason or "rate limit") or ""
    local line = ("\r%s %d/%d  %.1f/s  ETA %s%s\027[K"):format(label, done, total, rate, eta_text(eta), wait)
    io.stderr:write(line)
    if final then io.stderr:write("\n") end
  end
end

local function check_each_args(items, fn, opts)
  if type(items) ~= "table" then error("each: items must be a list, got " .. type(items), 3) end
  if type(fn) ~= "function" then error("each: fn must be a function, got " .. type(fn), 3) end
  if opts ~= nil and type(opts) ~= "table" then error("each: options must be a table", 3) end
  local c = opts and opts.concurrency
  if c ~= nil and (math.type(c) ~= "integer" or c < 1 or c > 64) then
    error("each: concurrency must be an integer from 1 to 64", 3)
  end
end

-- Raised by each() after a Ctrl-C, once the items in flight are resolved.
local function cancelled_error(report, started)
  local err = core.new_error {
    kind = "cancelled", code = "CANCELLED", report = report,
    message = ("cancelled by Ctrl-C: %d of %d items done (%d ok, %d failed), %d not started"):format(
      report.ok + #report.failed, report.total, report.ok, #report.failed, report.total - started),
  }
  error(err, 0)
end

-- client:each(items, fn, {concurrency=N, progress=bool, label=}) -> report
-- Runs fn(item) for every item, the endpoint calls of different items concurrently. An item
-- fails when fn raises or returns nil, err; one failure never stops the others. A Ctrl-C
-- (core.interrupt_pending()) stops it starting items and raises a "cancelled" error whose
-- report field holds what was done.
-- report = {total=, ok=, failed={ {index=, item=, error=} ... }}
function M.each(client, items, fn, opts)
  check_each_args(items, fn, opts)
  opts = opts or {}
  local n = #items
  local report = { total = n, ok = 0, failed = {} }
  local next_index, done = 0, 0
  local finished = {} -- index -> true once counted as ok or failed
  local function fail(i, err)
    report.failed[#report.failed + 1] = { index = i, item = items[i], error = err }
  end
  local fatal -- an error that stops the run (the journal cannot be written): no item starts after it
  local function worker()
    while next_index < n and not core.interrupt_pending() and not fatal do
      next_index = next_index + 1
      local i = next_index
      local ok, res, err = pcall(fn, items[i])
      if type(res) == "table" and res.fatal then fatal = res end
      if type(err) == "table" and err.fatal then fatal = err end
      if not ok then fail(i, res)
      elseif res == nil and err ~= nil then fail(i, err)
      else report.ok = report.ok + 1 end
      finished[i], done = true, done + 1
    end
  end
  local width = math.min(opts.concurrency or client:options().concurrency, math.max(n, 1))
  local workers = {}
  for w = 1, width do workers[w] = M.spawn(worker) end
  local show = opts.progress ~= false and progress_printer(opts.label or "each", n, client)
  M.wait(workers, show and function() show(done) end)
  if show then show(done, true) end
  -- an item whose callback left each's control (a coroutine.yield, a worker that died) is a
  -- failure with its reason, never missing from the report
  local lost = "the callback did not finish: it left each() (a coroutine.yield inside a task is not supported)"
  for w = 1, width do
    if not workers[w].ok then lost = tostring(workers[w].results[1] or lost) end
  end
  for i = 1, next_index do
    if not finished[i] then fail(i, core.new_error { kind = "run", code = "NOT_FINISHED", message = lost }) end
  end
  table.sort(report.failed, function(a, b) return a.index < b.index end)
  if core.interrupt_pending() then cancelled_error(report, next_index) end
  if fatal then
    fatal.report = report
    error(fatal, 0) -- the run stops here; fatal.report says what was done
  end
  for i = next_index + 1, n do -- every worker died before reaching these
    fail(i, core.new_error { kind = "run", code = "NOT_RUN", message = "not run: every worker of each() stopped" })
  end
  return report
end

return M
