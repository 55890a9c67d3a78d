-- Applying a plan (`smartlua apply FILE`, or a confirmed run) and undoing a journal
-- (`smartlua undo JOURNAL`). Both re-read what they are about to change first, skip and
-- report what drifted, and journal every write they send.
local json = require "smartlead.json"
local journal = require "smartlead.journal"
local planlib = require "smartlead.plan"
local run = require "smartlead.run"

local M = {}

local PAGE = 100
local LIST_FROM = 20 -- from this many accounts on, re-read by listing pages instead of one by one

local function is_account_op(op) return op.op == "update_email_account" or op.op == "update_warmup" end
local function is_save(op) return op.op == "add_smtp_account" or op.op == "add_oauth_account" end

local function live(client)
  return client and not tostring(client):find("(closed)", 1, true) and client or nil
end

-- A report: lines for people and counts for the exit code.
local function new_report(out)
  return { out = out or function(line) io.stdout:write(line, "\n") end, sent = 0, skipped = 0, failed = 0,
    cannot = 0, ids = {} }
end

local function say(report, fmt, ...) report.out(fmt:format(...)) end

---------------------------------------------------------------------------- reading now

-- Every account id in ids, read fresh into s.views: by pages when there are many, else one by
-- one; accounts whose ops touch is_suspended (only the single read shows it) one by one.
local function refresh(s, client, ids, single)
  local want, n = {}, 0
  for id in pairs(ids) do want[id], n = true, n + 1 end
  if n >= LIST_FROM then
    local offset, list_all = 0, run.raw("get_email_accounts")
    repeat
      local page = list_all(client, { offset = offset, limit = PAGE })
      if not page then break end -- the single reads below still run
      for _, acc in ipairs(page) do
        if want[acc.id] and not single[acc.id] then s:see(acc); want[acc.id] = nil end
      end
      offset = offset + PAGE
    until #page < PAGE
  end
  for id in pairs(want) do s:read_account(client, id) end
end

-- The first before-value each account's ops expect, field by field.
local function expectations(p)
  local expect, single = {}, {}
  for _, op in ipairs(p.ops) do
    if is_account_op(op) then
      local id = op.target.account
      expect[id] = expect[id] or {}
      for k in pairs(op.fields) do
        if expect[id][k] == nil and op.before and op.before[k] ~= nil then expect[id][k] = op.before[k] end
        if k == "is_suspended" then single[id] = true end
      end
    end
  end
  return expect, single
end

-- id -> "field is X, the plan expected Y" for accounts that changed since the plan was made.
local function drift(s, expect)
  local drifted = {}
  for id, fields in pairs(expect) do
    local view = s.views[id]
    if not view then
      drifted[id] = "could not be read"
    else
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

-- Sends op through s (journaled); records the outcome in the report.
local function send(s, report, client, op, what, extra)
  local ok, answer, err = pcall(s.send, s, client, op, extra)
  if ok and answer ~= nil then
    report.sent = report.sent + 1
    return true
  end
  report.failed = report.failed + 1
  say(report, "failed: %s: %s", what, tostring(ok and err or answer))
  return false
end

-- True when the account already holds every field (daily_rampup cannot be read: never).
local function already(view, fields)
  if not view then return false end
  for k, v in pairs(fields) do
    if k == "daily_rampup" or not planlib.same(view[k], v) then return false end
  end
  return true
end

local function apply_account_op(s, report, p, client, op, drifted)
  local id = op.target.account
  if drifted[id] then return end
  if already(s.views[id], op.fields) then return end -- nothing to send
  local send_op = { op = op.op, target = op.target, fields = op.fields, before = planlib.before_values(s.views[id], op.fields),
    email = s.views[id] and s.views[id].from_email }
  if send(s, report, client, send_op, op.op .. " " .. label(s, p, id)) then report.ids[id] = true end
end

