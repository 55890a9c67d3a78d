-- The command-line side of the run layer: which session a script runs under, what is printed
-- at the end, exit codes, and `smartlua apply` / `smartlua undo`.
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
-- failed or were skipped.
local run = require "smartlead.run"
local planlib = require "smartlead.plan"
local journal = require "smartlead.journal"
local apply = require "smartlead.apply"

local M = {}

M.EXIT = { ok = 0, error = 1, usage = 2, refused = 3, partial = 4 }
M.CONFIRM_OVER = 25 -- on a terminal, runs changing more accounts than this ask first

local state -- {session=, opts=, gate=, finished=}

local function err_line(...)
  io.stderr:write("smartlua: ", ...)
  io.stderr:write("\n")
  io.stderr:flush()
end

local function usage(msg)
  err_line(msg, " (try --help)")
  return M.EXIT.usage
end

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
  if (o.plan or o.plan_out) and o.journal and not o.max_changes then return "--plan writes nothing, so --journal has no use" end
  if (o.plan or o.plan_out) and o.max_changes then return "--plan sends nothing; --max-changes limits runs that do" end
  if o.repl and o.max_changes then return "--max-changes needs a script: the REPL cannot be planned first" end
end

-- Makes os.exit run the end-of-run step first (print the plan, or apply it, note the journal).
local function hook_exit()
  local real_exit = os.exit
  os.exit = function(code, close)
    os.exit = real_exit
    local success = code == nil or code == true or code == 0
    local rc = M.run_end(success)
    if success then return real_exit(rc, close) end
    return real_exit(code, close)
  end
end

-- run_cli.run_begin(opts): chooses and activates the session. Returns true, or an exit code.
function M.run_begin(o)
  local limit, lerr = parse_limit(o.max_changes)
  if lerr then return usage(lerr) end
  local why = conflict(o)
  if why then return usage(why) end
  if o.no_journal then return true end -- no session: the methods stay the C functions
  local plan_mode = o.plan or o.plan_out ~= nil
  -- a script on a terminal is planned first (and asked about); the REPL is not
  local gate = not plan_mode and not o.resume and (limit ~= nil or (o.tty and not o.yes and not o.repl))
  local mode = (plan_mode or gate) and "plan" or (o.resume and "resume" or "journal")
  local ok, s = pcall(run.session, { mode = mode, journal = o.journal, resume = o.resume, info = { script = o.script },
    confirmed = o.yes })
  if not ok then
    err_line(tostring(s))
    return M.EXIT.error
  end
  state = { session = s, opts = o, gate = gate, limit = limit }
  run.activate(s)
  hook_exit()
  return true
end

