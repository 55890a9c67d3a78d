-- What an operation's kind (src/endpoints.c) means for a run, in one place: what a write
-- targets, which values it had before, what a plan answers in its stead, how a write whose
-- answer was lost is checked, and how it is undone. Nothing here names an operation: a row
-- added to the registry is planned, journaled and undone by these rules alone.
--
-- An op: {op=, kind=, method=, path=, target=, fields=, before=, inverse=}. target holds the
-- leading id under the row's target name ({account=}, {campaign=}, {[id_name]=}); a create also
-- {email=} (its lookup key, lower-cased); a relation that removes says removes=true. fields is
-- the validated payload: the fields, or {email_account_ids=} for an id list, {email=} for an
-- address. inverse is {op=, method=, path=} so a relation can be undone by a process that does
-- not know the row.
--
-- Relations come in three forms, all told apart by the row, never by its name: a campaign's
-- membership (target.campaign and an id list), a flag on one account (row.flag, e.g.
-- is_suspended: the adding side sets it true, the removing side false), and members of an
-- account list field on many accounts (row.members, e.g. tags: each of email_account_ids gains
-- or loses each of tag_ids). op.flag and op.members travel with the op for the same reason
-- removes does.
local json = require "smartlead.json"
local operations = require "smartlead.operations"
local planlib = require "smartlead.plan"

local M = {}

local function int_id(v)
  local n = type(v) == "number" and math.tointeger(v)
  return n and n > 0 and n or nil
end
M.int_id = int_id

local function copy(v)
  if type(v) ~= "table" or v == json.null then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x) end
  return setmetatable(out, getmetatable(v))
end
M.copy = copy

local function expand(path, id) return id and (path:gsub("{id}", tostring(id))) or path end

-- op from a call the C side validated: row, its canonical payload, the arguments as given.
function M.describe(row, payload, ...)
  local id = row.id_name and int_id((...)) or nil
  local op = { op = row.name, kind = row.kind, method = row.method, path = expand(row.path, id), target = {} }
  if id then op.target[row.target] = id end
  op.fields = type(payload) == "table" and copy(payload) or {}
  local key = row.lookup_key and op.fields[row.lookup_key]
  if type(key) == "string" then
    op.target.email = key:lower()
    op.target.account = op.target.account or int_id(op.fields.id)
  end
  op.removes = row.removes or nil -- a relation's direction travels with it (undo may not know the row)
  op.flag, op.members = row.flag, row.members
  local inverse = row.inverse and operations.get(row.inverse)
  if inverse then op.inverse = { op = inverse.name, method = inverse.method, path = expand(inverse.path, id) } end
  return op
end

-- The arguments that call row for op (inverse of describe).
function M.args(row, op)
  local args, n = {}, 0
  if row.id_name then n = n + 1; args[n] = op.target[row.target] end
  if row.arg == "fields" then n = n + 1; args[n] = op.fields
  elseif row.arg == "ids" then n = n + 1; args[n] = op.fields.email_account_ids
  elseif row.arg == "id_pairs" then
    args[n + 1], args[n + 2], n = op.fields.email_account_ids, op.fields.tag_ids, n + 2
  elseif row.arg == "email" then n = n + 1; args[n] = op.fields.email
  elseif row.arg == "emails" then n = n + 1; args[n] = op.fields.email_ids end
  if row.options then -- the trailing options table, from the payload's option fields
    local opts
    for _, f in ipairs(row.options) do
      if op.fields[f.name] ~= nil then
        opts = opts or {}
        opts[f.name] = op.fields[f.name]
      end
    end
    n = n + 1
    args[n] = opts
  end
  return table.unpack(args, 1, n)
end

function M.is_write(kind) return kind ~= nil and kind ~= "read" end

-- An op's id list when it relates accounts to a campaign (membership is known and folded).
function M.membership(op)
  return op.kind == "relation" and op.target.campaign ~= nil and op.fields.email_account_ids or nil
end

-- The account flag a relation on one account sets (adding side) or clears (removing side).
function M.flag_of(op)
  return op.kind == "relation" and op.flag ~= nil and op.target.account ~= nil and op.flag or nil