local function apply_campaign_op(s, report, p, client, op, drifted)
  local cid, attach = op.target.campaign, op.op == "add_campaign_email_accounts"
  local members = s:members_of(client, cid) or {}
  local ids, was = json.array {}, json.array {}
  for _, id in ipairs(op.fields.email_account_ids) do
    if not drifted[id] and (members[id] or false) ~= attach then ids[#ids + 1] = id end
    if members[id] then was[#was + 1] = id end
  end
  if #ids == 0 then return end
  local send_op = { op = op.op, target = op.target, fields = { email_account_ids = ids }, before = { attached = was } }
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
  if not op.target.account then
    local acc, err = run.raw("get_email_account_by_email")(client, op.target.email)
    if acc or (err and err.status ~= 404) then
      report.skipped = report.skipped + 1
      say(report, "skipped: %s %s: %s", op.op, op.target.email,
        acc and ("it exists now as account " .. acc.id) or ("cannot check the address: " .. tostring(err)))
      return
    end
  end
  local send_op = { op = op.op, target = op.target, fields = op.fields }
  if send(s, report, client, send_op, op.op .. " " .. op.target.email) then report.ids[op.target.email] = true end
end

local function apply_other(s, report, client, op)
  if journal.has_redacted(op.fields) then
    report.skipped = report.skipped + 1
    say(report, "skipped: %s: it held secrets, which plan files never keep", op.op)
    return
  end
  send(s, report, client, { op = op.op, target = op.target, fields = op.fields }, op.op)
end

---------------------------------------------------------------------------- apply

-- The first still-open client the plan's ops were recorded through (plans run in this process).
function M.plan_client(p)
  for _, op in ipairs(p.ops) do
    if live(op.client) then return op.client end
  end
end

-- apply.apply(plan, {client=, journal=, out=, info=}) -> report
-- Re-reads the plan's accounts, skips those whose values drifted from the plan's before-values,
-- and sends the rest in plan order, leaving out writes that would change nothing.
function M.apply(p, opts)
  local report = new_report(opts.out)
  local client = M.plan_client(p) or opts.client
  local s = run.session { mode = "apply", journal = opts.journal, info = opts.info }
  local expect, single = expectations(p)
  refresh(s, client, expect, single)
  local drifted = drift(s, expect)
  for _, id in ipairs(planlib.sorted_keys(drifted)) do
    report.skipped = report.skipped + 1
    say(report, "skipped %s: changed since the plan: %s", label(s, p, id), drifted[id])
  end
  for _, op in ipairs(p.ops) do
    local c = live(op.client) or client
    if is_account_op(op) then apply_account_op(s, report, p, c, op, drifted)
    elseif op.target.campaign then apply_campaign_op(s, report, p, c, op, drifted)
    elseif is_save(op) then apply_save(s, report, c, op)
    else apply_other(s, report, c, op) end
  end
  local n = 0
  for _ in pairs(report.ids) do n = n + 1 end
  say(report, "Applied %d writes to %d accounts; %d skipped, %d failed.", report.sent, n, report.skipped, report.failed)
  report.journal = s.journal and s.journal.path
  if s.journal then s.journal:close() end
  return report
end

---------------------------------------------------------------------------- undo

local function restore_fields(report, intent, what)
  local restore, lost = {}, {}
  for k in pairs(intent.fields) do
    local b = intent.before and intent.before[k]
    if b == nil or (intent.op == "update_warmup" and b == json.null) then lost[#lost + 1] = k else restore[k] = b end
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

local function has_null(t)
  for _, v in pairs(t) do
    if v == json.null then return true end
  end
  return false
end

-- only_if_shown: for a write journaled failed, which may still have taken effect (its answer
-- lost to a dropped connection or a timeout): undone where the account shows its values, else
-- left alone without a word.
local function undo_account_op(s, report, client, e, only_if_shown)
  local intent = e.intent
  local id = intent.target.account
  if only_if_shown and not already(s.views[id], intent.fields) then return end
  local what = label(s, nil, id)
  local restore = restore_fields(report, intent, what)
  if intent.op == "update_warmup" and restore.warmup_enabled == nil then return end
  if next(restore) == nil then return end
  local view = s.views[id]
  local shows_before, shows_after = true, true
  for k, v in pairs(restore) do shows_before = shows_before and view ~= nil and planlib.same(view[k], v) end
  for k, v in pairs(intent.fields) do
    if restore[k] ~= nil then shows_after = shows_after and view ~= nil and planlib.same(view[k], v) end
  end
  if shows_before then return end -- nothing to undo (the write never took effect, or was undone)
  if not shows_after then
    report.skipped = report.skipped + 1
    say(report, "skipped %s (journal #%d): changed since; not overwriting (%s)", what, intent.seq, diff_text(view, restore))
    return
  end
  local op = { op = intent.op, target = intent.target, fields = restore, before = planlib.before_values(view, restore),
    email = intent.email }
  if intent.op == "update_email_account" and has_null(restore) then
    op.as_request = { "POST", "/email-accounts/" .. id } -- the typed method refuses null for bcc, signature, ...
  end
  local line = ("restored %s: %s"):format(what, diff_text(view, restore))
  if send(s, report, client, op, "undo of journal #" .. intent.seq, { undo_of = intent.seq }) then say(report, "%s", line) end
end

local function undo_campaign_op(s, report, client, e)
  local intent = e.intent
  local cid, attached = intent.target.campaign, intent.op == "add_campaign_email_accounts"
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
  local op = { op = attached and "remove_campaign_email_accounts" or "add_campaign_email_accounts",
    target = intent.target, fields = { email_account_ids = ids }, before = { attached = attached and ids or json.array {} } }
  local verb = attached and "detached" or "re-attached"
  local list = {}
  for i, id in ipairs(ids) do list[i] = tostring(id) end
  if send(s, report, client, op, "undo of journal #" .. intent.seq, { undo_of = intent.seq }) then
    say(report, "%s %s %s campaign %d", verb, table.concat(list, ", "), attached and "from" or "to", cid)
  end
end

local function cannot_undo(report, e)
  local intent, answer = e.intent, e.result and e.result.answer
  report.cannot = report.cannot + 1
  if is_save(intent) then
    local id = intent.target.account or (answer and (answer.email_account_id or answer.emailAccountId))
    if intent.target.account then
      say(report, "cannot undo journal #%d: %s replaced the credentials of account %s; old passwords are never journaled",
        intent.seq, intent.op, tostring(id))
    else
      say(report, "cannot undo journal #%d: %s created %s%s; the API cannot delete accounts: remove it in SmartLead",
        intent.seq, intent.op, intent.target.email, id and (" (account " .. tostring(id) .. ")") or "")
    end
  else
    say(report, "cannot undo journal #%d: %s%s has no inverse", intent.seq, intent.op,
      intent.target.path and (" " .. intent.target.method .. " " .. intent.target.path) or "")
  end
end

-- apply.undo(records, {client=, journal=, out=, source=}) -> report
-- Newest write first: restores before-values of updates and warmup settings, detaches what was
-- attached and re-attaches what was detached; saves and other writes are reported as not undoable.
function M.undo(records, opts)
  local report = new_report(opts.out)
  local client = opts.client
  local idx = journal.index(records)
  local s = run.session { mode = "undo", journal = opts.journal, info = { undoes = opts.source } }
  local ids, single = {}, {}
  for _, seq in ipairs(idx.order) do
    local intent = idx.by_seq[seq].intent
    if is_account_op(intent) then
      ids[intent.target.account] = true
      if intent.fields.is_suspended ~= nil then single[intent.target.account] = true end
    end
  end
  refresh(s, client, ids, single)
  for i = #idx.order, 1, -1 do
    local e = idx.by_seq[idx.order[i]]
    local status = e.result and e.result.status
    if status ~= "ok" and status ~= nil then -- failed: undone only if the server shows it happened
      if is_account_op(e.intent) then undo_account_op(s, report, client, e, true)
      elseif e.intent.target.campaign and e.intent.before and e.intent.before.attached then
        undo_campaign_op(s, report, client, e) -- touches only members that show the write
      end
      goto continue
    end
    if is_account_op(e.intent) then undo_account_op(s, report, client, e)
    elseif e.intent.target.campaign then undo_campaign_op(s, report, client, e)
    else cannot_undo(report, e) end
    ::continue::
  end
  say(report, "Undo: %d writes sent, %d skipped, %d failed, %d cannot be undone.", report.sent, report.skipped,
    report.failed, report.cannot)
  report.journal = s.journal and s.journal.path
  if s.journal then s.journal:close() end
  return report
end

-- 0 when everything was done, 4 when something was skipped, failed or could not be undone.
function M.exit_code(report)
  if report.failed + report.skipped + report.cannot > 0 then return 4 end
  return 0
end

return M
