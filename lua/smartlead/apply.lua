-- Applying a plan (`smartlua apply FILE`, or a confirmed run) and undoing a journal
-- (`smartlua undo JOURNAL`). Both re-read what they are about to change first, skip and
-- report what drifted, and journal every write they send.
local core = require "smartlead.core"
local json = require "smartlead.json"
local journal = require "smartlead.journal"
local planlib = require "smartlead.plan"
local run = require "smartlead.run"
local kinds = require "smartlead.run.kinds"
local operations = require "smartlead.operations"

local M = {}

local PAGE = 100
local LIST_FROM = 20 -- from this many accounts on, re-read by listing pages instead of one by one

local function is_account_op(op) return op.kind == "set" and op.target.account ~= nil end

-- The op to send: what the plan or journal recorded, with new fields and before-values.
local function with(op, fields, before)
  return { op = op.op, kind = op.kind, method = op.method, path = op.path, target = op.target, inverse = op.inverse,
    removes = op.removes, fields = fields, before = before }
end

local function live(client)
  return client and not tostring(client):find("(closed)", 1, true) and client or nil
end

-- A report: lines for people and counts for the exit code.
local function new_report(out)
  return { out = out or function(line) io.stdout:write(line, "\n") end, sent = 0, skipped = 0, failed = 0,
    cannot = 0, already = 0, ids = {} }
end

local function say(report, fmt, ...) report.out(fmt:format(...)) end

---------------------------------------------------------------------------- reading now

-- Every account id in ids, read fresh into s.views: by pages when there are many, else one by
-- one; accounts whose ops touch is_suspended (only the single read shows it) one by one.
local function refresh(s, client, ids, single, tagged)
  local want, n = {}, 0
  for id in pairs(ids) do want[id], n = true, n + 1 end
  if n >= LIST_FROM then
    local offset, list_all = 0, operations.get("get_email_accounts").call
    repeat
      local page = list_all(client, { offset = offset, limit = PAGE })
      if not page then break end -- the single reads below still run
      for _, acc in ipairs(page) do
        if want[acc.id] and not single[acc.id] then s:see(acc); want[acc.id] = nil end
      end
      offset = offset + PAGE
    until #page < PAGE
  end
  for id in pairs(want) do s:read_account(client, id, tagged and tagged[id] and { fetch_tags = true } or nil) end
end

-- The first before-value each account's ops expect, field by field, and the last value they set.
local function expectations(p)
  local expect, single, after = {}, {}, {}
  for _, op in ipairs(p.ops) do
    if is_account_op(op) then
      local id = op.target.account
      expect[id], after[id] = expect[id] or {}, after[id] or {}
      for k, v in pairs(op.fields) do
        if expect[id][k] == nil and op.before and op.before[k] ~= nil then expect[id][k] = op.before[k] end
        after[id][k] = v
        if k == "is_suspended" then single[id] = true end
      end
    end
  end
  return expect, single, after
end

-- id -> "field is X, the plan expected Y" for accounts that changed since the plan was made. An
-- account that already shows what the plan sets is not drifted: the plan was applied already.
local function drift(s, expect, after)
  local drifted = {}
  for id, fields in pairs(expect) do
    local view = s.views[id]
    if not view then
      drifted[id] = "could not be read"
    elseif not kinds.shows(view, after[id]) then
      for _, k in ipairs(planlib.sorted_keys(fields)) do
        if not planlib.same(view[k], fields[k]) then
          drifted[id] = ("%s is %s, the plan expected %s"):format(k, planlib.show(view[k]), planlib.show(fields[k]))
          break
        end
      end
    end
  end
  return drifted
end

---------------------------------------------------------------------------- sending

local function label(s, p, id)
  local email = (s.views[id] and s.views[id].from_email) or (p and p.names[id])
  return email and (id .. " " .. email) or tostring(id)
end

local function list_labels(s, ids)
  local out = {}
  for i, id in ipairs(ids) do out[i] = label(s, nil, id) end
  return table.concat(out, ", ")
end

-- Sends op through s (journaled); records the outcome in the report.
local function send(s, report, client, op, what, extra)
  local ok, answer, err = pcall(s.send, s, client, op, extra)
  if ok and answer ~= nil then
    report.sent = report.sent + 1
    return true, answer
  end
  if not ok and type(answer) == "table" and answer.fatal then error(answer, 0) end -- the journal: stop
  report.failed = report.failed + 1
  say(report, "failed: %s: %s", what, tostring(ok and err or answer))
  return false
