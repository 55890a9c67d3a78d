-- What the smartlua host does beyond running chunks: --mock, `smartlua mock`, the REPL.
local core = require "smartlead.core"

local M = {}

-- smartlua --mock[=FILE]: an in-process mock becomes the default target of smartlead.client().
function M.start_mock(seed_file)
  local sl = require "smartlead"
  local ok, server = pcall(require("smartlead.mock.server").start, { seed_file = seed_file })
  if not ok then -- a bad seed file is the user's mistake, not a crash: one line, no traceback
    io.stderr:write("smartlua: --mock: ", (tostring(server):gsub("^[^\n]-:%d+: ", "")), "\n")
    return false
  end
  sl.defaults.base_url = server:url()
  sl.defaults.api_key = server.api_key
  sl.defaults.rate = false
  sl.mock = server -- scripts may read sl.mock:log(); also keeps the server alive
  return true
end

local function usage_error(msg)
  io.stderr:write("smartlua mock: ", msg, "\nusage: smartlua mock [--port N] [--seed FILE.json] [--extra-accounts N] [--knobs FILE.json]\n")
  return 2 -- the exit code of every usage error
end

-- smartlua mock [--port N] [--seed FILE] [--extra-accounts N] [--knobs FILE.json]: serve until
-- SIGINT or SIGTERM. --knobs is a JSON object of start options and knobs (latency_ms, rate_limit,
-- faults, log_limit, extra_accounts, ...); --extra-accounts overrides the file's extra_accounts.
function M.mock_command()
  local port, seed, extra, knobs_file = 0, nil, nil, nil
  local i = 1
  while arg[i] do
    local a = arg[i]
    if a == "--extra-accounts" then
      extra = math.tointeger(tonumber(arg[i + 1] or ""))
      if not extra or extra < 0 or extra > 10000000 then
        return usage_error("--extra-accounts needs a number 0..10000000")
      end
      i = i + 2
    elseif a == "--knobs" then
      knobs_file = arg[i + 1]
      if not knobs_file then return usage_error("--knobs needs a JSON file") end
      i = i + 2
    elseif a == "--port" then
      port = math.tointeger(tonumber(arg[i + 1] or ""))
      if not port or port < 0 or port > 65535 then return usage_error("--port needs a number 0..65535") end
      i = i + 2
    elseif a == "--seed" then
      seed = arg[i + 1]
      if not seed then return usage_error("--seed needs a file") end
      i = i + 2
    else
      return usage_error("unknown argument " .. a)
    end
  end
  local opts = {}
  if knobs_file then
    local f, ferr = io.open(knobs_file, "rb")
    if not f then return usage_error("--knobs: " .. ferr) end
    local text = f:read("a")
    f:close()
    local json = require "smartlead.json"
    local ok, knobs = pcall(json.decode, text)
    if not ok or type(knobs) ~= "table" or json.is_array(knobs) then
      return usage_error(("--knobs %s: not a JSON object"):format(knobs_file))
    end
    for k, v in pairs(knobs) do
      if k == "port" or k == "seed_file" or k == "api_key" then
        return usage_error(("--knobs %s: '%s' is not a knob (use the option or the environment)"):format(knobs_file, k))
      end
      opts[k] = v
    end
  end
  if extra then opts.extra_accounts = extra end
  core.block_signals() -- before the server's threads exist, so they inherit the mask
  local env_key = os.getenv("SMARTLEAD_API_KEY")
  opts.port, opts.seed_file, opts.api_key = port, seed, env_key or "mock-api-key-0123456789"
  local started, server = pcall(require("smartlead.mock.server").start, opts)
  if not started then -- a bad seed or knob is the user's mistake: one line, no traceback
    local line = tostring(server):match("^[^\n]*"):gsub("[^%s:]+%.lua:%d+: ", "")
    io.stderr:write("smartlua mock: ", line, "\n")
    return false
  end
  io.stdout:write(("mock SmartLead API on %s\n"):format(server:url()))
  io.stdout:write(env_key and "key: the value of SMARTLEAD_API_KEY\n" or "key: mock-api-key-0123456789\n")
  io.stdout:write("admin: GET /__mock/log, GET /__mock/state, POST /__mock/config, POST /__mock/clock, POST /__mock/reset\n")
  io.stdout:flush()
  local sig = core.wait_for_signal()
  io.stdout:write(("stopping on %s\n"):format(sig))
  server:stop()
  return true
end

-- The REPL (lua/smartlead/repl.lua); stdin that is not a terminal runs as a script.
function M.repl(tty) return require("smartlead.repl").run(tty) end

-- smartlua accounts|campaigns|api|config ...: arg[0] is the subcommand.
function M.cli_command() return require("smartlead.cli").main(arg) end

-- --profile NAME and -v.. for a script or the REPL, before anything runs.
function M.apply_settings(s)
  if s.profile then require("smartlead").defaults.profile = s.profile end
  if s.trace and s.trace > 0 then
    if not core.set_trace then error("tracing is not available in this build", 0) end
    core.set_trace(s.trace)
  end
  return true
end

-- The run layer (lua/smartlead/run_cli.lua): a script runs between run_begin(opts) and
-- run_end(ok) under --plan, --resume, --max-changes or the default journal; apply and undo are
-- subcommands. Each returns true or an exit code.
function M.run_begin(opts) return require("smartlead.run_cli").run_begin(opts) end
function M.run_end(ok) return require("smartlead.run_cli").run_end(ok) end
function M.apply_command(opts) return require("smartlead.run_cli").apply_command(opts) end
function M.undo_command(opts) return require("smartlead.run_cli").undo_command(opts) end

return M
