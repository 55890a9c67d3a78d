-- `smartlua apply PLAN.json` and `smartlua undo JOURNAL`: the run layer's own commands.
local core = require "smartlead.core"
local options = require "smartlead.cli.options"

-- The options table the run layer (smartlead.run_cli) reads, with the file where the script goes.
local function run_options(ctx)
  local o = ctx.opts
  return { journal = o.journal, resume = o.resume, max_changes = o.max_changes, yes = o.yes or false,
    tty = core.isatty(0) and core.isatty(2), script = ctx.args[1] }
end

local function apply(ctx) return require("smartlead.run_cli").apply_command(run_options(ctx)) end
local function undo(ctx) return require("smartlead.run_cli").undo_command(run_options(ctx)) end

return {
  apply = {
    summary = "apply a saved plan as reviewed, skipping accounts changed since",
    run = apply, args = { { name = "PLAN.json" } },
    globals = options.scope("client", "journal", "resume", "max_changes", "yes"),
  },
  undo = {
    summary = "undo a journal's writes, newest first",
    run = undo, args = { { name = "JOURNAL" } },
    globals = options.scope("client", "journal", "yes"),
  },
}
