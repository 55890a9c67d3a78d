-- smartlead.mock.statistics: GET /campaigns/{id}/mailbox-statistics, per campaign and mailbox
-- (sent, opens, clicks, replies, bounces) from the seed's mailbox_statistics.
local json = require "smartlead.json"
local util = require "smartlead.mock.util"
local answers = require "smartlead.mock.answers"

local reply = answers.reply

local M = { methods = {} }
local S = M.methods -- methods of the mock server

local COUNTS = { "sent_count", "open_count", "click_count", "reply_count", "bounce_count" }
local DAY = 86400

local function day_number(date)
  local y, m, d = date:match("^(%d+)-(%d+)-(%d+)$")
  return os.time { year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = 12 } // DAY
end

-- The share of a campaign's totals that a date range holds: the seed keeps totals, so a range
-- gets them in proportion to the days it shares with the campaign's life (a guess: the docs say
-- only that both dates filter, and one alone is ignored).
function S:range_share(campaign, q)
  if not (q.start_date and q.end_date) then return 1 end
  local first = day_number(campaign.created_at:sub(1, 10))
  local last = math.max(first, math.floor(self:time()) // DAY)
  local from, to = math.max(first, day_number(q.start_date)), math.min(last, day_number(q.end_date))
  if to < from then return 0 end
  return (to - from + 1) / (last - first + 1)
end

-- Counts seen live as strings: odd account ids answer them so, even ones as numbers.
local function present_row(acc, counts, share)
  local out = { email_account_id = acc.id, from_email = acc.from_email, from_name = acc.from_name }
  for _, k in ipairs(COUNTS) do
    local n = math.floor((counts[k] or 0) * share)
    out[k] = acc.id % 2 == 1 and tostring(n) or n
  end
  return out
end

function S:mailbox_statistics(ctx)
  local campaign = self:own_campaign(ctx.user_id, ctx.id)
  if not campaign then return answers.campaign_not_found() end
  local q = ctx.query
  if q.client_id and campaign.client_id ~= q.client_id then return answers.campaign_not_found() end
  local per, share = self.stats[campaign.id] or {}, self:range_share(campaign, q)
  local rows = json.array({})
  for _, aid in ipairs(util.sorted_keys(per)) do
    local acc = self.accounts[aid]
    if acc and not acc.deleted then rows[#rows + 1] = present_row(acc, per[aid], share) end
  end
  local offset, limit = q.offset or 0, q.limit or 20
  local page = table.move(rows, offset + 1, math.min(#rows, offset + limit), 1, {})
  return reply(200, { ok = true, data = json.array(page) })
end

return M
