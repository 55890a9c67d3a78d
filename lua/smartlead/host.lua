-- What the host runs for a script: the arg table, -e and -l, the script, the REPL, --mock.
--
-- As lua.c does: every chunk runs under a message handler that adds a traceback, scripts load as
-- text only, and arg holds the script at 0, its arguments at 1.., the words before it below 0.
-- A script run sits between the run layer's run_begin and run_end (smartlead.run_cli): --plan,
-- --resume, --max-changes and the journal apply to its writes. Errors print on stderr after
-- "smartlua: " with any key masked.
local core = require "smartlead.core"

local M = {}

local traceback = debug.traceback -- a script may replace debug.traceback; the host keeps its own

local function print_error(msg)
  io.stderr:write("smartlua: ", core.mask(msg), "\n")
  io.stderr:flush()
end

-- Any error value as text: a string or number, what __tostring gives, else what it is.
local function message_of(e)
  if type(e) == "string" or type(e) == "number" then return tostring(e) end
  local mt = getmetatable(e)
  if type(mt) == "table" and mt.__tostring then
    local ok, s = pcall(tostring, e)
    if ok and type(s) == "string" then return s end
  end
  return ("(error object is a %s value)"):format(type(e))
end

local HOST_FRAMES = "\n\t[C]: in function 'xpcall'"

-- The message handler: the message and a traceback of the chunk, without the host's own frames
-- (they start at the outermost xpcall, the one docall made).
local function handler(e)
  local tb = traceback(message_of(e), 2)
  local cut, from = nil, 1
  repeat
    local at = tb:find(HOST_FRAMES, from, true)
    if at then cut, from = at, at + 1 end
  until not at
  return cut and tb:sub(1, cut - 1) or tb
end

-- Runs fn(...) under the handler. -> true, results... | false (the error printed)
local function docall(fn, ...)
  local res = table.pack(xpcall(fn, handler, ...))
  if not res[1] then print_error(res[2]) end
  return table.unpack(res, 1, res.n)
end

-- smartlua --mock[=FILE]: an in-process mock becomes the default target of smartlead.client().
function M.start_mock(seed_file)
  local sl = require "smartlead"
  -- the documented mock key (smartlead.testing.KEY, `smartlua mock`'s), the same on every run,
  -- so what a run under --mock keeps (fleet history, journals) belongs to one workspace
  local ok, server = pcall(require("smartlead.mock.server").start,
    { seed_file = seed_file, api_key = "mock-api-key-0123456789" })
  if not ok then -- a bad seed file is the user's mistake, not a crash: one line, no traceback
    print_error("--mock: " .. tostring(server):gsub("^[^\n]-:%d+: ", ""))
    return false
  end
  sl.defaults.base_url = server:url()
  sl.defaults.api_key = server.api_key
  sl.defaults.rate = false
  sl.mock = server -- scripts may read sl.mock:log(); also keeps the server alive
  return true
end

-- --profile, -v.. and --mock, before anything is sent. -> success
function M.apply_settings(o)
  if o.profile then require("smartlead").defaults.profile = o.profile end
  if o.trace then core.set_trace(o.trace) end
  if o.mock then return M.start_mock(o.mock ~= true and o.mock or nil) end
  return true
end

-- arg as lua.c builds it: argv[script] at 0; without a script every word is below 0.
local function set_arg(argv, script)
  local base = script or (#argv + 1)
  local t = {}
  for i = 0, #argv do t[i - base] = argv[i] end
  _G.arg = t
end

-- -e CHUNK and -l MODULE, in the order given. -> success
local function run_chunks(chunks)
  for _, c in ipairs(chunks) do
    if c.option == "-e" then
      local f, err = load(c.value, "=(command line)", "t")
      if not f then
        print_error(err)
        return false
      end
      if not docall(f) then return false end
    else
      local ok, mod = docall(require, c.value)
      if not ok then return false end
      _G[c.value] = mod
    end
  end
  return true
end

-- The script at argv[i] ("-" is stdin, unless it came after "--") with the words after it.
local function run_script(argv, i)
  local name = argv[i]
  if name == "-" and argv[i - 1] ~= "--" then name = nil end
  local f, err = loadfile(name, "t")
  if not f then
    print_error(err)
    return false
  end
  return (docall(f, table.unpack(argv, i + 1, #argv)))
end

local function repl()
  return require("smartlead.repl").run(core.isatty(0))
end

-- smartlua [options] [script [args]]: the chunks, the script and the REPL between run_begin and
-- run_end. -> exit code
function M.run(argv, parsed)
  local o, script = parsed.opts, parsed.script
  local chunks = o.chunks or {}
  set_arg(argv, script)
  if not M.apply_settings(o) then return 1 end
  local run_cli = require "smartlead.run_cli"
  local interactive = o.interactive or (not script and #chunks == 0)
  local ok, begun = docall(run_cli.run_begin, {
    plan = o.plan or false, yes = o.yes or false, no_journal = o.no_journal or false,
    tty = core.isatty(0) and core.isatty(2), repl = interactive, plan_out = o.plan_out, journal = o.journal,
    resume = o.resume, max_changes = o.max_changes, script = script and argv[script],
  })
  if not ok then return 1 end
  if begun ~= true then return begun end
  local good = run_chunks(chunks) and (not script or run_script(argv, script)) and (not interactive or docall(repl))
  local ended, code = docall(run_cli.run_end, good and true or false)
  return ended and code or 1
end

return M
