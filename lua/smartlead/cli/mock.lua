-- `smartlua mock [--port N] [--seed F] [--extra-accounts N] [--knobs F.json]`: serve the mock API.
local core = require "smartlead.core"
local convert = require "smartlead.convert"
local context = require "smartlead.cli.context"
local options = require "smartlead.cli.options"

local usage, opt = context.usage, options.opt

-- --knobs FILE.json: a JSON object of start options and knobs (latency_ms, rate_limit, faults,
-- log_limit, extra_accounts, ...), never the port, the seed or the key.
local function read_knobs(path)
  local f, ferr = io.open(path, "rb")
  if not f then usage("--knobs: " .. ferr) end
  local text = f:read("a")
  f:close()
  local json = require "smartlead.json"
  local ok, knobs = pcall(json.decode, text)
  if not ok or type(knobs) ~= "table" or json.is_array(knobs) then
    usage(("--knobs %s: not a JSON object"):format(path))
  end
  for k in pairs(knobs) do
    if k == "port" or k == "seed_file" or k == "api_key" then
      usage(("--knobs %s: '%s' is not a knob (use the option or the environment)"):format(path, k))
    end
  end
  return knobs
end

-- Serves until SIGINT or SIGTERM.
local function serve(ctx)
  local o = ctx.opts
  local opts = o.knobs and read_knobs(o.knobs) or {}
  if o.extra_accounts then opts.extra_accounts = o.extra_accounts end
  core.block_signals() -- before the server's threads exist, so they inherit the mask
  local env_key = os.getenv("SMARTLEAD_API_KEY")
  opts.port, opts.seed_file, opts.api_key = o.port or 0, o.seed, env_key or "mock-api-key-0123456789"
  local started, server = pcall(require("smartlead.mock.server").start, opts)
  if not started then -- a bad seed or knob is the user's mistake: one line, no traceback
    context.fail(context.EXIT.error, "mock: " .. tostring(server):match("^[^\n]*"):gsub("[^%s:]+%.lua:%d+: ", ""))
  end
  io.stdout:write(("mock SmartLead API on %s\n"):format(server:url()))
  io.stdout:write(env_key and "key: the value of SMARTLEAD_API_KEY\n" or "key: mock-api-key-0123456789\n")
  io.stdout:write("admin: GET /__mock/log, GET /__mock/state, POST /__mock/config, POST /__mock/clock, "
    .. "POST /__mock/reset\n")
  io.stdout:flush()
  local sig = core.wait_for_signal()
  io.stdout:write(("stopping on %s\n"):format(sig))
  server:stop()
  return context.EXIT.ok
end

return {
  node = {
    summary = "run the mock SmartLead API on 127.0.0.1 until interrupted", run = serve, single_profile = true,
    options = {
      opt({ "--port" }, "port", "value", "N", "the port (default: any free one)",
        { convert = convert.whole_number(0, 65535) }),
      opt({ "--seed" }, "seed", "value", "FILE.json", "the accounts and campaigns (default: the bundled fixtures)"),
      opt({ "--extra-accounts" }, "extra_accounts", "value", "N", "N more generated accounts, for fleet-scale runs",
        { convert = convert.whole_number(0, 10000000) }),
      opt({ "--knobs" }, "knobs", "value", "FILE.json", "start options and knobs (latency_ms, faults, ...)"),
    },
    globals = {},
    help = [[
The key is SMARTLEAD_API_KEY when set, else mock-api-key-0123456789. Admin endpoints (no key):
GET /__mock/log, POST /__mock/log/clear, GET /__mock/state, POST /__mock/reset, GET|POST /__mock/config.
]],
  },
}
