-- Run sessions: a script's writes planned (recorded, not sent), journaled (intent before
-- sending, result after) or resumed from a journal, with no change to the script. A session
-- belongs to a Client (client:set_session); the C dispatcher hands it every call once
-- validated, and what happens next is chosen by the operation's kind (run/kinds.lua).
-- Reads remember each account's last-seen state, for before-values.
local core = require "smartlead.core"
local json = require "smartlead.json"
local journal = require "smartlead.journal"
local planlib = require "smartlead.plan"
local operations = require "smartlead.operations"
local kinds = require "smartlead.run.kinds"
local tasks = require "smartlead.tasks"

local M = {}

local default -- the session clients made from now on start with (run.activate)

local function run_error(code, message) return core.new_error { kind = "run", code = code, message = message } end
M.error = run_error

local int_id = kinds.int_id

---------------------------------------------------------------------------- sessions

local Session = {}
Session.__index = Session
Session.error = run_error

-- views: id -> the compact view before-values come from. A view is made on first use from the
-- last account table the script was given; those tables are held weakly, so a scan of 50,000
-- accounts keeps nothing alive and costs one table store per account.
local function lazy_views(seen, plan)
  return setmetatable({}, { __index = function(views, id)
    local acc = seen[id]
    if not acc then return nil end
    local v = planlib.account_view(acc)
    rawset(views, id, v)
    plan:name(id, acc.from_email)
    return v
  end })
end

-- run.session{mode="plan"|"journal"|"resume"|"apply"|"undo", journal=PATH, resume=PATH, info=,
--             confirmed=bool} -> Session. confirmed (--yes, or a plan confirmed on a terminal)
-- lets deletes through; without it a delete is refused, since nothing can undo it.
function M.session(opts)
  local plan = planlib.new()
  local seen = setmetatable({}, { __mode = "v" })
  plan.lookup = function(id)
    local acc = seen[id]
    return acc and type(acc.from_email) == "string" and acc.from_email or nil
  end
  local s = setmetatable({ mode = opts.mode or "journal", journal_path = opts.journal, seen = seen,
    views = lazy_views(seen, plan), members = {},
    plan = plan, sent = 0, failed = 0, refused = 0, skipped = 0, start_seq = 0, begin_info = opts.info,
    confirmed = opts.confirmed or false, unconfirmed = 0, already = 0, wanted = 0, single_reads = 0 }, Session)
  if s.mode == "resume" then s:load_resume(opts.resume or opts.journal) end
  return s
end

-- The function the C client calls with every validated operation: (c, name, payload, args...).
function Session:hook(client)
  return function(_, name, payload, ...)
    return self:call(client, operations.get(name), payload, ...)
  end
end

-- Remembers an account answer. A view in use takes it in (merged: a list answer lacks
-- is_suspended); one account read on its own becomes a view; an account from a list is kept
-- weakly for a view made later, so scanning a fleet stays cheap.
function Session:see(acc, from_list)
  if type(acc) ~= "table" or not int_id(acc.id) then return end
  local view = rawget(self.views, acc.id)
  if view or not from_list then
    self.views[acc.id] = planlib.merge_view(view or self.views[acc.id], planlib.account_view(acc))
    self.plan:name(acc.id, acc.from_email)
  else
    self.seen[acc.id] = acc
  end
end

local function is_account(v) return type(v) == "table" and int_id(v.id) and type(v.from_email) == "string" end

-- What a read answered: accounts (a list of them, or one) and a campaign's members.
function Session:remember(row, answer, id)
  if type(answer) ~= "table" or answer == json.null then return end
  local list = answer[1] ~= nil or json.is_array(answer)
  if list then
    for _, acc in ipairs(answer) do
      if is_account(acc) then self:see(acc, true) end
    end
  elseif is_account(answer) then
    self:see(answer)
  end
  if list and row.target == "campaign" and int_id(id) then
    local set = {}
    for _, acc in ipairs(answer) do
      if type(acc) == "table" and acc.id ~= nil then set[acc.id] = true end
    end
    self.members[id] = set
  end
end

local function raw(name) return operations.get(name).call end

-- Fresh account read, past the session; remembered. opts: the read's query (fetch_tags).
function Session:read_account(client, id, opts)
  local acc, err = raw("get_email_account")(client, id, opts)
  if acc then self:see(acc) end
  return acc, err
end

