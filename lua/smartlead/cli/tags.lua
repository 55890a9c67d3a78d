-- `smartlua tags list|create|add|remove`: account tags. No endpoint lists every tag, so `list`
-- shows the tags seen on the fleet's accounts (with how many carry each); add and remove tag
-- accounts in requests of at most 25 through the run layer (planned, journaled, undone).
local json = require "smartlead.json"
local context = require "smartlead.cli.context"
local convert = require "smartlead.convert"
local options = require "smartlead.cli.options"

local EXIT, usage = context.EXIT, context.usage
local opt, scope = options.opt, options.scope
local to_id = convert.TYPES.id

-- Account ids of --ids: separated by commas or white space, JSON or NDJSON objects with an id,
-- or - for stdin (the output of `accounts list --fields id` in any format).
local function parse_ids(text)
  if text == "-" then text = io.stdin:read("a") or "" end
  local ids, seen = json.array {}, {}
  local function add(word)
    local id, must = to_id(tostring(word))
    if not id then usage(("--ids entry must be %s, got '%s'"):format(must, tostring(word))) end
    if not seen[id] then ids[#ids + 1], seen[id] = id, true end
  end
  local trimmed = text:match("^%s*(.-)%s*$")
  if trimmed:sub(1, 1) == "[" or trimmed:sub(1, 1) == "{" then
    local docs = trimmed:sub(1, 1) == "[" and { trimmed } or {}
    if #docs == 0 then for line in trimmed:gmatch("[^\n]+") do docs[#docs + 1] = line end end
    for _, doc in ipairs(docs) do
      local ok, v = pcall(json.decode, doc)
      if not ok or type(v) ~= "table" then usage("--ids: not JSON") end
      for _, x in ipairs(v.id and { v } or v) do add(type(x) == "table" and x.id or x) end
    end
  else
    for word in text:gmatch("[^,%s]+") do
      if word ~= "id" then add(word) end
    end
  end
  if #ids == 0 then usage("--ids needs at least one account id, e.g. --ids 3001,3002 (or --ids - for stdin)") end
  return ids
end

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
    local ids = parse_ids(ctx.opts.ids)
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