end

local function apply_account_op(s, report, p, client, op, drifted)
  local id = op.target.account
  if drifted[id] then report.skipped = report.skipped + 1 return end
  -- nothing to send when the account shows every value; daily_rampup cannot be read, so it is sent
  if op.fields.daily_rampup == nil and kinds.shows(s.views[id], op.fields) then
    report.already = report.already + 1
    return
  end
  local send_op = with(op, op.fields, planlib.before_values(s.views[id], op.fields))
  send_op.email = s.views[id] and s.views[id].from_email
  if send(s, report, client, send_op, op.op .. " " .. label(s, p, id)) then report.ids[id] = true end
end

local function apply_campaign_op(s, report, client, op, drifted)
  local cid, attach = op.target.campaign, not op.removes
  local members = s:members_of(client, cid) or {}
  local ids, was, kept = json.array {}, json.array {}, 0
  for _, id in ipairs(op.fields.email_account_ids) do
    if not drifted[id] and (members[id] or false) ~= attach then ids[#ids + 1] = id end
    if not drifted[id] then kept = kept + 1 end
    if members[id] then was[#was + 1] = id end
  end
  if #ids == 0 then -- every account drifted, or every one is already where the plan puts it
    if kept == 0 then report.skipped = report.skipped + 1 else report.already = report.already + 1 end
    return
  end
  local send_op = with(op, { email_account_ids = ids }, { attached = was })
  if send(s, report, client, send_op, ("%s campaign %d"):format(op.op, cid)) then
    for _, id in ipairs(ids) do report.ids[id] = true end
  end
end

local function apply_save(s, report, client, op)
  if journal.has_redacted(op.fields) then
    report.skipped = report.skipped + 1
    say(report, "skipped: %s %s: plan files never hold passwords or tokens; run the script again to add it",
      op.op, op.target.email)
    return
  end
  local row = operations.get(op.op)
  if not op.target.account and row and row.lookup then
    local acc, err = operations.get(row.lookup).call(client, op.target.email)
    if acc or (err and err.status ~= 404) then
      report.skipped = report.skipped + 1
      say(report, "skipped: %s %s: %s", op.op, op.target.email,
        acc and ("it exists now as account " .. acc.id) or ("cannot check the address: " .. tostring(err)))
      return
    end
  end
  local sent, answer = send(s, report, client, with(op, op.fields), op.op .. " " .. tostring(op.target.email))
  if sent then
    report.ids[op.target.email or #report.ids + 1] = true
    if type(answer) == "table" and answer.created_with_errors then -- there, but not connected
      report.with_errors = (report.with_errors or 0) + 1
      say(report, "created with errors: %s %s (account %s): %s", op.op, tostring(op.target.email),
        tostring(answer.email_account_id or "?"), tostring(answer.message))
    end
  end
end

local function apply_other(s, report, client, op)
  if journal.has_redacted(op.fields) then
    report.skipped = report.skipped + 1
    say(report, "skipped: %s: it held secrets, which plan files never keep", op.op)
    return
  end
  local t = op.target
  if send(s, report, client, with(op, op.fields), op.op) and t.account then report.ids[t.account] = true end
end

---------------------------------------------------------------------------- bulk runs

-- What a write touches, as keys: its target's ids and address (account:3001, campaign:4101), a
-- raw request's path, and for members of an account list field each account's field (tags:3001).
local function touches(op)
  local keys = {}
  for k, v in pairs(op.target or {}) do
    if k ~= "method" then keys[#keys + 1] = k .. ":" .. tostring(v) end
  end
  local field = kinds.members_of(op)
  if field then
    for _, id in ipairs(op.fields.email_account_ids) do keys[#keys + 1] = field .. ":" .. tostring(id) end
  end
  return keys
end

-- items in groups: those that touch a common key (through others too) share a group, in the
-- order given; the groups come in the order of their first item.
local function by_target(items, keys_of)
  local parent, first = {}, {}
  local function root(i)
    while parent[i] ~= i do
      parent[i] = parent[parent[i]]
      i = parent[i]
    end
    return i
  end
  for i, item in ipairs(items) do
    parent[i] = i
    for _, k in ipairs(keys_of(item)) do
      local a, b = root(i), root(first[k] or i)
      parent[math.max(a, b)] = math.min(a, b)
      first[k] = first[k] or i
    end
  end
  local groups, at = {}, {}
  for i, item in ipairs(items) do
    local r = root(i)
    if not at[r] then groups[#groups + 1], at[r] = {}, #groups + 1 end
    table.insert(groups[at[r]], item)
  end
  return groups
end

-- Runs fn(item) for every item through client:each (its concurrency, progress line and Ctrl-C):
-- items that touch the same target one after another in the order given, the groups at once.
-- A Ctrl-C also stops a group between two items. An item that raised is a failure in the
-- report, said with its reason. -> true | false, the error that stopped it (a Ctrl-C, the
-- journal's fatal error), and why in words, counted in items.
local function each_by_target(client, report, items, keys_of, fn, opts)
  local ran = 0
  local ok, res = pcall(client.each, client, by_target(items, keys_of), function(group)
    for _, item in ipairs(group) do
      if core.interrupt_pending() then break end
      fn(item)
      ran = ran + 1
    end
    return true
  end, opts)
  local done = ok and res or type(res) == "table" and res.report or {}
  for _, f in ipairs(done.failed or {}) do
    if f.error ~= res then -- the error that stopped the run is said once, by the caller
      report.failed = report.failed + 1
      say(report, "failed: %s", tostring(f.error))
    end
  end
  if ok then return true end
  if type(res) == "table" and res.kind == "cancelled" then
    return false, res, ("cancelled by Ctrl-C after %d of %d writes"):format(ran, #items)
  end
  return false, res, tostring(type(res) == "table" and res.message or res)
end

-- A bulk run stopped: counted as a failure, and said.
local function stopped(report, err, why)
  report.failed = report.failed + 1
  report.interrupted = err
  say(report, "stopped: %s", why)
end

---------------------------------------------------------------------------- apply

-- The first still-open client the plan's ops were recorded through (plans run in this process).
function M.plan_client(p)
  for _, op in ipairs(p.ops) do
    if live(op.client) then return op.client end
  end
end

-- The ops a journal shows done (by key), for apply --resume: they are not sent again.
local function done_in(path)
  local ok, rerr = journal.repair(path)
  if not ok then error("--resume: " .. tostring(rerr), 0) end
  local records, err = journal.read(path)
  if not records then error("--resume: " .. tostring(err), 0) end
  local idx, done = journal.index(records), {}
  for _, seq in ipairs(idx.order) do
    local e = idx.by_seq[seq]
    if e.result and e.result.status == "ok" then done[planlib.key(e.intent)] = true end
  end
  return done, idx.max_seq
end

local function apply_one(s, report, p, client, op, drifted)
  local c = live(op.client) or client
  if is_account_op(op) then apply_account_op(s, report, p, c, op, drifted)
  elseif kinds.membership(op) then apply_campaign_op(s, report, c, op, drifted)
  elseif op.kind == "create" then apply_save(s, report, c, op)
  else apply_other(s, report, c, op) end
end

-- The ops still to send: a resumed apply leaves out what its journal shows done.
local function pending(p, done, report)
  if not done then return p.ops end
  local out = {}
  for _, op in ipairs(p.ops) do
    if done[planlib.key(op)] then report.resumed = report.resumed + 1 else out[#out + 1] = op end
  end
  return out
end

local function summary(report, s, p)
  local n = 0
  for _ in pairs(report.ids) do n = n + 1 end
  local already = report.already + report.resumed
  if report.sent + report.skipped + report.failed == 0 and already > 0 then
    say(report, "Already applied: every change of the plan is in place; nothing was sent.")
  else
    -- every write of the plan is counted once: planned = sent + already done + skipped + failed
    say(report, "Apply: %d write%s planned: %d sent, %d already done, %d skipped, %d failed; %d account%s changed.",
      #p.ops, #p.ops == 1 and "" or "s", report.sent, already, report.skipped, report.failed, n, n == 1 and "" or "s")
  end
  report.journal = s.journal and s.journal.path
  if s.journal then s.journal:close() end
end

-- apply.apply(plan, {client=, journal=, out=, info=, resume=JOURNAL, plan_path=}) -> report
-- Re-reads the plan's accounts, skips those whose values drifted from the plan's before-values,
-- and sends the rest concurrently (client:each; the writes to one account or campaign go one
-- after another in the plan's order, so a retried write is never overtaken), leaving out writes
-- that would change nothing. resume: the journal of an apply that was stopped; what it shows
-- done is not sent again, and the rest is journaled there.
function M.apply(p, opts)
  local report = new_report(opts.out)
  report.resumed = 0
  local client = M.plan_client(p) or opts.client
  local done, start_seq
  if opts.resume then done, start_seq = done_in(opts.resume) end
  local s = run.session { mode = "apply", journal = opts.resume or opts.journal, info = opts.info,
    confirmed = opts.confirmed }
  s.start_seq = start_seq or 0
  local expect, single, after = expectations(p)
  refresh(s, client, expect, single)
  local drifted = drift(s, expect, after)
  for _, id in ipairs(planlib.sorted_keys(drifted)) do -- counted per write below
    say(report, "skipped %s: changed since the plan: %s", label(s, p, id), drifted[id])
  end
  local ok, err, why = each_by_target(client, report, pending(p, done, report), touches, function(op)
    apply_one(s, report, p, client, op, drifted)
  end, { label = "apply", progress = opts.progress })
  if not ok then
    stopped(report, err, why)
    if s.journal then
      say(report, "finish it with: smartlua apply --resume %s %s", s.journal.path, opts.plan_path or "PLAN")
    end
  end
  summary(report, s, p)
  return report
end

---------------------------------------------------------------------------- undo

-- A null before-value can be restored where the field takes text or may be null; elsewhere
-- (a flag, a count: warmup_details was null) it means the value was not known.
local NULL_RESTORES = { text = true, email = true, id_or_null = true }

local function restore_fields(report, intent, what)
  local types = operations.fields(intent.op)
  local restore, lost = {}, {}
  for k in pairs(intent.fields) do
    local b = intent.before and intent.before[k]
    local known_type = types[k] and types[k].type
    if b == nil or (b == json.null and known_type and not NULL_RESTORES[known_type]) then
      lost[#lost + 1] = k
    else
      restore[k] = b
    end
  end
  table.sort(lost)
  if #lost > 0 then
    report.cannot = report.cannot + 1
    say(report, "cannot restore %s of %s: the value before is not known", table.concat(lost, ", "), what)
  end
  return restore
end

local function diff_text(view, restore)
  local parts = {}
  for _, k in ipairs(planlib.sorted_keys(restore)) do
    parts[#parts + 1] = ("%s %s -> %s"):format(k, planlib.show(view and view[k]), planlib.show(restore[k]))
  end
  return table.concat(parts, ", ")
end

-- True when restore lacks a field the row requires (it could not be sent).
local function lacks_required(intent, restore)
  for name, f in pairs(operations.fields(intent.op)) do
    if f.required and restore[name] == nil then return true end
  end
  return false
end

-- A null the typed method refuses (bcc, signature: text fields) goes as a raw request.
local function needs_raw(intent, restore)
  local types = operations.fields(intent.op)
  for k, v in pairs(restore) do
    if v == json.null and types[k] and types[k].type ~= "id_or_null" then return true end
  end
  return false
end

-- only_if_shown: for a write journaled failed, which may still have taken effect (its answer
-- lost to a dropped connection or a timeout): undone where the account shows its values, else
-- left alone without a word.
local function undo_set(s, report, client, e, only_if_shown, originals)
  local intent = e.intent
  local id = intent.target.account
  if not id then
    report.cannot = report.cannot + 1
    say(report, "cannot undo journal #%d (%s): the values before are not known", intent.seq, intent.op)
    return
  end
  if only_if_shown and not kinds.shows(s.views[id], intent.fields) then return end
  local what = label(s, nil, id)
  local restore = restore_fields(report, intent, what)
  if next(restore) == nil or lacks_required(intent, restore) then return end
  local view = s.views[id]
  local shows_before, shows_after = true, true
  for k, v in pairs(restore) do shows_before = shows_before and view ~= nil and planlib.same(view[k], v) end
  for k, v in pairs(intent.fields) do
    if restore[k] ~= nil then shows_after = shows_after and view ~= nil and planlib.same(view[k], v) end
  end
  if shows_before then return end -- nothing to undo (the write never took effect, or was undone)
  -- the account holds what it held before the journal's first write to it: undone already
  if originals and kinds.shows(view, originals[id] or {}) and next(originals[id] or {}) then
    local all = true
    for k in pairs(restore) do all = all and originals[id][k] ~= nil end
    if all then return end
  end
  if not shows_after then
    report.skipped = report.skipped + 1
    say(report, "skipped %s (journal #%d): changed since; not overwriting (%s)", what, intent.seq,
      diff_text(view, restore))
    return
  end
  local op = with(intent, restore, planlib.before_values(view, restore))
  op.email, op.as_request = intent.email, needs_raw(intent, restore) or nil
  local line = ("restored %s: %s"):format(what, diff_text(view, restore))
  if send(s, report, client, op, "undo of journal #" .. intent.seq, { undo_of = intent.seq }) then
    say(report, "%s", line)
  end
end

-- The inverse of a journaled relation: same target and fields, the other row.
local function inverse_op(intent, fields, before)
  local inv = intent.inverse
  return { op = inv.op, kind = "relation", method = inv.method, path = inv.path, target = intent.target,
    removes = not intent.removes or nil, fields = fields, before = before, flag = intent.flag,
    members = intent.members, inverse = { op = intent.op, method = intent.method, path = intent.path } }
end

-- A flag on one account (suspension): undone only when the write changed it, and only while the
-- account still shows it; an account suspended before the run stays suspended.
local function undo_flag(s, report, client, e)
  local intent = e.intent
  local id, flag, wrote = intent.target.account, intent.flag, not intent.removes
  local what = label(s, nil, id)
  local was = intent.before and intent.before[flag]
  if was == nil then
    report.cannot = report.cannot + 1
    say(report, "cannot undo journal #%d (%s %s): %s before is not known", intent.seq, intent.op, what, flag)
    return
  end
  if was == wrote then
    say(report, "nothing to undo for journal #%d: %s had %s = %s before; %s changed nothing", intent.seq, what, flag,
      tostring(was), intent.op)
    return
  end
  local view = s.views[id]
  if not view or view[flag] == nil then
    report.cannot = report.cannot + 1
    say(report, "cannot undo journal #%d (%s %s): %s cannot be read now", intent.seq, intent.op, what, flag)
    return
  end
  if view[flag] ~= wrote then return end -- as it was before already: nothing to send
  local op = inverse_op(intent, intent.fields, kinds.copy(view))
  op.email = view.from_email
  if send(s, report, client, op, "undo of journal #" .. intent.seq, { undo_of = intent.seq }) then
    report.ids[id] = true
    say(report, "undid journal #%d: %s %s (%s back to %s)", intent.seq, op.op, what, flag, tostring(was))
  end
end

local MEMBER_PART = 25 -- ids a member relation takes a request, unless its row says otherwise

-- Members of an account list field (tags) on many accounts: each account and member the write
-- changed, and that still shows the write, goes back; one request per member, in parts.
local function undo_members(s, report, client, e)
  local intent = e.intent
  local field, tag_ids = kinds.members_of(intent)
  local before = kinds.members_before(intent)
  if not before then
    report.cannot = report.cannot + 1
    say(report, "cannot undo journal #%d (%s): the %s before are not known", intent.seq, intent.op, field)
    return
  end
  local wrote, back, order = not intent.removes, {}, {}
  for _, id in ipairs(intent.fields.email_account_ids) do
    local now = kinds.member_set(s.views[id], field)
    if not now then
      report.cannot = report.cannot + 1
      say(report, "cannot undo journal #%d for %s: its %s cannot be read", intent.seq, label(s, nil, id), field)
    else
      for _, m in ipairs(tag_ids) do
        local was = before[id] and before[id][m] or false
        if was ~= wrote and (now[m] or false) == wrote then
          if not back[m] then back[m], order[#order + 1] = json.array {}, m end
          back[m][#back[m] + 1] = id
        end
      end
    end
  end
  local inv_row = operations.get(intent.inverse.op)
  local part = inv_row and inv_row.max_ids or MEMBER_PART
  for _, m in ipairs(order) do
    for i = 1, #back[m], part do
      local ids = json.array(table.move(back[m], i, math.min(i + part - 1, #back[m]), 1, {}))
      local had = json.array {}
      for k, id in ipairs(ids) do had[k] = { id = id, ids = json.array(wrote and { m } or {}) } end
      local op = inverse_op(intent, { email_account_ids = ids, tag_ids = json.array { m } }, { members = had })
      if send(s, report, client, op, "undo of journal #" .. intent.seq, { undo_of = intent.seq }) then
        for _, id in ipairs(ids) do report.ids[id] = true end
        say(report, "%s %s %s %s %s", wrote and "removed" or "re-added", field:gsub("s$", ""), tostring(m),
          wrote and "from" or "to", list_labels(s, ids))
      end
    end
  end
end

local function undo_membership(s, report, client, e)
  local intent = e.intent
  local cid, attached = intent.target.campaign, not intent.removes
  if not (intent.before and intent.before.attached) then
    report.cannot = report.cannot + 1
    say(report, "cannot undo journal #%d (%s campaign %d): membership before is not known", intent.seq, intent.op, cid)
    return
  end
  local was = {}
  for _, id in ipairs(intent.before.attached) do was[id] = true end
  local members = s:members_of(client, cid, true) or {}
  local ids = json.array {}
  for _, id in ipairs(intent.fields.email_account_ids) do
    -- an attach is undone by detaching what was not there before; a detach by re-attaching what was
    if attached and not was[id] and members[id] then ids[#ids + 1] = id end
    if not attached and was[id] and not members[id] then ids[#ids + 1] = id end
  end
  if #ids == 0 then return end
  local op = inverse_op(intent, { email_account_ids = ids }, { attached = attached and ids or json.array {} })
  local verb = attached and "detached" or "re-attached"
  local list = {}
  for i, id in ipairs(ids) do list[i] = tostring(id) end
  if send(s, report, client, op, "undo of journal #" .. intent.seq, { undo_of = intent.seq }) then
    say(report, "%s %s %s campaign %d", verb, table.concat(list, ", "), attached and "from" or "to", cid)
  end
end

local function undo_relation(s, report, client, e)
  local intent = e.intent
  if kinds.membership(intent) then return undo_membership(s, report, client, e) end
  if kinds.flag_of(intent) then return undo_flag(s, report, client, e) end
  if kinds.members_of(intent) then return undo_members(s, report, client, e) end
  local op = inverse_op(intent, intent.fields)
  if send(s, report, client, op, "undo of journal #" .. intent.seq, { undo_of = intent.seq }) then
    say(report, "undid journal #%d: %s", intent.seq, op.op)
  end
end

local function cannot_undo(report, e, why)
  local intent, answer = e.intent, e.result and e.result.answer
  report.cannot = report.cannot + 1
  if intent.kind == "create" then
    local id = intent.target.account or (answer and (answer.email_account_id or answer.emailAccountId))
    if intent.target.account then
      say(report, "cannot undo journal #%d: %s replaced the credentials of account %s; "
        .. "old passwords are never journaled",
        intent.seq, intent.op, tostring(id))
    elseif not intent.target.email then -- something other than an account (a tag)
      local made = answer and (answer.id or answer.email_account_id)
      say(report, "cannot undo journal #%d: %s created %s; remove it in SmartLead if it was wrong", intent.seq,
        intent.op, made and ("id " .. tostring(made) .. (answer.name and (" (" .. tostring(answer.name) .. ")") or ""))
          or "something")
    else
      say(report, "cannot undo journal #%d: %s created %s%s; remove it in SmartLead if it was wrong",
        intent.seq, intent.op, tostring(intent.target.email), id and (" (account " .. tostring(id) .. ")") or "")
    end
  else
    say(report, "cannot undo journal #%d: %s%s: %s", intent.seq, intent.op,
      intent.target.path and (" " .. intent.target.method .. " " .. intent.target.path) or "", why)
  end
end

-- What a failed write may still have done: a set that the account shows, a membership change.
local function undo_failed(s, report, client, e)
  local intent = e.intent
  if is_account_op(intent) then undo_set(s, report, client, e, true)
  elseif kinds.membership(intent) and intent.before and intent.before.attached then
    undo_membership(s, report, client, e) -- touches only members that show the write
  elseif kinds.flag_of(intent) and intent.before and intent.before[intent.flag] ~= nil then
    undo_flag(s, report, client, e) -- only while the account shows the write
  elseif kinds.members_of(intent) and kinds.members_before(intent) then
    undo_members(s, report, client, e) -- only accounts that show the write
  end
end

-- One journal entry undone by its kind and outcome.
local function undo_one(s, report, client, e, originals)
  local status = e.result and e.result.status
  local rule, why = kinds.undo_rule(e.intent)
  if status ~= "ok" and status ~= nil then undo_failed(s, report, client, e)
  elseif rule == "restore" then undo_set(s, report, client, e, false, originals)
  elseif rule == "inverse" then undo_relation(s, report, client, e)
  else cannot_undo(report, e, why) end
end

-- "#9-#7, #4, #2": journal numbers, newest first, runs of consecutive ones as ranges.
local function seq_ranges(set)
  local seqs, parts = {}, {}
  for seq in pairs(set) do seqs[#seqs + 1] = seq end
  table.sort(seqs)
  local i = #seqs
  while i >= 1 do
    local j = i
    while j > 1 and seqs[j - 1] == seqs[j] - 1 do j = j - 1 end
    parts[#parts + 1] = i == j and ("#" .. seqs[i]) or ("#%d-#%d"):format(seqs[i], seqs[j])
    i = j - 1
  end
  return table.concat(parts, ", "), #seqs
end

-- apply.undo(records, {client=, journal=, out=, source=, info=}) -> report (info: the begin record's fields)
-- Newest write first, each by its kind: sets restore their before-values, relations send their
-- inverse (a campaign's membership as it was), creates, deletes and actions are reported. The
-- writes to one account or campaign are undone one after another, newest first; different ones
-- concurrently (client:each). A stop (Ctrl-C) says which writes it left; run the undo again.
function M.undo(records, opts)
  local report = new_report(opts.out)
  local client = opts.client
  local idx = journal.index(records)
  local s = run.session { mode = "undo", journal = opts.journal, info = opts.info or { undoes = opts.source } }
  local ids, single, tagged, originals = {}, {}, {}, {}
  for _, seq in ipairs(idx.order) do -- oldest first: originals[id][field] is the value before any of them
    local intent = idx.by_seq[seq].intent
    if is_account_op(intent) then
      local id = intent.target.account
      ids[id], originals[id] = true, originals[id] or {}
      if intent.fields.is_suspended ~= nil then single[id] = true end
      for k in pairs(intent.fields) do
        local b = intent.before and intent.before[k]
        if originals[id][k] == nil and b ~= nil then originals[id][k] = b end
      end
    elseif kinds.flag_of(intent) then -- a flag only the single read shows (is_suspended)
      ids[intent.target.account], single[intent.target.account] = true, true
    elseif kinds.members_of(intent) then
      for _, id in ipairs(intent.fields.email_account_ids) do ids[id], tagged[id] = true, true end
    end
  end
  refresh(s, client, ids, single, tagged)
  local newest_first, left = {}, {}
  for i = #idx.order, 1, -1 do
    newest_first[#newest_first + 1] = idx.by_seq[idx.order[i]]
    left[idx.order[i]] = true
  end
  local ok, err, why = each_by_target(client, report, newest_first, function(e) return touches(e.intent) end,
    function(e)
      undo_one(s, report, client, e, originals)
      left[e.intent.seq] = nil
    end, { label = "undo", progress = opts.progress })
  if not ok then stopped(report, err, why) end
  -- what a stop (Ctrl-C, a journal that cannot be written) left: running the undo again finishes
  -- it, leaving alone what shows its value before
  local list, n = seq_ranges(left)
  if n > 0 then
    say(report, "not reached: %d write%s of the journal (%s); run `smartlua undo %s` again to finish", n,
      n == 1 and "" or "s", list, opts.source or "JOURNAL")
  end
  if report.sent + report.skipped + report.failed + report.cannot == 0 then
    say(report, "Already undone: every write of the journal is as it was before; nothing was sent.")
  else
    say(report, "Undo: %d write%s sent, %d skipped, %d failed, %d cannot be undone.", report.sent,
      report.sent == 1 and "" or "s", report.skipped, report.failed, report.cannot)
  end
  report.journal = s.journal and s.journal.path
  if s.journal then s.journal:close() end
  return report
end

-- 0 when everything was done, 4 when something was skipped, failed or could not be undone; 130 or 143
-- when Ctrl-C or SIGTERM stopped it.
function M.exit_code(report)
  local sig = report.interrupted and core.stop_signal()
  if sig then return sig == "SIGINT" and 130 or 143 end -- stopped by a signal: 128 + its number, as shells say
  if report.failed + report.skipped + report.cannot > 0 then return 4 end
  return 0
end

return M
