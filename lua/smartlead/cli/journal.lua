-- `smartlua journal list | journal show J`: the runs that wrote, from their journals.
--
-- Journals are JSONL files under $XDG_STATE_HOME/smartlua/journal (runs against --mock: under
-- .../mock-journal, listed only with --mock). Each run's state comes from its records:
--   complete     every write has its result and the run ended (an end record)
--   interrupted  a write without its result, or a run that never ended (killed): --resume it
--   failed       the run ended with an error (its writes are journaled; undo works)
--   undone       another journal (an undo) names it
local core = require "smartlead.core"
local json = require "smartlead.json"
local journal = require "smartlead.journal"
local context = require "smartlead.cli.context"
local options = require "smartlead.cli.options"

local EXIT = context.EXIT
local opt, scope = options.opt, options.scope

local M = {}

local function basename(path) return (tostring(path):match("([^/]+)$")) end

-- The run a journal holds: {path=, name=, time=, command=, profile=, mode=, writes=, failed=,
-- state=, undoes=, records=} (state "unreadable" with why when it cannot be read).
function M.summary(path)
  local records, err = journal.read(path)
  local s = { path = path, name = basename(path) }
  if not records then
    s.state, s.why, s.writes, s.failed = "unreadable", err, 0, 0
    return s
  end
  s.records = records
  local first, last_begin, ended, ok_end = nil, nil, false, true
  for _, r in ipairs(records) do
    if r.type == "begin" then
      first = first or r
      last_begin, ended = r, false
    elseif r.type == "end" then
      ended, ok_end = true, r.ok ~= false
    end
  end
  first = first or {}
  s.time, s.mode, s.profile = first.time, (last_begin or first).mode, first.profile
  s.command = first.command or first.script or first.mode
  s.undoes = first.undoes
  s.mock = first.mock
  local idx = journal.index(records)
  local writes, failed, open = 0, 0, 0
  for _, seq in ipairs(idx.order) do
    local e = idx.by_seq[seq]
    writes = writes + 1
    if not e.result then open = open + 1
    elseif e.result.status ~= "ok" then failed = failed + 1 end
  end
  s.writes, s.failed = writes, failed
  -- a run that says where it ran (a command line) ends with an end record; older ones did not
  local never_ended = last_begin and last_begin.command ~= nil and not ended
  if open > 0 or never_ended then s.state = "interrupted"
  elseif not ok_end then s.state = "failed"
  else s.state = "complete" end
  return s
end

