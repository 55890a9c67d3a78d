-- The run layer: Lua wrappers around the Client's endpoint methods (C functions), installed
-- while a session is active, so that a script's writes are planned (recorded, not sent),
-- journaled (intent before sending, result after) or resumed from a journal, with no change
-- to the script. Reads remember each account's last-seen state, for before-values.
local core = require "smartlead.core"
local json = require "smartlead.json"
local journal = require "smartlead.journal"
local planlib = require "smartlead.plan"

local M = {}

M.WRITES = { "update_email_account", "add_smtp_account", "add_oauth_account", "add_campaign_email_accounts",
  "remove_campaign_email_accounts", "update_warmup", "reconnect_failed_email_accounts" }
M.READS = { "get_email_accounts", "get_email_account", "get_email_account_by_email", "get_campaign_email_accounts" }

local methods = core.client_methods
local original = {} -- name -> the C method, while the wrappers are installed
local current       -- the active session

-- The C method, whether or not the wrappers are installed.
function M.raw(name) return original[name] or methods[name] end

local function run_error(code, message)
  local e = { kind = "run", code = code, message = message }
  if core.new_error then return core.new_error(e) end
  return setmetatable(e, core.Error)
end
M.error = run_error

---------------------------------------------------------------------------- ops

local function int_id(v)
  local n = type(v) == "number" and math.tointeger(v)
  return n and n > 0 and n or nil
end

local function copy(v)
  if type(v) ~= "table" or v == json.null then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x) end
  return setmetatable(out, getmetatable(v))
end

-- A clean list of distinct positive integer ids (no holes, no other keys), as a json array;
-- else nil (the C method refuses it, and the run layer stays out of the way).
local function id_list(ids)
  if type(ids) ~= "table" or #ids == 0 then return nil end
  local list, n = json.array {}, 0
  for _ in pairs(ids) do n = n + 1 end
  if n ~= #ids then return nil end
  local seen = {}
  for i, v in ipairs(ids) do
    list[i] = int_id(v)
    if not list[i] or seen[list[i]] then return nil end
    seen[list[i]] = true
  end
  return list
end

local MAX_DEPTH = 32

-- True for what JSON can carry as is: no functions, cycles, NaN or invalid UTF-8.
local function plain(v, depth, seen)
  local t = type(v)
  if t == "string" then return utf8.len(v) ~= nil end
  if t == "number" then return v == v and v ~= math.huge and v ~= -math.huge end
  if t == "boolean" or v == json.null then return true end
  if t ~= "table" or depth > MAX_DEPTH or seen[v] then return false end
  seen[v] = true
  local ints, strings = 0, 0
  for k, x in next, v do -- raw, as the C side reads tables
    if type(k) == "string" then strings = strings + 1
    elseif math.type(k) == "integer" then ints = ints + 1
    else return false end
    if not plain(x, depth + 1, seen) then return false end
  end
  seen[v] = nil
  return ints == 0 or (strings == 0 and ints == rawlen(v)) -- an object, or a list without holes
end

local function fields_ok(fields) return type(fields) == "table" and plain(fields, 1, {}) end

local function account_op(id, fields)
  id = int_id(id)
  if id and fields_ok(fields) then return { target = { account = id }, fields = copy(fields) } end
end

local function campaign_op(cid, ids)
  cid, ids = int_id(cid), id_list(ids)
  if cid and ids then return { target = { campaign = cid }, fields = { email_account_ids = ids } } end
end

local function save_op(fields)
  if fields_ok(fields) and type(fields.from_email) == "string" then
    return { target = { email = fields.from_email:lower(), account = int_id(fields.id) }, fields = copy(fields) }
  end
end

-- Arguments -> op {target=, fields=}, or nil when they are malformed (the C method then
-- raises or refuses them as it always does, and nothing is journaled).
local DESCRIBE = {
  update_email_account = account_op, update_warmup = account_op,
  add_campaign_email_accounts = campaign_op, remove_campaign_email_accounts = campaign_op,
  add_smtp_account = save_op, add_oauth_account = save_op,
  reconnect_failed_email_accounts = function() return { target = {}, fields = {} } end,
  request = function(method, path, opts)
    if type(method) == "string" and type(path) == "string" and (opts == nil or fields_ok(opts)) then
      return { target = { method = method:upper(), path = path }, fields = copy(opts or {}) }
    end
  end,
}

