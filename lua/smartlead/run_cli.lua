-- The command-line side of the run layer: which session a script or command runs under, what is
-- printed at the end, exit codes, and `smartlua apply` / `smartlua undo`.
--
--   smartlua --plan [--plan-out F] s.lua   reads go out, writes are recorded and not sent; prints
--                                          `field: before -> after` per account; F: for apply
--   smartlua --max-changes N s.lua         plan first; over N accounts: exit 3, nothing written;
--                                          else the recorded plan is applied as `apply` does
--   smartlua s.lua (stdin and stderr are terminals, no --yes)
--                                          the same, asking `Apply N changes to M accounts?`
--                                          when over 25 accounts
--   smartlua s.lua (cron: no terminal, or --yes)   writes go straight through, journaled
--   smartlua --resume J s.lua              run again; writes J shows as done are skipped
--   smartlua apply F / smartlua undo J     apply a saved plan / undo a journal
--
-- A planned-first run answers the script's writes with synthetic answers (planned=true), so a
-- script that uses what its own writes return (the id of an account it saves) must run with
-- --yes or without a terminal. Exit codes: 0 ok, 1 error, 2 usage, 3 refused, 4 some writes
-- failed or were skipped; a script that calls os.exit(code) exits with its code.
--
-- A Run (run_cli.begin) is one session with its options; a process may hold several (one per
-- profile of `--profile a,b`), each printing with its own label. run_begin/run_end keep the one
-- a script or a single command runs under, made the default of every client (run.activate).
local core = require "smartlead.core"
local json = require "smartlead.json"
local run = require "smartlead.run"
local planlib = require "smartlead.plan"
local journal = require "smartlead.journal"
local apply = require "smartlead.apply"

local M = {}

M.EXIT = { ok = 0, error = 1, usage = 2, refused = 3, partial = 4, SIGINT = 130, SIGTERM = 143 }
M.CONFIRM_OVER = 25 -- on a terminal, runs changing more accounts than this ask first

-- "1 write", "2 writes"; many defaults to one .. "s".
function M.plural(n, one, many) return ("%d %s"):format(n, n == 1 and one or (many or one .. "s")) end
local plural = M.plural

local function parse_limit(s)
  local n = s and math.tointeger(tonumber(s))
  if s and (not n or n < 0) then return nil, "--max-changes needs a whole number >= 0, got '" .. s .. "'" end
  return n
end

-- Option combinations that make no sense; nil when fine.
local function conflict(o)
  if o.no_journal and (o.plan or o.plan_out or o.resume or o.max_changes or o.journal) then
    return "--no-journal cannot be combined with --plan, --resume, --max-changes or --journal"
  end
  if o.resume and (o.plan or o.plan_out) then return "--resume cannot be combined with --plan" end
  if o.resume and o.max_changes then return "--resume cannot be combined with --max-changes" end
  if o.resume and o.journal and o.journal ~= o.resume then
    return "--resume appends to its own journal; --journal names another file"
  end
  if (o.plan or o.plan_out) and o.journal and not o.max_changes then
    return "--plan writes nothing, so --journal has no use"
  end
  if (o.plan or o.plan_out) and o.max_changes then return "--plan sends nothing; --max-changes limits runs that do" end
  if o.repl and o.max_changes then return "--max-changes needs a script: the REPL cannot be planned first" end
end

---------------------------------------------------------------------------- where runs go

-- The directory default journals go to: $XDG_STATE_HOME/smartlua/journal, or .../mock-journal
-- for runs against --mock (host.start_mock sets journal.DIR), which never mix with the real
-- ones. Each run's default journal is made there on its first write. -> dir | nil, err
function M.journal_dir() return journal.dir() end