end

-- The account list field (and the payload's member ids) of a relation over many accounts.
function M.members_of(op)
  if op.kind == "relation" and op.members and op.fields.email_account_ids and op.fields.tag_ids then
    return op.members, op.fields.tag_ids
  end
end

-- The member ids an account's view holds in field (a list of ids, or of {id=} objects), as a set;
-- nil when the view does not show the field.
local function member_set(view, field)
  local list = view and view[field]
  if type(list) ~= "table" or list == json.null then return nil end
  local set = {}
  for _, m in ipairs(list) do
    local id = type(m) == "table" and m.id or m
    if int_id(id) then set[id] = true end
  end
  return set
end
M.member_set = member_set

-- Each account's members among ids, as a set by account, reading accounts the session has no
-- view of (or a view without the field); nil when one cannot be read.
local function members_now(session, client, op, fresh)
  local field, wanted = M.members_of(op)
  local out = {}
  for _, id in ipairs(op.fields.email_account_ids) do
    local set = not fresh and member_set(session.views[id], field)
    if not set then
      if not session:read_account(client, id, { fetch_tags = true }) then return nil end
      set = member_set(session.views[id], field) or {}
    end
    local had = {}
    for _, m in ipairs(wanted) do had[m] = set[m] or nil end
    out[id] = had
  end
  return out
end
M.members_now = members_now

---------------------------------------------------------------------------- before-values

-- The values op changes, as they were: request-named account values for a set on an account,
-- {attached = ids already members} for a campaign relation, the account's view for a delete or
-- another relation on an account; nil where nothing can be read.
function M.before(session, client, op)
  local t = op.target
  if op.kind == "set" and t.account then
    local before, missing = planlib.before_values(session.views[t.account], op.fields)
    if #missing > 0 and session:before_read(client, t.account, op.fields) then
      before = planlib.before_values(session.views[t.account], op.fields)
    end
    op.email = session.views[t.account] and session.views[t.account].from_email
    return before
  elseif M.membership(op) then
    local set = session:members_of(client, t.campaign)
    if not set then return nil end
    local was = json.array {}
    for _, id in ipairs(op.fields.email_account_ids) do
      if set[id] then was[#was + 1] = id end
    end
    return { attached = was }
  elseif M.members_of(op) then
    local now = members_now(session, client, op)
    if not now then return nil end
    local had = json.array {}
    for _, id in ipairs(op.fields.email_account_ids) do
      local ids = json.array {}
      for _, m in ipairs(op.fields.tag_ids) do
        if now[id][m] then ids[#ids + 1] = m end
      end
      had[#had + 1] = { id = id, ids = ids }
    end
    return { members = had }
  elseif (op.kind == "delete" or op.kind == "relation") and t.account then
    -- a flag only the single read shows (is_suspended): read it when the view lacks it; a delete
    -- reads the account it removes for good, so the plan and journal say which one it was
    local view = session.views[t.account]
    if (M.flag_of(op) and (view == nil or view[op.flag] == nil)) or (op.kind == "delete" and view == nil) then
      session:read_account(client, t.account)
      view = session.views[t.account]
    end
    op.email = view and view.from_email
    return view and copy(view) or nil
  end
end

-- The relation's members before, as account id -> set of member ids (from before.members).
function M.members_before(op)
  if not (op.before and type(op.before.members) == "table") then return nil end
  local out = {}
  for _, e in ipairs(op.before.members) do
    if type(e) == "table" and int_id(e.id) then
      out[e.id] = {}
      for _, m in ipairs(type(e.ids) == "table" and e.ids or {}) do out[e.id][m] = true end
    end
  end
  return out
end

-- After a write succeeded: what the session now knows of its target.
function M.applied(session, op)
  local t = op.target
  if op.kind == "set" and t.account then
    local v = session.views[t.account] or {}
    for k, x in pairs(op.fields) do v[k] = x end
    session.views[t.account] = v
  elseif M.membership(op) and session.members[t.campaign] then
    local member = not op.removes or nil
    for _, id in ipairs(op.fields.email_account_ids) do session.members[t.campaign][id] = member end
  elseif M.flag_of(op) and session.views[t.account] then
    session.views[t.account][op.flag] = not op.removes
  elseif M.members_of(op) then
    local field, ids = M.members_of(op)
    for _, id in ipairs(op.fields.email_account_ids) do
      local view = rawget(session.views, id)
      local set = member_set(view, field)
      if set then
        for _, m in ipairs(ids) do set[m] = not op.removes or nil end
        local list = json.array {}
        for m in pairs(set) do list[#list + 1] = m end
        table.sort(list)
        view[field] = list
      end
    end
  end
end

-- True when a set would change nothing: every field it sets is readable and already holds the
-- value (a field no read shows, such as daily_rampup, is never taken as already so).
function M.already(op)
  if op.kind ~= "set" or not op.target.account or type(op.before) ~= "table" then return false end
  for k, v in pairs(op.fields) do
    local b = op.before[k]
    if b == nil or k == "daily_rampup" or not planlib.same(b, v) then return false end
  end
  return next(op.fields) ~= nil
end

---------------------------------------------------------------------------- planned answers

-- What the endpoint would answer, marked planned=true.
function M.synthetic(op)
  local t, a = op.target, { ok = true, planned = true }
  if op.kind == "set" and t.account then
    a.email_account_id, a.emailAccountId = t.account, t.account
    a.message = "Email account details updated successfully!"
  elseif M.membership(op) then
    local was = op.before and op.before.attached
    if op.removes then
      a.result = was and #was or #op.fields.email_account_ids
      a.detached = a.result
    else
      a.result = json.array {}
      for i, id in ipairs(op.fields.email_account_ids) do
        a.result[i] = { email_campaign_id = t.campaign, email_account_id = id }
      end
      a.already_attached = was
    end
  elseif op.kind == "create" and t.email then
    a.message, a.email_account_id = "Email account added/updated successfully!", t.account
  else
    a.message = op.op .. " (planned)"
  end
  return a
end

---------------------------------------------------------------------------- lost answers

local function recovered(id, how)
  return { ok = true, email_account_id = id, recovered = how,
           message = "Email account saved (confirmed " .. how .. " after an ambiguous failure)" }
end

-- What a create's lookup finds: the created thing, nil when there is none, nil, err when unknown.
local function lookup(client, row, op)
  local find = operations.get(row.lookup)
  local found, err = find.call(client, op.target.email)
  if found then return found end
  if err.status == 404 then return nil end
  return nil, err
end

-- What a by-address lookup cannot find (the docs: 404 while the account is not connected),
-- found in the list filtered by the row's lookup_filter (username) and matched on the address.
local function find_in_list(client, row, op)
  local list_row = row.lookup_list and operations.get(row.lookup_list)
  if not (list_row and row.lookup_filter) then return nil end
  local offset = 0
  repeat
    local page, err = list_row.call(client, { [row.lookup_filter] = op.target.email, offset = offset, limit = 100 })
    if not page then return nil, err end
    for _, a in ipairs(page) do
      if type(a.from_email) == "string" and a.from_email:lower() == op.target.email then return a end
    end
    offset = offset + 100
  until #page < 100 or offset >= 10000
  return nil
end

-- A create whose connection check failed made its account all the same (SmartLead's docs and
-- seed agree): an answer, not a failure, saying so, with the id (looked up when the server gave
-- none), so a rerun or a resume never saves it a second time.
local function saved_failing(client, row, op, err)
  local id = err.email_account_id
  if not id and row.lookup and op.target.email then
    local found = lookup(client, row, op) or find_in_list(client, row, op)
    id = found and int_id(found.id)
  end
  return { ok = true, created_with_errors = true, code = err.code, email_account_id = id, emailAccountId = id,
    connection_error = err.message, status = err.status,
    message = ("saved, but SMTP/IMAP failing: %s%s"):format(err.message or "connection check failed",
      id and "" or " (its id could not be found)") }
end
M.saved_failing = saved_failing

local MAX_CREATE_SENDS = 3

-- Sends a create; when its answer was lost (err.ambiguous), looks it up before sending again and
-- takes ACCOUNT_ALREADY_EXIST for the same key as proof the earlier attempt landed. Never resends
-- blindly: a create without a lookup reports the ambiguous failure.
function M.send_create(client, row, op, send)
  local res, err = send()
  local sends = 1
  while not res and err.ambiguous and row.lookup and op.target.email and sends < MAX_CREATE_SENDS do
    local found, lookup_err = lookup(client, row, op)
    if found then return recovered(found.id, "by address") end
    if lookup_err then return nil, err end -- cannot tell: report what happened, send nothing more
    sends = sends + 1
    res, err = send()
    if not res and err.code == "ACCOUNT_ALREADY_EXIST" and err.email_account_id then
      return recovered(err.email_account_id, "by ACCOUNT_ALREADY_EXIST")
    end
  end
  if not res and type(err) == "table" and err.code == "ACCOUNT_VERIFICATION_FAILED" then
    return saved_failing(client, row, op, err)
  end
  return res, err
end

-- True when the values the view shows are the fields a set wrote (daily_rampup is unreadable).
function M.shows(view, fields)
  if type(view) ~= "table" then return false end
  for k, v in pairs(fields) do
    if k ~= "daily_rampup" and not planlib.same(view[k], v) then return false end
  end
  return true
end

local RESUMED = { ok = true, resumed = true }

-- Whether a journaled write with no result took effect: "done", answer | "not_done" | "unknown", err.
function M.verify(session, client, intent)
  local t = intent.target
  if intent.kind == "set" and t.account then
    local acc, err = session:read_account(client, t.account)
    if not acc then return "unknown", err end
    if not M.shows(session.views[t.account], intent.fields) then return "not_done" end
    return "done", { ok = true, resumed = true, email_account_id = t.account, emailAccountId = t.account }
  elseif M.membership(intent) then
    local set, err = session:members_of(client, t.campaign, true)
    if not set then return "unknown", err end
    local want = not intent.removes
    for _, id in ipairs(intent.fields.email_account_ids) do
      if (set[id] or false) ~= want then return "not_done" end
    end
    return "done", RESUMED
  elseif M.flag_of(intent) then
    local acc, err = session:read_account(client, t.account)
    if not acc then return "unknown", err end
    local view = session.views[t.account]
    if view[intent.flag] == nil then
      return "unknown", session.error("UNVERIFIABLE", intent.flag .. " cannot be read")
    end
    if view[intent.flag] ~= not intent.removes then return "not_done" end
    return "done", RESUMED
  elseif M.members_of(intent) then
    local now = members_now(session, client, intent, true)
    if not now then return "unknown", session.error("UNVERIFIABLE", "the accounts cannot be read") end
    for _, id in ipairs(intent.fields.email_account_ids) do
      for _, m in ipairs(intent.fields.tag_ids) do
        if (now[id][m] or false) == (intent.removes or false) then return "not_done" end
      end
    end
    return "done", RESUMED
  elseif intent.kind == "create" and t.email then
    if t.account then return "not_done" end -- a save with an id updates that account: safe to repeat
    local row = operations.get(intent.op)
    if not (row and row.lookup) then
      return "unknown", session.error("UNVERIFIABLE", intent.op .. " cannot be looked up")
    end
    local found, err = lookup(client, row, intent)
    if found then
      return "done", { ok = true, resumed = true, email_account_id = found.id, emailAccountId = found.id,
        message = "found by address on resume" }
    end
    if not err then return "not_done" end
    return "unknown", err
  end
  return "unknown", session.error("UNVERIFIABLE", intent.op .. " cannot be checked, so it is not sent again")
end

---------------------------------------------------------------------------- undo

-- How a journaled write is undone: "restore" (a set: its before-values), "inverse" (a relation:
-- its inverse row), or "report" with the reason it cannot be undone.
function M.undo_rule(intent)
  if intent.kind == "set" then return "restore" end
  if intent.kind == "relation" then
    if intent.inverse then return "inverse" end
    return "report", "it has no inverse operation"
  end
  if intent.kind == "delete" then return "report", "a delete cannot be undone" end
  if intent.kind == "create" then return "report", "created" end
  return "report", "it has no inverse"
end

return M
