-- `smartlua campaigns attach|detach|accounts CAMPAIGN_ID`: which accounts send for a campaign.
local json = require "smartlead.json"
local convert = require "smartlead.convert"
local context = require "smartlead.cli.context"
local options = require "smartlead.cli.options"
local listing = require "smartlead.cli.listing"

local EXIT, usage = context.EXIT, context.usage
local opt, scope = options.opt, options.scope
local to_id = convert.TYPES.id

-- The id words of --ids text: JSON ([3001, ...] or [{"id": 3001}, ...]), NDJSON objects, or
-- ids separated by commas and white space (an "id" header line is skipped), so the output of
-- `accounts list --fields id` in any format pipes into `--ids -`.
local function id_words(text)
  local words = {}
  local function add(v) words[#words + 1] = tostring(type(v) == "table" and v.id or v) end
  local trimmed = text:match("^%s*(.-)%s*$")
  if trimmed:sub(1, 1) == "[" then
    local ok, list = pcall(json.decode, trimmed)
    if not ok or type(list) ~= "table" then usage("--ids: not a JSON array") end
    for _, v in ipairs(list) do add(v) end
  elseif trimmed:sub(1, 1) == "{" then
    for line in trimmed:gmatch("[^\n]+") do
      local ok, v = pcall(json.decode, line)
      if not ok or type(v) ~= "table" then usage("--ids: not one JSON object per line") end
      add(v)
    end
  else
    for word in text:gmatch("[^,%s]+") do
      if word ~= "id" then words[#words + 1] = word end
    end
  end
  return words
end

local function parse_ids(text)
  if text == "-" then text = io.stdin:read("a") or "" end
  local ids, seen = json.array {}, {}
  for _, word in ipairs(id_words(text)) do
    local id, must = to_id(word)
    if not id then usage(("--ids entry must be %s, got '%s'"):format(must, word)) end
    if not seen[id] then ids[#ids + 1], seen[id] = id, true end
  end
  if #ids == 0 then usage("--ids needs at least one account id, e.g. --ids 3001,3002 (or --ids - for stdin)") end
  return ids
end

-- attach and detach: one relation write for the whole list.
local function relation(op, status)
  return function(ctx)
    local cid = ctx.args[1]
    if not ctx.opts.ids then usage("needs --ids ID,ID,... (or --ids - for stdin)") end
    local ids = parse_ids(ctx.opts.ids)
    return ctx:with_run_layer(function()
      local client = ctx:client()
      local answer, err = client[op](client, cid, ids)
      if not answer then
        context.err_line(tostring(err))
        return EXIT.error
      end
      if context.planned(answer) then return EXIT.ok end
      local w = ctx:result_writer { "campaign_id", "email_account_id", "status" }
      for _, id in ipairs(ids) do w:add { campaign_id = cid, email_account_id = id, status = status } end
      w:close()
      return EXIT.ok
    end)
  end
end

local function accounts(ctx)
  local cid = ctx.args[1]
  return listing.write(ctx, function()
    local list, err = ctx:client():get_campaign_email_accounts(cid)
    if not list then error(err, 0) end
    local i = 0
    return function()
      i = i + 1
      return list[i]
    end
  end)
end

local CAMPAIGN = { name = "CAMPAIGN_ID", convert = to_id, what = "campaign id" }
local IDS = opt({ "--ids" }, "ids", "value", "ID,ID,...|-",
  "the accounts: ids separated by commas, or - for stdin (ids, or `accounts list --fields id` output)")

local NODE = {
  node = {
    summary = "list campaigns, attach and detach accounts, list a campaign's accounts",
    order = { "attach", "detach", "accounts" },
    subs = {
      attach = { summary = "attach accounts to a campaign", run = relation("add_campaign_email_accounts", "attached"),
        args = { CAMPAIGN }, options = { IDS }, globals = scope("client", "output", "write") },
      detach = { summary = "detach accounts from a campaign",
        run = relation("remove_campaign_email_accounts", "detached"),
        args = { CAMPAIGN }, options = { IDS }, globals = scope("client", "output", "write") },
      accounts = { summary = "the accounts attached to a campaign", run = accounts, args = { CAMPAIGN },
        options = listing.OPTIONS, globals = scope("client", "output"),
        help = listing.WHERE_HELP .. "\n" .. listing.FIELDS_HELP },
    },
  },
}

-- campaigns list (cli/campaigns_list.lua)
table.insert(NODE.node.order, 1, "list")
NODE.node.subs.list = require "smartlead.cli.campaigns_list"

return NODE