-- What a run's default client talks to: {profile=, base_url= (any key masked), mock=true|nil}.
function M.target(profile)
  local sl = require "smartlead"
  local mock = sl.mock ~= nil or nil
  local settings = require("smartlead.config").resolve {
    options = { profile = profile }, defaults = sl.defaults, mock = mock }
  if not settings then return { profile = profile or sl.defaults.profile or "default", mock = mock } end
  return { profile = settings.profile.value, base_url = core.mask(tostring(settings.base_url.value)), mock = mock }
end

-- "profile acme (https://...)", or "--mock".
local function target_text(t)
  if t.mock then return "the --mock server" end
  return ("profile %s (%s)"):format(tostring(t.profile or "default"), tostring(t.base_url or "?"))
end

-- nil when a plan or journal made for `want` may be sent to `here`, else why not.
function M.other_target(want, here)
  if want.mock or here.mock then
    if want.mock and here.mock then return nil end
  elseif want.base_url == nil then
    return nil -- made before plans and journals said where they were for
  elseif want.base_url == here.base_url and (want.profile or "default") == (here.profile or "default") then
    return nil
  end
  return ("it was made for %s; this run is for %s"):format(target_text(want), target_text(here))
end

---------------------------------------------------------------------------- a run

local Run = {}
Run.__index = Run

-- "smartlua: [label: ]..." on stderr, any key masked.
function Run:err(...)
  io.stderr:write("smartlua: ", self.label or "", core.mask(table.concat({ ... })), "\n")
  io.stderr:flush()
end

-- One line of the run's own output (plans, apply reports) on stdout.
function Run:out(line)
  io.stdout:write(self.prefix or "", line, "\n")
end

function Run:usage(msg)
  self:err(msg, " (try --help)")
  return M.EXIT.usage
end

local function default_client()
  local ok, client = pcall(function() return require("smartlead").client() end)
  if ok then return client end
  return nil, client
end

