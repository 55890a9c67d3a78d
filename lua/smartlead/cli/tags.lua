-- `smartlua tags list|create|add|remove`: account tags. No endpoint lists every tag, so `list`
-- shows the tags seen on the fleet's accounts (with how many carry each); add and remove tag
-- accounts in requests of at most 25 through the run layer (planned, journaled, undone).
local json = require "smartlead.json"
local context = require "smartlead.cli.context"
local account_ids = require "smartlead.cli.ids"
local convert = require "smartlead.convert"
local options = require "smartlead.cli.options"

local EXIT, usage = context.EXIT, context.usage
local opt, scope = options.opt, options.scope
local to_id = convert.TYPES.id

---------------------------------------------------------------------------- list

local function list(ctx)
  local tags, order = {}, {}
  for a in ctx:client():accounts() do
    for _, t in ipairs(type(a.tags) == "table" and a.tags or {}) do
      if type(t) == "table" and t.id then
        if not tags[t.id] then
          tags[t.id], order[#order + 1] = { id = t.id, name = t.name, color = t.color, accounts = 0 }, t.id
        end
        tags[t.id].accounts = tags[t.id].accounts + 1
      end
    end
  end
  table.sort(order)
  local w = ctx:writer { fields = { "id", "name", "color", "accounts" } }
  for _, id in ipairs(order) do w:add(tags[id]) end
  w:close()
  return EXIT.ok
end

---------------------------------------------------------------------------- writes

local function create(ctx)
  local fields = {}
  for _, given in ipairs(ctx.order) do
    if given.option.op == "create_tag" then fields[given.option.key] = given.value end
  end
  if not fields.name then usage("needs --name NAME") end
  return ctx:with_run_layer(function()
    local tag, err = ctx:client():create_tag(fields)
    if not tag then
      context.err_line(tostring(err))
      return EXIT.error
    end
    if context.planned(tag) then return EXIT.ok end
    local w = ctx:result_writer { "id", "name", "color" }
    w:add(tag)
    w:close()
    return EXIT.ok
  end)
end

-- add and remove: every tag onto (or off) every account of --ids.
local function mapping(op, status)
  return function(ctx)
    if not ctx.opts.ids then usage("needs --ids ID,ID,... (or --ids - for stdin)") end
    local ids = account_ids.parse(ctx.opts.ids, ctx.multi and ctx.profile or nil)
    local tag_ids = json.array {}
    for i, t in ipairs(ctx.args) do tag_ids[i] = t end
    return ctx:with_run_layer(function()
      local client = ctx:client()
      local answer, err = client[op](client, ids, tag_ids)
      if not answer then
        context.err_line(tostring(err))
        return EXIT.error
      end
      if context.planned(answer) then return EXIT.ok end
      local w = ctx:result_writer { "email_account_id", "tag_id", "status" }
      for _, id in ipairs(ids) do
        for _, t in ipairs(tag_ids) do w:add { email_account_id = id, tag_id = t, status = status } end
      end
      w:close()
      return EXIT.ok
    end)
  end
end

local TAGS = { name = "TAG_ID...", many = true, convert = to_id, what = "tag id" }
local IDS = opt({ "--ids" }, "ids", "value", "ID,ID,...|-",
  "the accounts: ids separated by commas, or - for stdin (ids, or `accounts list --fields id` output)")
local WRITE = scope("client", "output", "write")

return {
  node = {
    summary = "account tags: list those in use, create, tag and untag accounts",
    order = { "list", "create", "add", "remove" },
    subs = {
      list = { summary = "the tags seen on the fleet's accounts, with how many carry each", run = list,
        globals = scope("client", "output"),
        help = "SmartLead has no endpoint that lists every tag: a tag no account carries is not shown.\n" },
      create = { summary = "create a tag (--name, --color #RRGGBB)", run = create,
        options = options.field_options("create_tag"), globals = WRITE },
      add = { summary = "tag accounts: every TAG_ID onto every account of --ids (25 a request)",
        run = mapping("add_email_account_tags", "tagged"), args = { TAGS }, options = { IDS }, globals = WRITE },
      remove = { summary = "untag accounts (the tags themselves stay)",
        run = mapping("remove_email_account_tags", "untagged"), args = { TAGS }, options = { IDS }, globals = WRITE },
    },
  },
}
