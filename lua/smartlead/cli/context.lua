-- What a running command has: its options and arguments, the client, output, the run layer, failures.
local core = require "smartlead.core"
local parser = require "smartlead.cli.parser"

local M = {}

M.EXIT = { ok = 0, error = 1, usage = 2, refused = 3, partial = 4 }

-- A failure reported in one line with its exit code: {code=, message=}.
M.Failure = { __tostring = function(f) return f.message end }

function M.fail(code, message) error(setmetatable({ code = code, message = message }, M.Failure), 0) end

-- A usage error found while running (a bad --where, --ids from stdin): reported as the parser's are.
function M.usage(message) parser.usage(message) end

-- An error message without the "file.lua:12: " a raise puts in front.
function M.clean(msg)
  return (tostring(msg):gsub("^[^\n]-%.lua:%d+: ", ""):gsub("^%(command line%):%d+: ", ""))
end

-- "smartlua: " and the parts on stderr, any key masked.
function M.err_line(...)
  io.stderr:write("smartlua: ", core.mask(table.concat({ ... })), "\n")
  io.stderr:flush()
end

local Context = {}
Context.__index = Context

-- parsed: the parser's result for a command node.
function M.new(parsed)
  return setmetatable({ node = parsed.node, opts = parsed.opts, given = parsed.given, order = parsed.order,
    args = parsed.args }, Context)
end

-- The client, made once: settings from flags, environment, profile (smartlead.client()).
function Context:client()
  if self.client_ then return self.client_ end
  local ok, client = pcall(require("smartlead").client)
  if not ok then M.fail(M.EXIT.error, (M.clean(client):gsub("^smartlead%.client: ", ""))) end
  self.client_ = client
  return client
end

function Context:close()
  if self.client_ then self.client_:close() end
end

function Context:format()
  return self.opts.format or require("smartlead.formats").default()
end

-- An output writer on stdout in the chosen format.
function Context:writer(opts)
  return require("smartlead.formats").writer(self:format(), io.stdout, opts)
end

-- A writer made on the first record, so a planned run (whose plan the run layer prints) and a
-- failed one print no empty result.
function Context:result_writer(fields)
  local w
  return {
    add = function(_, record)
      w = w or self:writer { fields = fields }
      w:add(record)
    end,
    close = function() if w then w:close() end end,
  }
end

-- True for the synthetic answer of a planned write: the run layer prints the plan instead.
function M.planned(answer) return type(answer) == "table" and answer.planned == true end

local function run_options(ctx)
  local o = ctx.opts
  return {
    plan = o.plan or false, yes = o.yes or false, no_journal = o.no_journal or false,
    tty = core.isatty(0) and core.isatty(2), plan_out = o.plan_out, journal = o.journal, resume = o.resume,
    max_changes = o.max_changes, repl = false,
    script = "smartlua " .. ctx.node.path,
  }
end

-- Runs fn() -> exit code between the run layer's run_begin and run_end, as a script runs:
-- planned with --plan, planned first and applied after with --max-changes or on a terminal,
-- journaled otherwise.
function Context:with_run_layer(fn)
  local run_cli = require "smartlead.run_cli"
  local begun = run_cli.run_begin(run_options(self))
  if begun ~= true then return begun end
  local ok, code = pcall(fn)
  if not ok then
    run_cli.run_end(false)
    error(code, 0)
  end
  local rc = run_cli.run_end(code ~= M.EXIT.error)
  if code == M.EXIT.error then return rc ~= 0 and rc or M.EXIT.error end
  if rc ~= M.EXIT.ok then return rc end
  return code
end

return M