local function journal_note(s)
  local j = s.journal
  if not j then
    if s.refused > 0 then err_line(("%d writes refused before sending; nothing was journaled"):format(s.refused)) end
    return
  end
  local parts = { ("%d writes"):format(j.writes) }
  if s.failed > 0 then parts[#parts + 1] = ("%d failed"):format(s.failed) end
  if s.refused > 0 then parts[#parts + 1] = ("%d refused before sending"):format(s.refused) end
  if s.skipped > 0 then parts[#parts + 1] = ("%d already done"):format(s.skipped) end
  if s.already > 0 then parts[#parts + 1] = ("%d already so, not sent"):format(s.already) end
  err_line("journal: ", j.path, " (", table.concat(parts, ", "), ")")
  j:close()
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

local function print_plan(p)
  for _, line in ipairs(p:lines()) do io.stdout:write(line, "\n") end
  io.stdout:flush()
  -- how long applying it takes, beside the plan (stderr: the plan on stdout stays the plan)
  local estimate = p:estimate(budget_of(apply.plan_client(p)))
  if estimate then err_line("estimate: ", estimate) end
end

local function finish_plan(s, o)
  print_plan(s.plan)
  if o.plan_out then
    local ok, detail = s.plan:save(o.plan_out, { script = o.script }) -- nil, err | true, widened mode
    if not ok then
      err_line("--plan-out: ", tostring(detail))
      return M.EXIT.error
    end
    if detail then err_line("--plan-out: ", o.plan_out, " had mode ", detail, "; tightened to 0600") end
    err_line("plan saved to ", o.plan_out, "; apply it with: smartlua apply ", o.plan_out)
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

local function default_client()
  local ok, client = pcall(function() return require("smartlead").client() end)
  if ok then return client end
  return nil, client
end

-- Applies a plan (or refuses it) and returns the exit code.
local function apply_plan(p, o, limit, ask)
  local totals = p:totals()
  if limit and totals.accounts > limit then
    err_line(("refused: the run would change %d accounts, more than --max-changes %d; nothing was written")
      :format(totals.accounts, limit))
    return M.EXIT.refused
  end
  if totals.changes == 0 then return M.EXIT.ok end
  if totals.deletes > 0 and not ask and not o.yes then
    err_line(("refused: the run would delete %d, which cannot be undone; confirm on a terminal or pass --yes; "
      .. "nothing was written"):format(totals.deletes))
    return M.EXIT.refused
  end
  if ask and (totals.accounts > M.CONFIRM_OVER or totals.deletes > 0) then -- a delete is always asked about
    print_plan(p)
    if not confirm(("Apply %d changes to %d accounts?"):format(totals.changes, totals.accounts)) then
      err_line("declined; nothing was written")
      return M.EXIT.refused
    end
  end
  local client, cerr = apply.plan_client(p)
  if not client then client, cerr = default_client() end
  if not client then
    err_line(tostring(cerr))
    return M.EXIT.error
  end
  local report = apply.apply(p, { client = client, journal = o.journal, info = { script = o.script, plan = o.file },
    resume = o.file and o.resume or nil, plan_path = o.file,
    confirmed = true })
  if report.journal then err_line("journal: ", report.journal) end
  return apply.exit_code(report)
end

-- A journal that could not be written stopped the run: what was done, what was not, how to go on.
local function journal_stopped(s, o)
  local path = s.journal and s.journal.path
  err_line("the run stopped: ", tostring(s.journal_error.message or s.journal_error))
  err_line(("%d write%s sent before it, each journaled; nothing after it was sent"):format(s.sent, s.sent == 1 and " was" or "s were"))
  if path and s.sent > 0 then
    err_line("when the disk takes writes again, finish the run with: smartlua --resume ", path, " ", o.script or "SCRIPT")
  else
    err_line("nothing was written; give the journal a writable place (--journal FILE) and run again")
  end
  if s.journal then s.journal:close() end
  return M.EXIT.error
end

-- run_cli.run_end(ok): prints the plan, applies a confirmed one, notes the journal. Exit code.
function M.run_end(ok)
  if not state or state.finished then return ok and M.EXIT.ok or M.EXIT.error end
  state.finished = true
  local s, o = state.session, state.opts
  run.activate(nil)
  if s.journal_error then return journal_stopped(s, o) end
  if not ok then
    journal_note(s)
    if s.mode == "plan" and #s.plan.ops > 0 then err_line("the script failed; nothing was written") end
    return M.EXIT.error
  end
  if s.mode == "plan" and not state.gate then return finish_plan(s, o) end
  if state.gate then return apply_plan(s.plan, o, state.limit, o.tty and not o.yes) end
  journal_note(s)
  if s.unconfirmed > 0 then
    err_line(("%d delete%s refused: not confirmed (pass --yes)"):format(s.unconfirmed, s.unconfirmed == 1 and "" or "s"))
    return M.EXIT.refused
  end
  return (s.failed > 0 or s.refused > 0) and M.EXIT.partial or M.EXIT.ok
end

---------------------------------------------------------------------------- apply and undo

-- smartlua apply [--journal FILE] [--max-changes N] PLAN.json: o.script is the plan file (the
-- command line, lua/smartlead/cli/, takes no other option for apply).
function M.apply_command(o)
  local limit, lerr = parse_limit(o.max_changes)
  if lerr then return usage(lerr) end
  local p, err = planlib.load(o.script)
  if not p then
    err_line("apply: ", tostring(err))
    return M.EXIT.error
  end
  o.file = o.script
  if o.resume and o.journal then return usage("apply --resume appends to its own journal; --journal names another") end
  if #p.ops == 0 then
    io.stdout:write("Nothing to apply: the plan has no writes.\n")
    return M.EXIT.ok
  end
  return apply_plan(p, o, limit, false)
end

-- smartlua undo [--journal FILE] JOURNAL: o.script is the journal.
function M.undo_command(o)
  local records, err = journal.read(o.script)
  if not records then
    err_line("undo: ", tostring(err))
    return M.EXIT.error
  end
  local client, cerr = default_client()
  if not client then
    err_line(tostring(cerr))
    return M.EXIT.error
  end
  local report = apply.undo(records, { client = client, journal = o.journal, source = o.script })
  if report.journal then err_line("journal: ", report.journal) end
  return apply.exit_code(report)
end

return M