-- The op also keeps the call's own arguments: those, not a rebuilt copy, are what is sent.
function M.describe(name, ...)
  local op = DESCRIBE[name](...)
  if op then op.op, op.call_args = name, table.pack(...) end
  return op
end

-- The call arguments of an op (inverse of describe).
function M.args(op)
  local t, f = op.target, op.fields
  if op.op == "update_email_account" or op.op == "update_warmup" then return t.account, f end
  if t.campaign then return t.campaign, f.email_account_ids end
  if op.op == "request" then return t.method, t.path, f end
  if op.op == "reconnect_failed_email_accounts" then return end
  return f
end

-- What the real endpoint would answer, marked planned=true.
local function synthetic(op)
  local t, a = op.target, { ok = true, planned = true }
  if op.op == "update_email_account" then
    a.message, a.email_account_id, a.emailAccountId = "Email account details updated successfully!", t.account, t.account
  elseif op.op == "update_warmup" then
    a.message = "Email warmup settings updated successfully!"
  elseif op.op == "add_campaign_email_accounts" then
    a.result = json.array {}
    for i, id in ipairs(op.fields.email_account_ids) do
      a.result[i] = { email_campaign_id = t.campaign, email_account_id = id }
    end
  elseif op.op == "remove_campaign_email_accounts" then
    a.result = #op.fields.email_account_ids
  elseif op.op == "add_smtp_account" or op.op == "add_oauth_account" then
    a.message, a.email_account_id = "Email account added/updated successfully!", t.account
  end
  return a
end
M.synthetic = synthetic

---------------------------------------------------------------------------- sessions

local Session = {}
Session.__index = Session

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

-- run.session{mode="plan"|"journal"|"resume", journal=PATH} -> Session
function M.session(opts)
  local plan = planlib.new()
  local seen = setmetatable({}, { __mode = "v" })
  plan.lookup = function(id)
    local acc = seen[id]
    return acc and type(acc.from_email) == "string" and acc.from_email or nil
  end
  local s = setmetatable({ mode = opts.mode or "journal", journal_path = opts.journal, seen = seen,
    views = lazy_views(seen, plan), members = {},
    plan = plan, sent = 0, failed = 0, refused = 0, skipped = 0, start_seq = 0, begin_info = opts.info }, Session)
  if s.mode == "resume" then s:load_resume(opts.resume or opts.journal) end
  return s
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

function Session:remember(name, answer, arg1)
  if type(answer) ~= "table" or answer == json.null then return end
  if name == "get_email_accounts" or name == "get_campaign_email_accounts" then
    for _, acc in ipairs(answer) do self:see(acc, true) end
  else
    self:see(answer)
  end
  local cid = name == "get_campaign_email_accounts" and int_id(arg1)
  if cid then
    local set = {}
    for _, acc in ipairs(answer) do set[acc.id] = true end
    self.members[cid] = set
  end
end

-- Fresh account read through the C method; remembered.
function Session:read_account(client, id)
  local acc, err = M.raw("get_email_account")(client, id)
  if acc then self:see(acc) end
  return acc, err
end

-- The campaign's member set (read once when unknown, or always when fresh).
function Session:members_of(client, cid, fresh)
  if fresh or not self.members[cid] then
    local list, err = M.raw("get_campaign_email_accounts")(client, cid)
    if not list then return nil, err end
    self:remember("get_campaign_email_accounts", list, cid)
  end
  return self.members[cid]
end

