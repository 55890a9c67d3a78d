-- `smartlua fixtures [--anonymize] [--output FILE]`: the fleet the client sees, as mock fixtures
-- (smartlead.fixtures), so that `smartlua --mock=FILE script.lua --plan` rehearses a script on a
-- copy of it, offline. Reads only. Passwords are always replaced by fakes; --anonymize replaces
-- addresses, names, hosts, signatures, tag names and warmup keys too, consistently.
local core = require "smartlead.core"
local context = require "smartlead.cli.context"
local options = require "smartlead.cli.options"

local opt = options.opt

-- A new file, 0600 from its creation (it holds the fleet's addresses unless anonymized).
local function write_file(path, text)
  local f, err = core.os.open_private(path, "wb")
  if not f then context.fail(context.EXIT.error, ("fixtures: %s: %s"):format(path, tostring(err))) end
  local ok, werr = f:write(text)
  local closed, cerr = f:close()
  if not ok or not closed then
    context.fail(context.EXIT.error, ("fixtures: %s: %s"):format(path, tostring(werr or cerr)))
  end
end

local function run(ctx)
  local fixtures = require "smartlead.fixtures"
  local got, err = fixtures.capture(ctx:client(), { anonymize = ctx.opts.anonymize or false })
  if not got then error(err, 0) end
  local text = fixtures.encode(got)
  if ctx.opts.output then
    write_file(ctx.opts.output, text)
    io.stderr:write(("smartlua: %d accounts, %d campaigns written to %s%s\n"):format(#got.accounts, #got.campaigns,
      ctx.opts.output, ctx.opts.anonymize and " (anonymized)" or ""))
  else
    io.stdout:write(text)
  end
  return context.EXIT.ok
end

return {
  node = {
    summary = "save the fleet as mock fixtures (smartlua --mock=FILE rehearses scripts on it)", run = run,
    options = {
      opt({ "--anonymize" }, "anonymize", "flag", nil,
        "replace addresses, names, hosts, signatures and tags (the same value by the same fake everywhere)"),
      opt({ "--output", "-o" }, "output", "value", "FILE", "write to FILE (a new file, mode 0600) instead of stdout"),
    },
    globals = options.scope("client"),
    help = [[
Reads every account (with its campaigns) and, when the API offers it, the campaigns' names and
status; writes them as the JSON fixtures the mock reads. Ids, limits, counts, reputations,
connection states and campaign links are kept; passwords are always fake; every account is given
to the mock's user, so its key sees them all. Then, offline:
  smartlua fixtures --anonymize > fleet.json
  smartlua --mock=fleet.json --plan my_policy.lua
and in a busted spec: require("smartlead.testing").mock { fixtures = "fleet.json" }.
]],
  },
}
