-- `smartlua campaigns list`: every campaign (get_campaigns), newest first, with its status.
local context = require "smartlead.cli.context"
local options = require "smartlead.cli.options"
local listing = require "smartlead.cli.listing"

local opt, scope = options.opt, options.scope

local DEFAULT_FIELDS = { "id", "status", "name", "client_id", "created_at" }

local function list(ctx)
  local query = {}
  for _, given in ipairs(ctx.order) do
    if given.option.op == "get_campaigns" then query[given.option.key] = given.value end
  end
  local campaigns, err = ctx:client():get_campaigns(query)
  if not campaigns then error(err, 0) end
  local fields = ctx.opts.fields and {} or nil
  for name in (ctx.opts.fields or ""):gmatch("[^,%s]+") do fields[#fields + 1] = name end
  local fmt = ctx:format()
  if not fields and (fmt == "table" or fmt == "csv") then fields = DEFAULT_FIELDS end
  local statuses
  for s in (ctx.opts.status or ""):gmatch("[^,%s]+") do
    statuses = statuses or {}
    statuses[s:upper()] = true
  end
  local w = ctx:writer { fields = fields, get = listing.value }
  for _, c in ipairs(campaigns) do
    if not statuses or statuses[c.status] then w:add(c) end
  end
  w:close()
  return context.EXIT.ok
end

return {
  summary = "every campaign, newest first: id, status (ACTIVE, PAUSED, STOPPED, ARCHIVED, DRAFTED), name",
  run = list,
  options = options.join(options.field_options("get_campaigns"), {
    opt({ "--status" }, "status", "value", "S,S,...", "only campaigns of these statuses (e.g. ACTIVE,PAUSED)"),
    listing.FIELDS_OPTION,
  }),
  globals = scope("client", "output"),
  help = "--fields picks any field by name or dotted path (scheduler_cron_value.tz, max_leads_per_day).\n",
}