M.LIST_AFTER = 20 -- single before-reads after which list pages are read whatever the count

-- The paged list, read in order only as far as writers need it: one request per 100 accounts,
-- each account found there costing nothing more. A writer waits on the pages in flight; when
-- one lands and its account is still not there, one more page may go at a time, twice as
-- many each such time (up to the client's concurrency), so a run whose accounts come early
-- in the list stops there and one whose accounts are scattered keeps the pipe full.
local function new_lister(client)
  return { offset = 0, flight = {}, pages = 0, window = 1, ended = false,
    max_window = client:options().concurrency }
end

function Session:read_page(client, l)
  local offset = l.offset
  l.offset, l.pages = offset + 100, l.pages + 1
  l.flight[#l.flight + 1] = tasks.spawn(function()
    local page = operations.get("get_email_accounts").call(client, { offset = offset, limit = 100 })
    if type(page) ~= "table" or #page < 100 then l.ended = true end -- the end, or a failure: single reads go on
    for _, acc in ipairs(page or {}) do self:see(acc) end
  end)
end

local function land(l)
  tasks.wait({ l.flight[1] })
  for i = #l.flight, 1, -1 do
    if l.flight[i].done then
      if not l.flight[i].ok then l.ended = true end
      table.remove(l.flight, i)
    end
  end
end

-- Whether the list may be read further for a writer: at most one page per account that needed
-- a before-value, less one (an account written alone costs one read), or any number once a
-- sequential run has made LIST_AFTER single reads.
function Session:may_page(l)
  return l.pages < self.wanted - 1 or self.single_reads >= M.LIST_AFTER
end

-- The before-values of fields (an op's fields) of an account the run has not seen: from the
-- list where a page read for this run holds it and shows them all, else one read of the account
-- (is_suspended, for one, only the single read shows).
function Session:before_read(client, id, fields)
  self.wanted = self.wanted + 1
  tasks.pass() -- writers that started together count themselves before any reads
  self.lister = self.lister or new_lister(client)
  local l = self.lister
  while self.views[id] == nil and not l.ended do
    if #l.flight < l.window and self:may_page(l) then self:read_page(client, l) end
    if #l.flight == 0 then break end
    land(l)
    if self.views[id] == nil then l.window = math.min(l.window * 2, l.max_window) end
  end
  local view = self.views[id]
  if view and #select(2, planlib.before_values(view, fields or {})) == 0 then return view end
  self.single_reads = self.single_reads + 1
  return self:read_account(client, id)
end

-- The campaign's member set (read once when unknown, or always when fresh).
function Session:members_of(client, cid, fresh)
  if fresh or not self.members[cid] then
    local row = operations.get("get_campaign_email_accounts")
    local list, err = row.call(client, cid)
    if not list then return nil, err end
    self:remember(row, list, cid)
  end
  return self.members[cid]
end

---------------------------------------------------------------------------- calls

-- After Ctrl-C (or SIGTERM) in a script or command run, the next call raises: the script stops
-- there (a loop of calls does not go on failing one by one), and the run says how to finish.
function Session.check_stop()
  if core.interrupt_pending() and core.stop_signal() then
    error(core.new_error { kind = "cancelled", code = "CANCELLED",
      message = ("stopped by %s before this call"):format(core.stop_signal()) }, 0)
  end
end

-- Every operation a session's client makes: reads go out and are remembered; writes are
-- planned, journaled or resumed.
function Session:call(client, row, payload, ...)
  Session.check_stop()
  if row.kind == "read" then
    local answer, err = row.call(client, ...)
    if answer ~= nil then self:remember(row, answer, (...)) end
    return answer, err
  end
  local op = kinds.describe(row, payload, ...)
  if op.kind == "delete" and self.mode ~= "plan" and not self.confirmed then return self:refuse_delete(op) end
  op.before = kinds.before(self, client, op)
  if self.mode ~= "resume" and kinds.already(op) then return self:already_so(op) end
  if self.mode == "plan" then return self:plan_write(client, op) end
  if self.mode == "resume" then return self:resume_write(client, op) end
  return self:send(client, op)
end

-- client:request(method, path, opts) under a session: a write to a path the registry does not
-- know is journaled (or planned) as an action of its own.
function Session:request(client, method, path, opts)
  Session.check_stop()
  local op = { op = "request", kind = "action", method = method:upper(), path = path,
    target = { method = method:upper(), path = path }, fields = kinds.copy(opts or {}) }
  if self.mode == "plan" then return self:plan_write(client, op) end
  return self:send(client, op)
end

-- A write the C side refused before it reached the session (it sends nothing): counted, like
-- a failed write, except in a plan, which sends nothing anyway.
function Session:refused_write(name)
  local row = operations.get(name)
  if row and row.kind ~= "read" and self.mode ~= "plan" then self.refused = self.refused + 1 end
end

-- A set whose values the account already holds: nothing is sent; the plan, the journal (an
-- "already" record) and the summary say so, and it counts as done for the exit code.
function Session:already_so(op)
  self.already = self.already + 1
  if self.mode == "plan" then
    self.plan.already = (self.plan.already or 0) + 1
  else
    self:record("append", { type = "already", op = op.op, kind = op.kind, target = op.target, fields = op.fields })
  end
  local t = op.target.account
  return { ok = true, already = true, planned = self.mode == "plan" or nil, email_account_id = t, emailAccountId = t,
    message = "already so: nothing sent" }
end

-- A delete nobody confirmed: refused, sent nowhere, counted like a refused write.
function Session:refuse_delete(op)
  self.refused, self.unconfirmed = self.refused + 1, self.unconfirmed + 1
  local what = op.target.account and ("account " .. op.target.account) or op.path
  local err = run_error("NOT_CONFIRMED", ("%s would delete %s, which cannot be undone: run it on a terminal to "
    .. "confirm, or pass --yes"):format(op.op, what))
  self.last_error = err
  return nil, err
end

function Session:plan_write(client, op)
  op.client = client -- so a confirmed plan is applied through the script's own client
  self.plan:add(op)
  return kinds.synthetic(op)
end

---------------------------------------------------------------------------- journaled writes

-- The journal, opened on the first write. Once it could not be written, every later write
-- raises the same fatal error: the run stops (each() stops starting items) and says how to resume.
function Session:get_journal()
  if self.journal_error then error(self.journal_error, 0) end
  if self.journal then return self.journal end
  local path, err = self.journal_path, nil
  if not path then path, err = journal.default_path() end
  local j
  if path then j, err = journal.open(path, { create_dirs = self.journal_path == nil }) end
  if not j then self:journal_failed(journal.write_error(path or "(no path)", err)) end
  self.journal = j
  local ok, berr = pcall(j.begin, j, self.mode, self.begin_info)
  if not ok then self:journal_failed(berr) end
  j.seq = math.max(j.seq, self.start_seq)
  return j
end

function Session:journal_failed(err)
  self.journal_error = err
  error(err, 0)
end

-- Appends a journal record; a refusal of the disk stops the run.
function Session:record(method, ...)
  local j = self:get_journal()
  local ok, r = pcall(j[method], j, ...)
  if not ok then self:journal_failed(r) end
  return r
end

-- Sends op as it stands: through its row when this process knows it, else as a raw request to
-- the method and path the journal recorded (an undo of a row defined by another process).
local function send_raw(client, op)
  local row = operations.get(op.op)
  if op.op == "request" then return core.client_methods.request(client, op.method, op.path, op.fields) end
  if op.as_request or not row then
    return core.client_methods.request(client, op.method, op.path, { body = op.fields })
  end
  local function send() return row.call(client, kinds.args(row, op)) end
  if row.kind == "create" then return kinds.send_create(client, row, op, send) end
  return send()
end

-- Sends op; writes the result record for seq. Returns the call's results.
function Session:finish(client, op, seq, extra)
  local ok, answer, err = pcall(send_raw, client, op)
  if not ok then
    self.failed = self.failed + 1
    self:record("result", seq, false, { kind = "raised", message = tostring(answer) }, extra)
    error(answer, 0)
  end
  if answer ~= nil then self.sent = self.sent + 1 end -- sent, whether or not its result can be written
  self:record("result", seq, answer ~= nil, answer ~= nil and answer or err, extra)
  if answer ~= nil then
    kinds.applied(self, op)
    -- an attach says which ids were members already (the server's answer lists them all alike),
    -- a detach which were not members (none was attached: nothing was detached for them)
    if kinds.membership(op) and type(answer) == "table" and op.before and op.before.attached then
      if op.removes then
        local was, not_attached = {}, json.array {}
        for _, id in ipairs(op.before.attached) do was[id] = true end
        for _, id in ipairs(op.fields.email_account_ids) do
          if not was[id] then not_attached[#not_attached + 1] = id end
        end
        answer.not_attached = not_attached
      else
        answer.already_attached = op.before.attached
      end
    end
  else
    self.failed = self.failed + 1
    self.last_error = err
  end
  return answer, err
end

-- Journals the intent, then sends. extra (e.g. undo_of) goes into the intent.
function Session:send(client, op, extra)
  local intent = { op = op.op, kind = op.kind, method = op.method, path = op.path, target = op.target,
    fields = op.fields, before = op.before, email = op.email, inverse = op.inverse, removes = op.removes,
    flag = op.flag, members = op.members }
  for k, v in pairs(extra or {}) do intent[k] = v end
  local seq = self:record("intent", intent)
  return self:finish(client, op, seq)
end

---------------------------------------------------------------------------- resume

local function target_key(op) return json.encode(planlib.normalize { op = op.op, target = op.target }) end

function Session:load_resume(path)
  local f = io.open(path, "rb")
  if not f then -- killed before its first write: nothing to skip, the run starts afresh there
    io.stderr:write("smartlua: --resume: no journal at ", path, " yet (the run wrote nothing); starting afresh\n")
    self.queues, self.journal_path = {}, path
    return
  end
  f:close()
  local ok, rerr = journal.repair(path)
  if not ok then error("--resume: " .. tostring(rerr), 0) end
  local records, err = journal.read(path)
  if not records then error("--resume: " .. tostring(err), 0) end
  local idx = journal.index(records)
  self.queues, self.journal_path, self.start_seq = {}, path, idx.max_seq
  for _, seq in ipairs(idx.order) do
    local e = idx.by_seq[seq]
    local k = target_key(e.intent)
    self.queues[k] = self.queues[k] or {}
    table.insert(self.queues[k], e)
  end
end

local function done(e) return e.result and e.result.status == "ok" end
local function failed(e) return e.result and e.result.status ~= "ok" end

-- An entry a repeated write may stand for: unused, and not failed, except a create whose failure
-- was ambiguous (it may have landed: it is looked up before anything is sent again).
local function open_entry(e)
  if e.used then return false end
  if not failed(e) then return true end
  local err = e.result.error
  return e.intent.kind == "create" and type(err) == "table" and err.ambiguous == true
end

-- The journal entry this write repeats: same op, target and fields; else (sets on accounts) a
-- done or pending entry whose values the account already shows (the script computed new
-- values from its own earlier writes, e.g. halving a limit twice).
function Session:match(op)
  local q = self.queues and self.queues[target_key(op)]
  if not q then return nil end
  local key = planlib.key(op)
  for _, e in ipairs(q) do
    if open_entry(e) and planlib.key(e.intent) == key then return e, true end
  end
  if op.kind == "set" and op.target.account and op.before then
    for _, e in ipairs(q) do
      if open_entry(e) and not failed(e) and kinds.shows(op.before, e.intent.fields) then return e, false end
    end
  end
end

-- A journaled write with no result: check it, then close it or send it (never blindly).
function Session:recheck(client, op, e, exact)
  local seq = e.intent.seq
  local state, value = kinds.verify(self, client, e.intent)
  if state == "done" then
    self:record("result", seq, true, value, { resumed = "verified" })
    self.skipped = self.skipped + 1
    return value
  elseif state == "unknown" then
    self.failed = self.failed + 1
    local err = run_error("RESUME_UNVERIFIED", ("journal #%d (%s): outcome unknown and not sent again: %s")
      :format(seq, op.op, tostring(value and (value.message or value) or "")))
    self.last_error = err
    return nil, err
  elseif exact then
    return self:finish(client, op, seq, { resumed = "resent" })
  end
  self:record("result", seq, false, { kind = "run", message = "not applied (checked on resume)" })
  return self:send(client, op)
end

function Session:resume_write(client, op)
  local e, exact = self:match(op)
  if not e then return self:send(client, op) end
  e.used = true
  if done(e) then
    self.skipped = self.skipped + 1
    return e.result.answer
  end
  return self:recheck(client, op, e, exact)
end

---------------------------------------------------------------------------- the process's run

-- run.activate(s) -> previous: clients smartlead.client() makes from now on run under s (the
-- command line's --plan, --resume, journal); nil: none.
function M.activate(s)
  local previous = default
  default = s
  return previous
end

function M.current() return default end

M.Session = Session
return M
