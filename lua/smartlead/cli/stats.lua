-- `smartlua stats mailboxes CAMPAIGN`: a campaign's per-mailbox statistics (every page of
-- get_mailbox_statistics) with bounce, reply and open rates and the health the bounce rate
-- gives (sick above SmartLead's 5% disconnection threshold).
local context = require "smartlead.cli.context"
local convert = require "smartlead.convert"
local options = require "smartlead.cli.options"
local listing = require "smartlead.cli.listing"

local opt, scope = options.opt, options.scope

local FIELDS = { "email_account_id", "from_email", "sent_count", "open_count", "click_count", "reply_count",
  "bounce_count", "bounce_rate", "reply_rate", "health" }

local function rate(part, whole)
  if type(part) ~= "number" or type(whole) ~= "number" or whole <= 0 then return nil end
  return math.floor(1000 * part / whole + 0.5) / 10
end

local function mailboxes(ctx)
  local query = {}
  for _, given in ipairs(ctx.order) do
    if given.option.op == "get_mailbox_statistics" then query[given.option.key] = given.value end
  end
  local rows, err = ctx:client():mailbox_statistics(ctx.args[1], query)
  if not rows then error(err, 0) end
  local policy = require "smartlead.policy"
  local params = { warn_bounce_rate = ctx.opts.warn_bounce_rate }
  local w = ctx:writer { fields = ctx.opts.fields and nil or (ctx:format() ~= "json" and ctx:format() ~= "ndjson")
    and FIELDS or nil, get = listing.value }
  for _, r in ipairs(rows) do
    r.bounce_rate, r.reply_rate, r.open_rate = rate(r.bounce_count, r.sent_count), rate(r.reply_count, r.sent_count),
      rate(r.open_count, r.sent_count)
    params.stats = r
    r.health = policy.health({ id = r.email_account_id }, params).status
    w:add(r)
  end
  w:close()
  return context.EXIT.ok
end

local CAMPAIGN = { name = "CAMPAIGN_ID", convert = convert.TYPES.id, what = "campaign id" }

return {
  node = {
    summary = "campaign statistics",
    order = { "mailboxes" },
    subs = {
      mailboxes = { summary = "sent, opens, clicks, replies, bounces and rates per mailbox of a campaign",
        run = mailboxes, args = { CAMPAIGN },
        options = options.join(options.field_options("get_mailbox_statistics", { offset = true, limit = true }), {
          opt({ "--warn-bounce-rate" }, "warn_bounce_rate", "value", "PCT",
            "health says warning above this bounce rate (default 3; sick above 5)",
            { convert = convert.whole_number(0, 100) }),
        }),
        globals = scope("client", "output"),
        help = "Rates are percentages of sent_count. health: sick above 5% bounces (SmartLead disconnects\n"
          .. "mailboxes there), warning above --warn-bounce-rate, judged from 20 sends on.\n" },
    },
  },
}