-- The client writes of an applied plan or an undo go through (o.client: the caller's maker).
function Run:client()
  if self.opts.client then return self.opts.client() end
  return default_client()
end

-- What the begin record of the run's journals says besides its mode.
function Run:info(extra)
  local t, o = self.target, self.opts
  local info = { script = o.script, command = o.command, profile = t.profile, base_url = t.base_url, mock = t.mock }
  for k, v in pairs(extra or {}) do info[k] = v end
  return info
end

-- run_cli.begin(o) -> Run | nil, exit code (the reason already said on stderr). Chooses the
-- session; nothing is activated. o: plan, plan_out, yes, no_journal, tty, repl, journal, resume,
-- max_changes, script (what the journal names), command (the command line), profile,
-- label/prefix (for stderr/stdout lines), client (a maker).
function M.begin(o)
  local self = setmetatable({ opts = o, label = o.label, prefix = o.prefix }, Run)
  local limit, lerr = parse_limit(o.max_changes)
  if lerr then return nil, self:usage(lerr) end
  local why = conflict(o)
  if why then return nil, self:usage(why) end
  self.limit = limit
  if o.no_journal then return self end -- no session: the methods stay the C functions
  local plan_mode = o.plan or o.plan_out ~= nil
  -- a script on a terminal is planned first (and asked about); the REPL is not
  local gate = not plan_mode and not o.resume and (limit ~= nil or (o.tty and not o.yes and not o.repl))
  local mode = (plan_mode or gate) and "plan" or (o.resume and "resume" or "journal")
  self.target = M.target(o.profile)
  local ok, s = pcall(run.session, { mode = mode, journal = o.journal, resume = o.resume, info = self:info(),
    confirmed = o.yes })
  if not ok then
    self:err(tostring(s))
    return nil, M.EXIT.error
  end
  self.session, self.gate = s, gate
  return self
end

-- Appends the end record to a journal closed or still open: what the run did, in counts that
-- add up. A journal that no longer takes it is left as it is (it then lists as interrupted).
local function end_record(j, counts)
  local rec = { type = "end" }
  for k, v in pairs(counts) do rec[k] = v end
  pcall(function()
    local opened = j
    if type(j) == "string" then opened = assert(journal.open(j)) end
    opened:append(rec)
    if opened ~= j then opened:close() end
  end)
end
M.end_record = end_record

-- "5 writes: 4 sent, 1 failed": every write the run meant to make, by outcome.
local function write_counts(s)
  local total = s.sent + s.failed + s.refused + s.skipped + s.already
  local parts = { ("%d sent"):format(s.sent) }
  if s.skipped > 0 then parts[#parts + 1] = ("%d already done"):format(s.skipped) end
  if s.failed > 0 then parts[#parts + 1] = ("%d failed"):format(s.failed) end
  if s.refused > 0 then parts[#parts + 1] = ("%d refused before sending"):format(s.refused) end
  if s.already > 0 then parts[#parts + 1] = ("%d already so, not sent"):format(s.already) end
  return ("%s: %s"):format(plural(total, "write"), table.concat(parts, ", "))
end

-- What the key's limiter allows: what the server has shown, else what is configured.
local function budget_of(client)
  if not client then return nil end
  if client.rate_budget then
    local b = client:rate_budget()
    if b.off then return nil end
    return b
  end
  if require("smartlead").defaults.rate == false then return nil end -- --mock: not paced
  return { windows = { { requests = 10, per = 2 } } } -- the documented default before the server says more
end

function Run:journal_note(ok)
  local s = self.session
  local j = s.journal
  if not j then
    if s.refused > 0 then
      self:err(("%s refused before sending; nothing was journaled"):format(plural(s.refused, "write")))
    end
    return
  end
  end_record(j, { ok = ok, sent = s.sent, failed = s.failed, refused = s.refused, already = s.skipped })
  self:err("journal: ", j.path, " (", write_counts(s), ")")
  j:close()
end

function Run:print_plan(p)
  for _, line in ipairs(p:lines()) do self:out(line) end
  io.stdout:flush()
  -- how long applying it takes, beside the plan (stderr: the plan on stdout stays the plan)
  local estimate = p:estimate(budget_of(apply.plan_client(p)))
  if estimate then self:err("estimate: ", estimate) end
end

function Run:finish_plan()
  local s, o = self.session, self.opts
  self:print_plan(s.plan)
  if o.plan_out then
    local info = { script = o.script, profile = self.target.profile, base_url = self.target.base_url,
      mock = self.target.mock }
    local ok, detail = s.plan:save(o.plan_out, info) -- nil, err | true, widened mode
    if not ok then
      self:err("--plan-out: ", tostring(detail))
      return M.EXIT.error
    end
    if detail then self:err("--plan-out: ", o.plan_out, " had mode ", detail, "; tightened to 0600") end
    self:err("plan saved to ", o.plan_out, "; apply it with: smartlua apply ", o.plan_out)
  end
  return M.EXIT.ok
end

-- Asks on the terminal; true for y or yes.
local function confirm(question)
  io.stderr:write(question, " [y/N] ")
  io.stderr:flush()
  local answer = io.stdin:read("l")
  return answer ~= nil and (answer:lower():match("^%s*y") ~= nil)
end

-- Applies a plan (or refuses it) and returns the exit code.
function Run:apply_plan(p, ask)
  local o, limit = self.opts, self.limit
  local totals = p:totals()
  if limit and totals.accounts > limit then
    self:err(("refused: the run would change %s, more than --max-changes %d; nothing was written")
      :format(plural(totals.accounts, "account"), limit))
    return M.EXIT.refused
  end
  if totals.changes == 0 then return M.EXIT.ok end
  if totals.deletes > 0 and not ask and not o.yes then
    self:err(("refused: the run would delete %d, which cannot be undone; confirm on a terminal or pass --yes; "
      .. "nothing was written"):format(totals.deletes))
    return M.EXIT.refused
  end
  if ask and (totals.accounts > M.CONFIRM_OVER or totals.deletes > 0) then -- a delete is always asked about
    self:print_plan(p)
    local where = self.label and (" in " .. self.label:gsub(": $", "")) or ""
    if not confirm(("Apply %s to %s%s?"):format(plural(totals.changes, "change"), plural(totals.accounts, "account"),
      where)) then
      self:err("declined; nothing was written")
      return M.EXIT.refused
    end
  end
  local client, cerr = apply.plan_client(p)
  if not client then client, cerr = self:client() end
  if not client then
    self:err(tostring(cerr))
    return M.EXIT.error
  end
  local report = apply.apply(p, { client = client, journal = o.journal,
    info = self:info { plan = o.file }, confirmed = true, resume = o.file and o.resume or nil, plan_path = o.file,
    out = function(line) self:out(line) end })
  if report.journal then
    end_record(report.journal, { ok = true, sent = report.sent, failed = report.failed, skipped = report.skipped,
      already = report.already })
    self:err("journal: ", report.journal)
  end
  return apply.exit_code(report)
end

-- A journal that could not be written stopped the run: what was done, what was not, how to go on.
function Run:journal_stopped()
  local s, o = self.session, self.opts
  local path = s.journal and s.journal.path
  self:err("the run stopped: ", tostring(s.journal_error.message or s.journal_error))
  self:err(("%s sent before it, each journaled; nothing after it was sent"):format(s.sent == 1 and "1 write was"
    or (s.sent .. " writes were")))
  if path and s.sent > 0 then
    self:err("when the disk takes writes again, finish the run with: smartlua --resume ", path, " ",
      o.script or "SCRIPT")
  else
    self:err("nothing was written; give the journal a writable place (--journal FILE) and run again")
  end
  if s.journal then s.journal:close() end
  return M.EXIT.error
end

-- Ctrl-C or SIGTERM stopped the run: what was sent, and the command that finishes it.
function Run:signal_stopped()
  local s, o = self.session, self.opts
  local path = s.journal and s.journal.path
  local sig = core.stop_signal()
  self:journal_note(false)
  if s.mode == "plan" then
    self:err("stopped by ", sig, " while planning; nothing was written")
  elseif path then
    self:err(("stopped by %s: %s; a write cut off in flight is checked before anything is sent again"):format(sig,
      plural(s.sent, "write") .. " sent, each journaled"))
    self:err("finish the run with: smartlua --resume ", path, " ", o.script or "SCRIPT")
  else
    self:err("stopped by ", sig, "; nothing was written")
  end
  return M.EXIT[sig]
end

-- run:finish(ok) -> exit code: prints the plan, applies a confirmed one, notes the journal.
function Run:finish(ok)
  if self.finished then return ok and M.EXIT.ok or M.EXIT.error end
  self.finished = true
  local s, o = self.session, self.opts
  if not s then return M.plain_exit(ok) end
  if run.current() == s then run.activate(nil) end
  if s.journal_error then return self:journal_stopped() end
  if core.stop_signal() then return self:signal_stopped() end
  if not ok then
    self:journal_note(false)
    if s.mode == "plan" and #s.plan.ops > 0 then
      local what = tostring(o.script or ""):match("^smartlua ") and "command" or "script"
      self:err("the ", what, " failed; nothing was written")
    end
    return M.EXIT.error
  end
  if s.mode == "plan" and not self.gate then return self:finish_plan() end
  if self.gate then return self:apply_plan(s.plan, o.tty and not o.yes) end
  self:journal_note(true)
  if s.unconfirmed > 0 then
    self:err(("%s refused: not confirmed (pass --yes)"):format(plural(s.unconfirmed, "delete")))
    return M.EXIT.refused
  end
  return (s.failed > 0 or s.refused > 0) and M.EXIT.partial or M.EXIT.ok
end

---------------------------------------------------------------------------- the process's run

local state -- the Run a script or a single command runs under

-- Makes os.exit run the end-of-run step first (print the plan, or apply it, note the journal).
-- A script that says its exit code gets it; os.exit() with no code ends as the script's end does.
local function hook_exit()
  local real_exit = os.exit
  os.exit = function(code, close) -- luacheck: ignore 122
    os.exit = real_exit -- luacheck: ignore 122
    local success = code == nil or code == true or code == 0
    local rc = M.run_end(success)
    if code == nil then return real_exit(rc, close) end
    return real_exit(code, close)
  end
end

-- run_cli.run_begin(opts): chooses and activates the session. Returns true, or an exit code.
function M.run_begin(o)
  local r, code = M.begin(o)
  if not r then return code end
  if not r.session then return true end
  state = r
  run.activate(r.session)
  hook_exit()
  return true
end

-- run_cli.run_end(ok) -> exit code of the active run.
-- The exit code of a run with no session (--no-journal): a stop by a signal says so.
function M.plain_exit(ok)
  if core.stop_signal() then return M.EXIT[core.stop_signal()] end
  return ok and M.EXIT.ok or M.EXIT.error
end

function M.run_end(ok)
  if not state then return M.plain_exit(ok) end
  return state:finish(ok)
end

---------------------------------------------------------------------------- apply and undo

-- The top-level fields of a plan file, or of a journal's first begin record: where it was made for.
local function plan_doc(path)
  local f = core.os.open_private(path, "rb")
  if not f then return {} end
  local text = f:read("a")
  f:close()
  local ok, doc = pcall(json.decode, text)
  return ok and type(doc) == "table" and doc or {}
end

local function begin_of(records)
  for _, r in ipairs(records) do
    if r.type == "begin" then return r end
  end
  return {}
end

-- Refuses (exit 3) to send what was made for another workspace; nil when fine.
local function check_target(self, what, path, want)
  local why = M.other_target(want, self.target)
  if not why then return nil end
  self:err(("refused: %s %s: %s; nothing was written%s"):format(what, path, why,
    (want.profile and not want.mock) and (" (to send it there: --profile " .. want.profile .. ")") or ""))
  return M.EXIT.refused
end

-- smartlua apply [--journal FILE] [--max-changes N] [--yes] PLAN.json: o.script is the plan file.
function M.apply_command(o)
  local self = setmetatable({ opts = o, label = o.label, prefix = o.prefix }, Run)
  local limit, lerr = parse_limit(o.max_changes)
  if lerr then return self:usage(lerr) end
  self.limit = limit
  local p, err = planlib.load(o.script)
  if not p then
    self:err("apply: ", tostring(err))
    return M.EXIT.error
  end
  self.target = M.target(o.profile)
  o.file = o.script
  if o.resume and o.journal then
    return self:usage("apply --resume appends to its own journal; --journal names another")
  end
  local refused = check_target(self, "the plan", o.script, plan_doc(o.script))
  if refused then return refused end
  if #p.ops == 0 then
    self:out("Nothing to apply: the plan has no writes.")
    return M.EXIT.ok
  end
  return self:apply_plan(p, false)
end

-- smartlua undo [--journal FILE] JOURNAL: o.script is the journal.
function M.undo_command(o)
  local self = setmetatable({ opts = o, label = o.label, prefix = o.prefix }, Run)
  local records, err = journal.read(o.script)
  if not records then
    self:err("undo: ", tostring(err))
    return M.EXIT.error
  end
  self.target = M.target(o.profile)
  local refused = check_target(self, "the journal", o.script, begin_of(records))
  if refused then return refused end
  local client, cerr = self:client()
  if not client then
    self:err(tostring(cerr))
    return M.EXIT.error
  end
  local report = apply.undo(records, { client = client, journal = o.journal,
    source = o.script, info = self:info { undoes = o.script }, out = function(line) self:out(line) end })
  if report.journal then
    end_record(report.journal, { ok = true, sent = report.sent, failed = report.failed, skipped = report.skipped,
      cannot = report.cannot })
    self:err("journal: ", report.journal)
  end
  return apply.exit_code(report)
end

return M
