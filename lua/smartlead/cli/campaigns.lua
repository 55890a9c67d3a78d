-- `smartlua campaigns attach|detach|accounts CAMPAIGN_ID`: which accounts send for a campaign.
local convert = require "smartlead.convert"
local json = require "smartlead.json"
local context = require "smartlead.cli.context"
local options = require "smartlead.cli.options"
local listing = require "smartlead.cli.listing"
local ids = require "smartlead.cli.ids"

local EXIT, usage = context.EXIT, context.usage
local opt, scope = options.opt, options.scope
local plural = require("smartlead.run_cli").plural
local to_id = convert.TYPES.id

-- The accounts to attach or detach: --ids, or every account --where keeps. -> ids (maybe empty)
local function targets(ctx, keep)
  if ctx.opts.ids then return ids.parse(ctx.opts.ids, ctx.multi and ctx.profile or nil) end
  local list = listing.collect(ctx, function() return ctx:client():accounts() end, keep)
  local out = json.array {}
  for i, a in ipairs(list) do out[i] = a.id end
  return out
end

-- Why the API would refuse to attach an account (it refuses the whole request for one): not
-- connected, suspended (only the single read shows it), not found. -> {id -> reason}, read concurrently.
local function unusable(client, list)
  local why = {}
  client:each(list, function(id)
    local a, err = client:get_email_account(id)
    if not a then
      why[id] = err and err.status == 404 and "not found" or ("not readable: " .. tostring(err))
    elseif a.is_smtp_success ~= true or a.is_imap_success ~= true then
      why[id] = "not connected (SMTP or IMAP)"
    elseif a.is_suspended == true then
      why[id] = "suspended"
    end
    return true
  end, { progress = false })
  return why
end

-- attach and detach: one relation write for every account not already where it should be;
-- attach leaves out (and reports) the accounts the API would refuse.
local function relation(op, attach)
  local done_word, already_word = attach and "attached" or "detached", attach and "already attached" or "not attached"
  return function(ctx)
    local cid = ctx.args[1]
    local o = ctx.opts
    if not o.ids and not o.where then usage("needs --ids ID,ID,... (or --ids - for stdin) or --where EXPR") end
    if o.ids and o.where then usage("--ids and --where both choose the accounts; give one") end
    local keep = o.where and listing.check(ctx)
    local wanted = o.ids and targets(ctx) or nil -- read before anything is sent: a bad --ids is exit 2
    return ctx:with_run_layer(function()
      local client = ctx:client()
      wanted = wanted or targets(ctx, keep)
      if #wanted == 0 then
        ctx:err("no account matches --where; nothing to ", attach and "attach" or "detach")
        return EXIT.ok
      end
      local members, merr = client:get_campaign_email_accounts(cid) -- also: does the campaign exist?
      if not members then
        ctx:err(tostring(merr))
        return EXIT.error
      end
      local is_member = {}
      for _, a in ipairs(members) do is_member[a.id] = true end
      local send = json.array {}
      for _, id in ipairs(wanted) do
        if (is_member[id] or false) ~= attach then send[#send + 1] = id end
      end
      local skipped, nskipped = {}, 0
      if attach and #send > 0 then
        skipped = unusable(client, send)
        local usable = json.array {}
        for _, id in ipairs(send) do
          if skipped[id] then
            nskipped = nskipped + 1
            ctx:err(("campaign %d: account %d skipped: %s"):format(cid, id, skipped[id]))
          else
            usable[#usable + 1] = id
          end
        end
        send = usable
      end
      local answer, err
      if #send > 0 then answer, err = client[op](client, cid, send) end
      if #send > 0 and not answer then
        ctx:err(tostring(err))
        return EXIT.error
      end
      if ctx:planning() then return EXIT.ok end
      local w = ctx:result_writer { "campaign_id", "email_account_id", "status" }
      local sent = {}
      for _, id in ipairs(send) do sent[id] = true end
      for _, id in ipairs(wanted) do
        local status = sent[id] and done_word or (skipped[id] and ("skipped: " .. skipped[id])) or already_word
        w:add { campaign_id = cid, email_account_id = id, status = status }
      end
      w:close()
      ctx:err(("campaign %d: %s: %d %s, %d %s%s"):format(cid, plural(#wanted, "account"), #send, done_word,
        #wanted - #send - nskipped, already_word, nskipped > 0 and (", %d skipped"):format(nskipped) or ""))
      return nskipped > 0 and EXIT.partial or EXIT.ok
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
local WHERE = opt({ "--where" }, "where", "value", "EXPR", "the accounts: every account for which EXPR is true")

local RELATION_HELP = [[
One request for every account not already where it should be; each account's outcome is printed.
attach leaves out, and reports, an account the API would refuse (not connected, suspended, not
found: it refuses the whole request for one), and then exits 4.
`--ids -` that reads no id at all (the command before it printed nothing, or failed) is a usage
error: exit 2, nothing sent.
]]

local NODE = {
  node = {
    summary = "list campaigns, attach and detach accounts, list a campaign's accounts",
    order = { "attach", "detach", "accounts" },
    subs = {
      attach = { summary = "attach accounts to a campaign", run = relation("add_campaign_email_accounts", true),
        args = { CAMPAIGN }, options = { IDS, WHERE }, globals = scope("client", "output", "write"),
        help = RELATION_HELP .. "\n" .. listing.WHERE_HELP },
      detach = { summary = "detach accounts from a campaign",
        run = relation("remove_campaign_email_accounts", false),
        args = { CAMPAIGN }, options = { IDS, WHERE }, globals = scope("client", "output", "write"),
        help = RELATION_HELP .. "\n" .. listing.WHERE_HELP },
      accounts = { summary = "the accounts attached to a campaign", run = accounts, args = { CAMPAIGN },
        options = listing.OPTIONS, globals = scope("client", "output"),
        help = listing.WHERE_HELP .. "\n" .. listing.FIELDS_HELP .. "\n" .. listing.OUTPUT_HELP },
    },
  },
}

-- campaigns list (cli/campaigns_list.lua)
table.insert(NODE.node.order, 1, "list")
NODE.node.subs.list = require "smartlead.cli.campaigns_list"

return NODE
