-- Plans: the writes a run would make, as recorded ops, turned into `field: before -> after`
-- per account, totals, and a JSON file that `smartlua apply` can replay.
--
-- An op (run/kinds.lua): {op=, kind=, method=, path=, target=, fields=, before=}. Plans fold
-- them by kind: sets on accounts as `field: before -> after`, campaign relations as attach and
-- detach, creates, deletes (said to be final), and every other write on a line of its own.
local core = require "smartlead.core"
local json = require "smartlead.json"
local journal = require "smartlead.journal"

local M = {}

M.VERSION = 1

-- update_email_account request field -> the account answer's name for it.
M.ANSWER_NAME = {
  max_email_per_day = "message_per_day", from_name = "from_name",
  custom_tracking_url = "custom_tracking_domain", bcc = "bcc_email", signature = "signature",
  client_id = "client_id", time_to_wait_in_mins = "minTimeToWaitInMins", is_suspended = "is_suspended",
}

-- update_warmup setting -> warmup_details field (daily_rampup is not readable).
M.WARMUP_NAME = {
  total_warmup_per_day = "max_email_per_day", reply_rate_percentage = "reply_rate",
  warmup_key_id = "warmup_key_id",
}

local function is_null(v) return v == nil or v == json.null end

-- Request-named view of an account answer: what update and warmup fields hold now.
function M.account_view(a)
  local v = { id = a.id, from_email = a.from_email }
  for req, ans in pairs(M.ANSWER_NAME) do v[req] = a[ans] end
  local w = a.warmup_details
  if w ~= nil then
    v.warmup_enabled = not is_null(w) and w.status == "ACTIVE"
    for req, ans in pairs(M.WARMUP_NAME) do
      if is_null(w) then v[req] = json.null else v[req] = w[ans] end
    end
  end
  if type(a.tags) == "table" and not is_null(a.tags) then -- the tag ids, for tag relations' before-values
    v.tags = json.array {}
    for _, t in ipairs(a.tags) do
      if type(t) == "table" and math.type(t.id) == "integer" then v.tags[#v.tags + 1] = t.id end
    end
  end
  return v
end

-- Merges a fresh view into a remembered one (a list answer lacks is_suspended).
function M.merge_view(old, new)
  local out = {}
  for k, x in pairs(old or {}) do out[k] = x end
  for k, x in pairs(new) do out[k] = x end
  return out
end

-- Request names a read shows (daily_rampup is write-only).
local READABLE = { warmup_enabled = true }
for k in pairs(M.ANSWER_NAME) do READABLE[k] = true end
for k in pairs(M.WARMUP_NAME) do READABLE[k] = true end

-- The view's values of these fields; missing lists readable names the view lacks (a fresh
-- read would show them; unknown names are left to the endpoint to refuse).
function M.before_values(view, fields)
  local before, missing = {}, {}
  for k in pairs(fields) do
    local x = view and view[k]
    if x == nil and READABLE[k] then missing[#missing + 1] = k end
    before[k] = x
  end
  return before, missing
end

-- Integral floats become integers, so 17.0 and 17 compare and print the same.
function M.normalize(v)
  if type(v) == "number" then return math.tointeger(v) or v end
  if type(v) ~= "table" or v == json.null then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = M.normalize(x) end
  return setmetatable(out, getmetatable(v))
end

function M.same(a, b)
  if type(a) == "table" and type(b) == "table" and a ~= json.null and b ~= json.null then
    return json.encode(M.normalize(a)) == json.encode(M.normalize(b))
  end
  if type(a) == "number" and type(b) == "number" then return a == b end
  return a == b
end

-- One canonical string for an op's identity: op, target and (redacted) fields.
function M.key(op)
  return json.encode(M.normalize { op = op.op, target = op.target, fields = journal.redact(op.fields) })
end

---------------------------------------------------------------------------- the plan

local Plan = {}
Plan.__index = Plan

function M.new() return setmetatable({ ops = {}, names = {} }, Plan) end

function Plan:add(op) self.ops[#self.ops + 1] = op end

-- Remembers an account's address for display.
function Plan:name(id, email)
  if id and email and not is_null(email) then self.names[id] = email end
end

local function entry(list, index, key, make)
  local e = index[key]
  if not e then
    e = make()
    index[key] = e
    list[#list + 1] = e
  end
  return e
end

-- Field changes of set ops: first before, last after; a field set twice to different values
-- is noted (the last wins, and the plan says so).
local function fold_fields(acc, op)
  for _, k in ipairs(M.sorted_keys(op.fields)) do
    local f = acc.fields[k]
    if not f then
      f = { name = k, before = op.before and op.before[k] }
      acc.fields[k] = f
      acc.order[#acc.order + 1] = k
    elseif f.set and not M.same(f.after, op.fields[k]) then
      f.overwritten = f.overwritten or { f.after }
      f.overwritten[#f.overwritten + 1] = op.fields[k]
    end
    f.after, f.set = op.fields[k], true
  end
end

-- Campaign membership changes: attach of a member and detach of a non-member change nothing.
local function fold_campaign(camp, op)
  local attach = not op.removes
  local was = {}
  for _, id in ipairs(op.before and op.before.attached or {}) do was[id] = true end
  for _, id in ipairs(op.fields.email_account_ids or {}) do
    id = math.tointeger(id) or id
    local member = camp.member[id]
    if member == nil then member = was[id] or false end
    if attach ~= member then -- a second flip cancels the first
      camp.change[id] = (camp.change[id] == nil) and (attach and "attach" or "detach") or nil
      if camp.change[id] and not camp.listed[id] then camp.order[#camp.order + 1], camp.listed[id] = id, true end
    end
    camp.member[id] = attach
  end
end

function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- Folds the ops into {accounts=, campaigns=, saves=, deletes=, others=} in order of first appearance.
function Plan:fold()
  local s = { accounts = {}, campaigns = {}, saves = {}, deletes = {}, others = {} }
  local ai, ci = {}, {}
  for _, op in ipairs(self.ops) do
    if op.kind == "set" and op.target.account then
      local id = op.target.account
      fold_fields(entry(s.accounts, ai, id, function() return { id = id, fields = {}, order = {} } end), op)
    elseif op.kind == "relation" and op.target.campaign and op.fields.email_account_ids then
      local cid = op.target.campaign
      fold_campaign(entry(s.campaigns, ci, cid, function()
        return { id = cid, member = {}, change = {}, order = {}, listed = {} }
      end), op)
    elseif op.kind == "create" then
      s.saves[#s.saves + 1] = op
    elseif op.kind == "delete" then
      s.deletes[#s.deletes + 1] = op
    else
      s.others[#s.others + 1] = op
    end
  end
  return s
end

-- Totals: accounts changed (distinct, with a changed field, an attach or detach, or a save),
-- fields changed, attaches, detaches, saves, other writes; plus the set of account ids.
function Plan:totals()
  local s = self:fold()
  local t = { accounts = 0, fields = 0, attaches = 0, detaches = 0, saves = #s.saves, deletes = #s.deletes,
    others = #s.others }
  local ids = {}
  for _, a in ipairs(s.accounts) do
    for _, k in ipairs(a.order) do
      local f = a.fields[k]
      if not M.same(f.before, f.after) then t.fields, ids[a.id] = t.fields + 1, true end
    end
  end
  for _, c in ipairs(s.campaigns) do
    for _, id in ipairs(c.order) do
      local ch = c.change[id]
      if ch == "attach" then t.attaches = t.attaches + 1 elseif ch == "detach" then t.detaches = t.detaches + 1 end
      if ch then ids[id] = true end
    end
  end
  for _, op in ipairs(s.deletes) do
    if op.target.account then ids[op.target.account] = true end
  end
  for _ in pairs(ids) do t.accounts = t.accounts + 1 end
  t.accounts = t.accounts + #s.saves
  t.changes = t.fields + t.attaches + t.detaches + t.saves + t.deletes + t.others
  t.ids = ids
  return t, s
end

---------------------------------------------------------------------------- text

local function show(v)
  if v == nil then return "(unknown)" end
  if v == json.null then return "null" end
  if v == "***" then return v end
  return json.encode(M.normalize(v))
end
M.show = show

local function plural(n, one, many) return ("%d %s"):format(n, n == 1 and one or many) end

-- The address of an account: named explicitly, else from what the run has seen (set by the run).
function Plan:email(id)
  local email = self.names[id]
  if not email and self.lookup then
    email = self.lookup(id)
    if email then self.names[id] = email end
  end
  return email
end

function Plan:label(id)
  local email = self:email(id)
  return email and (id .. " " .. email) or tostring(id)
end

local function account_lines(self, a, out)
  local lines = {}
  for _, k in ipairs(a.order) do
    local f = a.fields[k]
    if not M.same(f.before, f.after) then
      lines[#lines + 1] = ("  %s: %s -> %s"):format(k, show(f.before), show(f.after))
    end
    if f.overwritten then
      local values = {}
      for i, v in ipairs(f.overwritten) do values[i] = show(v) end
      lines[#lines + 1] = ("  warning: %s is set %d times in this run (%s); the last wins"):format(k, #values,
        table.concat(values, ", then "))
    end
  end
  if #lines == 0 then return end
  out[#out + 1] = self:label(a.id)
  for _, l in ipairs(lines) do out[#out + 1] = l end
end

local function campaign_lines(self, c, out)
  local lines = {}
  for _, id in ipairs(c.order) do
    local ch = c.change[id]
    if ch then lines[#lines + 1] = ("  %s: %s"):format(ch, self:label(id)) end
  end
  if #lines == 0 then return end
  out[#out + 1] = "campaign " .. c.id
  for _, l in ipairs(lines) do out[#out + 1] = l end
end

local function save_lines(op, out)
  local f = journal.redact(op.fields)
  local what = f.id and not is_null(f.id) and ("credentials of account " .. show(f.id)) or "new account"
  if op.target.email then out[#out + 1] = ("%s %s (%s)"):format(what, tostring(op.target.email), op.op)
  else out[#out + 1] = ("new (%s)"):format(op.op) end -- a create of something else (a tag)
  for _, k in ipairs(M.sorted_keys(f)) do out[#out + 1] = ("  + %s: %s"):format(k, show(f[k])) end
end

-- A delete says, in its own words, that it is final.
local function delete_line(self, op)
  local what = op.target.account and ("account " .. self:label(op.target.account)) or (op.path or op.op)
  return ("DELETE %s (%s): cannot be undone"):format(what, op.op)
end

local function list_text(ids)
  local out = {}
  for i, id in ipairs(ids or {}) do out[i] = tostring(id) end
  return table.concat(out, ", ")
end

-- A relation over many accounts (tags): which members, which accounts, and those it changes nothing for.
local function members_line(self, op)
  local labels, same = {}, 0
  local had = {}
  for _, e in ipairs(op.before and op.before.members or {}) do had[e.id] = #(e.ids or {}) end
  for i, id in ipairs(op.fields.email_account_ids) do
    labels[i] = self:label(id)
    local n = had[id]
    if n and ((op.removes and n == 0) or (not op.removes and n == #op.fields.tag_ids)) then same = same + 1 end
  end
  local line = ("%s %s [%s] on %d account%s: %s"):format(op.op, op.members, list_text(op.fields.tag_ids),
    #labels, #labels == 1 and "" or "s", table.concat(labels, ", "))
  if same > 0 then line = line .. (" (%d already as asked: no change for them)"):format(same) end
  return line
end

local function other_line(self, op)
  if op.op == "request" then return ("request %s %s"):format(op.target.method, op.target.path) end
  local t = op.target
  if op.members and op.fields.email_account_ids and op.fields.tag_ids then return members_line(self, op) end
  if t.account then
    local line = ("%s account %s"):format(op.op, self:label(t.account))
    local was = op.flag and op.before and op.before[op.flag]
    if op.flag and was == not op.removes then
      line = line .. (" (%s is already %s: no change)"):format(op.flag, tostring(was))
    end
    return line
  end
  local id_name, id = next(t)
  if id_name then return ("%s %s %s"):format(op.op, id_name, tostring(id)) end
  if next(op.fields or {}) then return ("%s %s"):format(op.op, show(journal.redact(op.fields))) end
  return op.op .. "()"
end

---------------------------------------------------------------------------- how long

M.LIST_FROM = 20 -- apply re-reads this many accounts or more by pages of the list (apply.lua)

local function thousands(n)
  local s = tostring(math.floor(n))
  return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
end

-- "about 5 h 3 min", "about 12 min", "about 40 s"
function M.duration(seconds)
  if seconds < 60 then return ("about %d s"):format(math.max(1, math.ceil(seconds))) end
  local minutes = math.ceil(seconds / 60)
  if minutes < 60 then return ("about %d min"):format(minutes) end
  return ("about %d h %d min"):format(minutes // 60, minutes % 60)
end

local function window_text(w)
  local per = ({ [1] = "second", [60] = "minute", [3600] = "hour" })[w.per]
  if per then return ("%s requests/%s"):format(thousands(w.requests), per) end
  return ("%s requests per %g s"):format(thousands(w.requests), w.per)
end

-- The requests applying the plan takes: its writes, and the reads that check each account first.
function Plan:requests()
  local accounts, campaigns = {}, {}
  local writes = 0
  for _, op in ipairs(self.ops) do
    writes = writes + 1
    if op.kind == "set" and op.target.account then accounts[op.target.account] = true end
    if op.target.campaign then campaigns[op.target.campaign] = true end
  end
  local n, c = 0, 0
  for _ in pairs(accounts) do n = n + 1 end
  for _ in pairs(campaigns) do c = c + 1 end
  return writes, (n >= M.LIST_FROM and math.ceil(n / 100) or n) + c
end

-- plan:estimate(budget) -> "N writes + M reads; at R this takes about T", or nil with no writes.
-- budget: {windows = {{requests=, per=}...}} as the client's limiter knows it (none: not paced).
function Plan:estimate(budget)
  local writes, reads = self:requests()
  if writes == 0 then return nil end
  local what = ("%s %s + %s %s"):format(thousands(writes), writes == 1 and "write" or "writes", thousands(reads),
    reads == 1 and "read" or "reads")
  local windows = budget and budget.windows or {}
  local slowest, seconds = nil, 0
  for _, w in ipairs(windows) do
    local t = (writes + reads) / w.requests * w.per
    if t > seconds then slowest, seconds = w, t end
  end
  if not slowest then return what .. "; the client is not paced, so the server's latency decides how long" end
  return ("%s; at %s this takes %s"):format(what, window_text(slowest), M.duration(seconds))
end

-- The plan as lines: account by account, then campaigns, saves, other writes, totals.
function Plan:lines()
  local t, s = self:totals()
  local out = {}
  for _, a in ipairs(s.accounts) do account_lines(self, a, out) end
  for _, c in ipairs(s.campaigns) do campaign_lines(self, c, out) end
  for _, op in ipairs(s.saves) do save_lines(op, out) end
  for _, op in ipairs(s.deletes) do out[#out + 1] = delete_line(self, op) end
  for _, op in ipairs(s.others) do out[#out + 1] = other_line(self, op) end
  local parts = { plural(t.accounts, "account", "accounts") .. " changed",
    plural(t.fields, "field", "fields") .. " changed", plural(t.attaches, "attach", "attaches"),
    plural(t.detaches, "detach", "detaches") }
  if t.saves > 0 then parts[#parts + 1] = plural(t.saves, "save", "saves") end
  if t.deletes > 0 then parts[#parts + 1] = plural(t.deletes, "delete", "deletes") .. " (cannot be undone)" end
  if (self.already or 0) > 0 then
    parts[#parts + 1] = plural(self.already, "write", "writes") .. " already so (nothing to send)"
  end
  if t.others > 0 then parts[#parts + 1] = plural(t.others, "other write", "other writes") end
  out[#out + 1] = "Plan: " .. table.concat(parts, ", ") .. "."
  return out
end

---------------------------------------------------------------------------- file

-- Every account id the ops name (as a set).
function Plan:account_ids()
  local ids = {}
  for _, op in ipairs(self.ops) do
    if op.target.account then ids[op.target.account] = true end
    for _, id in ipairs(op.target.campaign and op.fields.email_account_ids or {}) do ids[id] = true end
  end
  return ids
end

-- The plan as JSON: secrets are replaced by "***" and never written.
function Plan:encode(info)
  local ops = json.array {}
  for i, op in ipairs(self.ops) do
    ops[i] = { op = op.op, kind = op.kind, method = op.method, path = op.path, target = op.target,
      fields = journal.redact(op.fields), before = op.before, inverse = op.inverse, removes = op.removes,
      flag = op.flag, members = op.members }
  end
  local names = json.array {}
  for _, id in ipairs(M.sorted_keys(self:account_ids())) do
    local email = self:email(id)
    if email then names[#names + 1] = { id = id, email = email } end
  end
  local doc = { smartlua_plan = M.VERSION, created = journal.now(), ops = ops, names = names }
  for k, v in pairs(info or {}) do doc[k] = v end
  return json.encode(doc)
end

-- plan:save(path, info) -> true, widened | nil, err: written 0600, never through a symbolic
-- link; widened is the mode ("0644") an existing file had before it was tightened to 0600.
function Plan:save(path, info)
  local f, widened = core.os.open_private(path, "wb")
  if not f then return nil, widened end
  local ok, err = f:write(self:encode(info), "\n")
  local closed, cerr = f:close()
  if not ok or not closed then return nil, ("%s: %s"):format(path, tostring(err or cerr)) end
  return true, widened
end

local function is_list(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v
end

-- The parts of a plan document apply relies on: a list of well-formed ops, a list of names.
local function check_doc(doc)
  if doc.ops ~= nil and not is_list(doc.ops) then return nil, "ops is not a list" end
  if doc.names ~= nil and not is_list(doc.names) then return nil, "names is not a list" end
  for i, op in ipairs(doc.ops or {}) do
    local ok, why = journal.check_op(op)
    if not ok then return nil, ("op %d: %s"):format(i, why) end
  end
  for i, n in ipairs(doc.names or {}) do
    local email_ok = n.email == nil or n.email == json.null or type(n.email) == "string"
    if type(n) ~= "table" or math.type(n.id) ~= "integer" or not email_ok then
      return nil, ("names[%d] is not {id = integer, email = string}"):format(i)
    end
  end
  return true
end

-- plan.decode(text, source) -> Plan | nil, "source: why" (never raises on a bad file)
function M.decode(text, source)
  source = source or "plan"
  local doc, err = json.decode(text)
  if type(doc) ~= "table" or doc.smartlua_plan == nil then
    return nil, ("%s: not a smartlua plan%s"):format(source, err and (" (" .. err .. ")") or "")
  end
  if doc.smartlua_plan ~= M.VERSION then
    return nil, ("%s: plan version %s, this smartlua reads %d"):format(source, show(doc.smartlua_plan), M.VERSION)
  end
  local ok, why = check_doc(doc)
  if not ok then return nil, ("%s: not a valid smartlua plan: %s"):format(source, why) end
  local p = M.new()
  for _, op in ipairs(doc.ops or {}) do p:add(journal.complete(op)) end
  for _, n in ipairs(doc.names or {}) do p:name(n.id, n.email) end
  return p
end

-- plan.load(path) -> Plan | nil, err (never through a symbolic link)
function M.load(path)
  local f, err = core.os.open_private(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return M.decode(text, path)
end

return M
