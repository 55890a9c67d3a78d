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

-- coroutine -> "profile: ", for the task running one profile of --profile a,b
local labels = setmetatable({}, { __mode = "k" })

local function print_error(msg)
  io.stderr:write("smartlua: ", labels[coroutine.running()] or "", core.mask(msg), "\n")
  io.stderr:flush()
end

-- os.exit(code) inside a run for one profile of several: ends that run only.
local Exit = { __tostring = function(e) return "os.exit(" .. tostring(e.code) .. ")" end }

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
  if getmetatable(e) == Exit then return e end
  -- a stop the user asked for (Ctrl-C, SIGTERM) is no bug: its message without a traceback
  if core.stop_signal() and type(e) == "table" and e.kind == "cancelled" then return message_of(e) end
  local tb = traceback(require("smartlead.help").with_suggestion(message_of(e)), 2)
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
  if not res[1] and getmetatable(res[2]) == Exit then error(res[2], 0) end -- up to the profile's run
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
  require("smartlead.journal").DIR = "mock-journal" -- runs against the mock journal apart
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

-- -e CHUNK and -l MODULE, in the order given; env: the globals they see (a profile's). -> success
local function run_chunks(chunks, env)
  for _, c in ipairs(chunks) do
    if c.option == "-e" then
      local f, err = load(c.value, "=(command line)", "t", env or _G)
      if not f then
        print_error(err)
        return false
      end
      if not docall(f) then return false end
    else
      local ok, mod = docall(require, c.value)
      if not ok then return false end
      ;(env or _G)[c.value] = mod
    end
  end
  return true
end

-- The script at argv[i] ("-" is stdin, unless it came after "--") with the words after it;
-- source: stdin's text when it was read already (every profile runs the same script).
local function run_script(argv, i, env, source)
  local name = argv[i]
  if name == "-" and argv[i - 1] ~= "--" then name = nil end
  local f, err
  if name == nil and source then f, err = load(source, "=stdin", "t", env or _G)
  else f, err = loadfile(name, "t", env or _G) end
  if not f then
    print_error(err)
    return false
  end
  return (docall(f, table.unpack(argv, i + 1, #argv)))
end

-- The REPL; on stdin that is no terminal it reads lines as lua.c does. -> success
local function repl()
  local ok, good = docall(function() return require("smartlead.repl").run(core.isatty(0)) end)
  return ok and good ~= false
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
  -- no script, no -e, no -i and stdin no terminal: stdin is the script, as lua.c runs it
  local stdin_script = interactive and not o.interactive and not core.isatty(0)
  if stdin_script then interactive = false end
  if not interactive then core.catch_interrupts() end -- the REPL catches Ctrl-C per evaluation
  if o.profiles then return M.run_profiles(argv, parsed, interactive, stdin_script) end
  local ok, begun = docall(run_cli.run_begin, {
    plan = o.plan or false, yes = o.yes or false, no_journal = o.no_journal or false,
    tty = core.isatty(0) and core.isatty(2), repl = interactive, plan_out = o.plan_out, journal = o.journal,
    resume = o.resume, max_changes = o.max_changes, script = script and argv[script], command = parsed.command,
    profile = o.profile,
  })
  if not ok then return 1 end
  if begun ~= true then return begun end
  local good = run_chunks(chunks) and (not script or run_script(argv, script)) and (not interactive or repl())
    and (not stdin_script or run_script({ [1] = "-" }, 1))
  local ended, code = docall(run_cli.run_end, good and true or false)
  return ended and code or 1
end

---------------------------------------------------------------------------- several profiles

-- A writer that starts every line with prefix (the run's profile), for print and io.write.
local function prefixed_writer(prefix)
  local at_start = true
  return function(...)
    local out = {}
    for k = 1, select("#", ...) do
      local piece = select(k, ...)
      if type(piece) ~= "string" and type(piece) ~= "number" then
        error(("bad argument #%d to 'write' (string expected, got %s)"):format(k, type(piece)), 2)
      end
      for text, nl in tostring(piece):gmatch("([^\n]*)(\n?)") do
        if text ~= "" or nl ~= "" then
          if at_start then out[#out + 1] = prefix end
          out[#out + 1] = text .. nl
          at_start = nl ~= ""
        end
      end
    end
    io.stdout:write(table.concat(out))
  end
end

-- The globals a script sees in the run for one profile: require "smartlead" gives a module whose
-- client() is for that profile (and journals into its run), print and io.write label their
-- lines, os.exit ends this run only; everything else is the process's.
local function profile_env(name, r)
  local sl = require "smartlead"
  local proxy = setmetatable({ profile = name }, { __index = sl })
  function proxy.client(opts)
    if opts ~= nil and type(opts) ~= "table" then return sl.client(opts) end
    local o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    if o.profile == nil then o.profile = name end
    local c = sl.client(o)
    if r.session then c:set_session(r.session) end
    return c
  end
  local write = prefixed_writer("[" .. name .. "] ")
  local env = setmetatable({}, { __index = _G })
  local stdout = setmetatable({}, { __index = function(_, k)
    if k == "write" then return function(self, ...) write(...) return self end end
    local f = io.stdout[k]
    if type(f) ~= "function" then return f end
    return function(_, ...) return f(io.stdout, ...) end
  end })
  env._G, env.smartlead = env, nil
  env.require = function(mod)
    if mod == "smartlead" then return proxy end
    return require(mod)
  end
  env.print = function(...)
    local parts = table.pack(...)
    for k = 1, parts.n do parts[k] = tostring(parts[k]) end
    write(table.concat(parts, "\t", 1, parts.n), "\n")
  end
  env.io = setmetatable({ stdout = stdout, write = function(...) write(...) return stdout end }, { __index = io })
  env.os = setmetatable({ exit = function(code) error(setmetatable({ code = code }, Exit), 0) end }, { __index = os })
  return env
end

-- smartlua --profile a,b s.lua (or --all-profiles): the script once per profile, all at once,
-- each in its own globals and run (plan, journal). -> exit code
function M.run_profiles(argv, parsed, interactive, stdin_script)
  local o, script = parsed.opts, parsed.script
  if stdin_script then argv, script = { [0] = argv[0], "-" }, 1 end
  local profiles = require "smartlead.cli.profiles"
  if interactive then
    print_error("--profile with several profiles runs a script or a command once per profile; the REPL takes one "
      .. "(try --help)")
    return 2
  end
  if not M.apply_settings(o) then return 1 end
  local source
  if script and argv[script] == "-" and argv[script - 1] ~= "--" then source = io.read("a") or "" end
  local run_cli = require "smartlead.run_cli"
  local codes = profiles.each(o.profiles, function(name)
    labels[coroutine.running()] = name .. ": "
    local r, code = run_cli.begin { plan = o.plan or false, yes = o.yes or false, no_journal = o.no_journal or false,
      tty = core.isatty(0) and core.isatty(2), max_changes = o.max_changes, script = script and argv[script],
      command = parsed.command, profile = name, label = name .. ": ", prefix = "[" .. name .. "] " }
    if not r then return code end
    local env = profile_env(name, r)
    local ok, good = pcall(function()
      return run_chunks(o.chunks or {}, env) and (not script or run_script(argv, script, env, source))
    end)
    if ok then return r:finish(good and true or false) end
    if getmetatable(good) ~= Exit then
      r:finish(false)
      error(good, 0)
    end
    local exit = good.code -- os.exit(code): the script's code, once the run has ended
    local rc = r:finish(exit == nil or exit == true or exit == 0)
    if exit == nil then return rc end
    if type(exit) == "boolean" then return exit and 0 or 1 end
    return math.tointeger(exit) or 1
  end)
  require("smartlead.cli.context").err_line(profiles.summary(o.profiles, codes))
  return profiles.worst(codes)
end

return M