-- Before-values of an op: request-named field values, or {attached = ids already members}.
function Session:before_of(client, op)
  local t = op.target
  if op.op == "update_email_account" or op.op == "update_warmup" then
    local before, missing = planlib.before_values(self.views[t.account], op.fields)
    if #missing > 0 and self:read_account(client, t.account) then
      before = planlib.before_values(self.views[t.account], op.fields)
    end
    op.email = self.views[t.account] and self.views[t.account].from_email
    return before
  elseif t.campaign then
    local set = self:members_of(client, t.campaign)
    if not set then return nil end
    local was = json.array {}
    for _, id in ipairs(op.fields.email_account_ids) do
      if set[id] then was[#was + 1] = id end
    end
    return { attached = was }
  end
end

-- After a write succeeded: what we know of the account or campaign now.
function Session:applied(op)
  local t = op.target
  if op.op == "update_email_account" or op.op == "update_warmup" then
    local v = self.views[t.account] or {}
    for k, x in pairs(op.fields) do v[k] = x end
    self.views[t.account] = v
  elseif t.campaign and self.members[t.campaign] then
    local attach = op.op == "add_campaign_email_accounts" or nil
    for _, id in ipairs(op.fields.email_account_ids) do self.members[t.campaign][id] = attach end
  end
end

---------------------------------------------------------------------------- journaled writes

function Session:get_journal()
  if self.journal then return self.journal end
  local path, err = self.journal_path, nil
  if not path then path, err = journal.default_path() end
  local j
  if path then j, err = journal.open(path, { create_dirs = self.journal_path == nil }) end
  if not j then error("journal: " .. tostring(err), 0) end -- no write without its journal
  j.seq = math.max(j.seq, self.start_seq)
  j:begin(self.mode, self.begin_info)
  self.journal = j
  return j
end

-- Sends op through the C method; writes the result record for seq. Returns the method's results.
function Session:finish(client, op, seq, extra)
  local j = self:get_journal()
  local r
  if op.as_request then -- same endpoint, untyped: restores a null the typed method refuses
    r = table.pack(pcall(M.raw("request"), client, op.as_request[1], op.as_request[2], { body = op.fields }))
  elseif op.call_args then
    r = table.pack(pcall(M.raw(op.op), client, table.unpack(op.call_args, 1, op.call_args.n)))
  else
    r = table.pack(pcall(M.raw(op.op), client, M.args(op)))
  end
  if not r[1] then
    j:result(seq, false, { kind = "raised", message = tostring(r[2]) }, extra)
    self.failed = self.failed + 1
    error(r[2], 0)
  end
  local answer, err = r[2], r[3]
  j:result(seq, answer ~= nil, answer ~= nil and answer or err, extra)
  if answer ~= nil then
    self.sent = self.sent + 1
    self:applied(op)
  else
    self.failed = self.failed + 1
    self.last_error = err
  end
  return table.unpack(r, 2, r.n)
end

-- Journals the intent, then sends. extra (e.g. undo_of) goes into both records.
function Session:send(client, op, extra)
  local intent = { op = op.op, target = op.target, fields = op.fields, before = op.before, email = op.email }
  for k, v in pairs(extra or {}) do intent[k] = v end
  local seq = self:get_journal():intent(intent)
  return self:finish(client, op, seq)
end

function Session:plan_write(client, op)
  op.client = client -- so a confirmed plan is applied through the script's own client
  self.plan:add(op)
  return synthetic(op)
end

---------------------------------------------------------------------------- resume

local function target_key(op) return json.encode(planlib.normalize { op = op.op, target = op.target }) end

function Session:load_resume(path)
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

-- True when the values the account shows now are the fields a journaled write set.
local function shows(before, fields)
  if type(before) ~= "table" then return false end
  for k, v in pairs(fields) do
    if k ~= "daily_rampup" and not planlib.same(before[k], v) then return false end
  end
  return true
end

-- The journal entry this write repeats: same op, target and fields; else (updates only) a
-- done or pending entry whose values the account already shows (the script computed new
-- values from its own earlier writes, e.g. halving a limit twice).
function Session:match(op)
  local q = self.queues and self.queues[target_key(op)]
  if not q then return nil end
  local key = planlib.key(op)
  for _, e in ipairs(q) do
    if not e.used and not failed(e) and planlib.key(e.intent) == key then return e, true end
  end
  if op.target.account and op.before then
    for _, e in ipairs(q) do
      if not e.used and not failed(e) and shows(op.before, e.intent.fields) then return e, false end
    end
  end
end

local RESUMED = { ok = true, resumed = true }

-- Whether a journaled write with no result took effect: "done", answer | "not_done" | "unknown", err.
function Session:verify(client, intent)
  local t, op = intent.target, intent.op
  if op == "update_email_account" or op == "update_warmup" then
    local acc, err = self:read_account(client, t.account)
    if not acc then return "unknown", err end
    if not shows(self.views[t.account], intent.fields) then return "not_done" end
    return "done", { ok = true, resumed = true, email_account_id = t.account, emailAccountId = t.account }
  elseif t.campaign then
    local set, err = self:members_of(client, t.campaign, true)
    if not set then return "unknown", err end
    local want = op == "add_campaign_email_accounts"
    for _, id in ipairs(intent.fields.email_account_ids) do
      if (set[id] or false) ~= want then return "not_done" end
    end
    return "done", RESUMED
  elseif op == "add_smtp_account" or op == "add_oauth_account" then
    if t.account then return "not_done" end -- a save with an id updates that account: safe to repeat
    local acc, err = M.raw("get_email_account_by_email")(client, t.email)
    if acc then
      return "done", { ok = true, resumed = true, email_account_id = acc.id, emailAccountId = acc.id,
        message = "found by address on resume" }
    end
    if err and err.status == 404 then return "not_done" end
    return "unknown", err
  end
  return "unknown", run_error("UNVERIFIABLE", op .. " cannot be checked, so it is not sent again")
end

-- A journaled write with no result: check it, then close it or send it (never blindly).
function Session:recheck(client, op, e, exact)
  local seq = e.intent.seq
  local state, value = self:verify(client, e.intent)
  if state == "done" then
    self:get_journal():result(seq, true, value, { resumed = "verified" })
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
  self:get_journal():result(seq, false, { kind = "run", message = "not applied (checked on resume)" })
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

---------------------------------------------------------------------------- the wrappers

local function write_handler(s, name, orig, client, ...)
  local op = M.describe(name, ...)
  if not op or (name == "request" and op.target.method == "GET") then return orig(client, ...) end
  if core.validators[name] then
    -- the checks the real call makes, first: a refused write is neither planned nor journaled
    -- (its fields may be a typo'd password: `pasword = ...` is not masked as a secret)
    local valid, err = core.validators[name](client, ...)
    if not valid then
      if s.mode ~= "plan" then s.refused = s.refused + 1 end -- counted, like a failed write
      return nil, err
    end
  end
  op.before = s:before_of(client, op)
  if s.mode == "plan" then return s:plan_write(client, op) end
  if s.mode == "resume" then return s:resume_write(client, op) end
  return s:send(client, op)
end

local function read_handler(s, name, orig, client, ...)
  local r = table.pack(orig(client, ...))
  if r[1] ~= nil then s:remember(name, r[1], ...) end
  return table.unpack(r, 1, r.n)
end

-- Errors raised below the wrapper read as if the method itself raised them at the caller.
local function as_method_error(msg, name)
  if type(msg) ~= "string" then return msg end
  msg = msg:gsub("^[^\n]-run%.lua:%d+: ", "", 1)
  return (msg:gsub("to '[^']*'", "to '" .. name .. "'", 1))
end

local function wrap(name, orig, handler)
  return function(client, ...)
    local s = current
    if not s then return orig(client, ...) end
    local r = table.pack(pcall(handler, s, name, orig, client, ...))
    if r[1] then return table.unpack(r, 2, r.n) end
    error(as_method_error(r[2], name), 2)
  end
end

local function install()
  if next(original) then return end
  for _, name in ipairs(M.WRITES) do original[name] = methods[name] end
  for _, name in ipairs(M.READS) do original[name] = methods[name] end
  original.request = methods.request
  for _, name in ipairs(M.WRITES) do methods[name] = wrap(name, original[name], write_handler) end
  for _, name in ipairs(M.READS) do methods[name] = wrap(name, original[name], read_handler) end
  methods.request = wrap("request", original.request, write_handler)
end

local function uninstall()
  for name, f in pairs(original) do methods[name] = f end
  original = {}
end

-- Makes s the active session (nil: none, wrappers removed); returns the previous one.
function M.activate(s)
  local previous = current
  if s then install() end
  current = s
  if not s then uninstall() end
  return previous
end

function M.current() return current end

M.Session = Session
return M