-- Every journal of the directory, newest first, with undone ones marked. -> list | nil, err
function M.all(dir)
  local names, mtimes = core.os.list_dir(dir)
  local err = mtimes
  if not names then
    if tostring(err):find("No such file", 1, true) then return {} end
    return nil, err
  end
  local list = {}
  for _, name in ipairs(names) do
    if name:match("%.jsonl$") then
      local s = M.summary(dir .. "/" .. name)
      s.mtime = mtimes[name] or 0
      list[#list + 1] = s
    end
  end
  local undone = {}
  for _, s in ipairs(list) do
    if s.undoes then undone[basename(s.undoes)] = s.name end
  end
  for _, s in ipairs(list) do
    if undone[s.name] and s.state ~= "unreadable" then s.state, s.undone_by = "undone", undone[s.name] end
  end
  table.sort(list, function(a, b) -- newest first: by start time, then by the last write
    if (a.time or "") ~= (b.time or "") then return (a.time or "") > (b.time or "") end
    if a.mtime ~= b.mtime then return a.mtime > b.mtime end
    return a.name > b.name
  end)
  return list
end

local function dir_or_fail()
  local dir, err = require("smartlead.run_cli").journal_dir()
  if not dir then context.fail(EXIT.error, "journal: " .. tostring(err)) end
  return dir
end

-- The newest journal `undo --last` takes back: it wrote something, is no undo itself, is not undone.
function M.last()
  local dir = dir_or_fail()
  local list, err = M.all(dir)
  if not list then context.fail(EXIT.error, "journal: " .. tostring(err)) end
  for _, s in ipairs(list) do
    if s.writes > 0 and s.mode ~= "undo" and s.state ~= "undone" and s.state ~= "unreadable" then return s end
  end
  context.fail(EXIT.error, ("undo --last: no journal in %s has writes left to undo"):format(dir))
end

-- A journal named by path, or by its name (with or without .jsonl) in the journal directory.
local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

function M.find(word)
  if word:find("/", 1, true) or (word:match("%.jsonl$") and exists(word)) then return word end
  local dir = dir_or_fail()
  for _, name in ipairs { word, word .. ".jsonl" } do
    if exists(dir .. "/" .. name) then return dir .. "/" .. name end
  end
  context.fail(EXIT.error, ("journal: no journal '%s' (here or in %s; smartlua journal list)"):format(word, dir))
end

---------------------------------------------------------------------------- list

local LIST_FIELDS = { "time", "profile", "writes", "failed", "state", "command", "name" }

local function list(ctx)
  local dir = dir_or_fail()
  local all, err = M.all(dir)
  if not all then context.fail(EXIT.error, "journal: " .. tostring(err)) end
  local fmt = ctx:format()
  local fields = (fmt == "table" or fmt == "csv") and LIST_FIELDS or nil
  local w = ctx:writer { fields = fields, max_width = 60 }
  for _, s in ipairs(all) do
    w:add { time = s.time, profile = s.profile, writes = s.writes, failed = s.failed, state = s.state,
      command = s.command, name = s.name, path = s.path, mode = s.mode, undone_by = s.undone_by }
  end
  w:close()
  ctx:err(("%s in %s"):format(require("smartlead.run_cli").plural(#all, "journal"), dir))
  return EXIT.ok
end

---------------------------------------------------------------------------- show

local function show_value(v)
  if v == nil then return "?" end
  return (json.encode(v))
end

local function target_text(t)
  if type(t) ~= "table" then return "" end
  if t.account then return "account " .. t.account end
  if t.campaign then return "campaign " .. t.campaign end
  if t.email then return t.email end
  if t.method then return t.method .. " " .. tostring(t.path) end
  return ""
end

-- "max_email_per_day: 20 -> 25, ..." or the ids of a relation.
local function change_text(intent)
  local f = intent.fields or {}
  if f.email_account_ids then
    local ids = {}
    for i, id in ipairs(f.email_account_ids) do ids[i] = tostring(id) end
    return "accounts " .. table.concat(ids, ",")
  end
  local parts = {}
  for _, k in ipairs(require("smartlead.plan").sorted_keys(f)) do
    local before = intent.before and intent.before[k]
    parts[#parts + 1] = before ~= nil and ("%s: %s -> %s"):format(k, show_value(before), show_value(f[k]))
      or ("%s: %s"):format(k, show_value(f[k]))
  end
  return table.concat(parts, ", ")
end

local function show(ctx)
  local path = ctx.opts.last and M.last().path or (ctx.args[1] and M.find(ctx.args[1]))
  if not path then context.usage("needs a JOURNAL (a path or a name from `smartlua journal list`) or --last") end
  local s = M.summary(path)
  if s.state == "unreadable" then context.fail(EXIT.error, "journal: " .. tostring(s.why)) end
  local idx = journal.index(s.records)
  local rows = {}
  for _, seq in ipairs(idx.order) do
    local e = idx.by_seq[seq]
    local r = e.result or {}
    rows[#rows + 1] = { seq = seq, time = e.intent.time, op = e.intent.op, target = target_text(e.intent.target),
      change = change_text(e.intent), status = r.status or "no result",
      error = r.error and r.error.message or nil, undo_of = e.intent.undo_of }
  end
  local fmt = ctx:format()
  if fmt == "json" then
    ctx:text(require("smartlead.formats").pretty_json { journal = path, time = s.time, command = s.command,
      profile = s.profile, mode = s.mode, state = s.state, writes = s.writes, failed = s.failed,
      undone_by = s.undone_by, entries = json.array(rows) } .. "\n")
    return EXIT.ok
  end
  if fmt == "table" then
    ctx:text(("journal %s\n  %s, %s, profile %s: %s (%s, %d failed)\n\n"):format(path, tostring(s.time),
      tostring(s.command), tostring(s.profile or "?"), s.state, require("smartlead.run_cli").plural(s.writes, "write"),
      s.failed))
  end
  local w = ctx:writer { fields = { "seq", "op", "target", "change", "status", "error" }, max_width = 72 }
  for _, r in ipairs(rows) do w:add(r) end
  w:close()
  return EXIT.ok
end

M.node = {
  summary = "the runs that wrote: list them, show one",
  order = { "list", "show" },
  subs = {
    list = { summary = "every journal, newest first: time, profile, writes, state, command", run = list,
      single_profile = true,
      globals = scope("output", "mock"),
      help = [[
States: complete (every write has its result and the run ended), interrupted (a write without its
result, or a run killed before its end: finish it with smartlua --resume JOURNAL SCRIPT), failed
(the run ended with an error; its writes are journaled), undone (an undo journal names it).
Runs against --mock journal under .../smartlua/mock-journal and list only with --mock.
]] },
    show = { summary = "one journal's writes: what changed, before and after, and each outcome", run = show,
      single_profile = true,
      args = { { name = "JOURNAL", optional = true, complete = "journals" } },
      options = { opt({ "--last" }, "last", "flag", nil, "the newest journal `undo --last` would undo") },
      globals = scope("output", "mock") },
  },
}

return M
