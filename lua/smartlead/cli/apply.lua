-- `smartlua apply PLAN.json` and `smartlua undo JOURNAL | --last`: the run layer's own commands.
local core = require "smartlead.core"
local context = require "smartlead.cli.context"
local options = require "smartlead.cli.options"

-- The options table the run layer (smartlead.run_cli) reads, with the file where the script goes.
local function run_options(ctx, file)
  local o = ctx.opts
  return { journal = o.journal, resume = o.resume, max_changes = o.max_changes, yes = o.yes or false,
    tty = core.isatty(0) and core.isatty(2), script = file, command = ctx.command, profile = o.profile,
    client = function() return ctx:client() end }
end

local function apply(ctx) return require("smartlead.run_cli").apply_command(run_options(ctx, ctx.args[1])) end

local function undo(ctx)
  local file = ctx.args[1]
  if ctx.opts.last and file then context.usage("JOURNAL and --last both name the journal; give one") end
  if not ctx.opts.last and not file then context.usage("needs a JOURNAL, or --last for the newest run") end
  local journals = require "smartlead.cli.journal"
  if ctx.opts.last then
    local s = journals.last()
    ctx:err(("undo --last: %s (%s, %s)"):format(s.path, tostring(s.time), tostring(s.command)))
    file = s.path
  else
    file = journals.find(file)
  end
  return require("smartlead.run_cli").undo_command(run_options(ctx, file))
end

return {
  apply = {
    summary = "apply a saved plan as reviewed, skipping accounts changed since",
    run = apply, args = { { name = "PLAN.json", complete = "files" } }, single_profile = true,
    globals = options.scope("client", "journal", "resume", "max_changes", "yes"),
    help = [[
The plan is applied only to the workspace it was made for (its profile and base URL; a plan made
against --mock only to --mock): another is refused with exit 3.
]],
  },
  undo = {
    summary = "undo a journal's writes, newest first (--last: the newest run not yet undone)",
    run = undo, args = { { name = "JOURNAL", optional = true, complete = "journals" } }, single_profile = true,
    options = { options.opt({ "--last" }, "last", "flag", nil,
      "the newest journal with writes that is not an undo and not undone yet") },
    globals = options.scope("client", "journal", "yes"),
    help = [[
JOURNAL is a path or a name from `smartlua journal list`. A journal is undone only in the
workspace it was written for; another is refused with exit 3.
]],
  },
}
