-- smartlead.mock.state: the fleet (accounts, campaigns, memberships, tags, mailbox statistics),
-- seeding, and accounts as answered.
local json = require "smartlead.json"
local util = require "smartlead.mock.util"
local prng = require "smartlead.mock.prng"

local NULL = json.null
local is_null, or_null, deep_copy, iso = util.is_null, util.or_null, util.deep_copy, util.iso

local M = { methods = {} }
local S = M.methods -- methods of the mock server

M.DEFAULT_USER = 1001
local LINK_ID_BASE = 46000
local TAG_ID_BASE = 600 -- tags created through the API get ids from here on

---------------------------------------------------------------------------- account records

local WARMUP_FIELDS = { "status", "total_sent_count", "total_spam_count", "warmup_reputation",
  "warmup_key_id", "warmup_created_at", "reply_rate", "blocked_reason", "warmup_min_count",
  "warmup_max_count", "max_email_per_day" }

-- Fields copied as stored into every account answer (passwords and derived ones are added apart).
local PLAIN_FIELDS = { "id", "created_at", "updated_at", "user_id", "from_name", "from_email",
  "username", "smtp_host", "smtp_port", "smtp_port_type", "message_per_day", "daily_sent_count",
  "different_reply_to_address", "is_different_imap_account", "imap_username", "imap_host",
  "imap_port", "imap_port_type", "signature", "custom_tracking_domain", "bcc_email",
  "is_smtp_success", "is_imap_success", "smtp_failure_error", "imap_failure_error", "type",
  "client_id", "expires_at", "minTimeToWaitInMins" }

-- Defaults for a fresh account; also fills holes in hand-written seeds.
function M.account_defaults(id, user_id, stamp)
  return {
    id = id, created_at = stamp, updated_at = stamp, user_id = user_id,
    from_name = "", from_email = "", username = "", password = NULL,
    smtp_host = "", smtp_port = 587, smtp_port_type = "TLS", message_per_day = 50,
    daily_sent_count = 0, different_reply_to_address = "", is_different_imap_account = false,
    imap_username = "", imap_password = NULL, imap_host = "", imap_port = 993,
    imap_port_type = "SSL", signature = NULL, custom_tracking_domain = NULL, bcc_email = NULL,
    is_smtp_success = true, is_imap_success = true, smtp_failure_error = NULL,
    imap_failure_error = NULL, type = "SMTP", client_id = NULL, expires_at = NULL,
    minTimeToWaitInMins = 3, is_suspended = false, tags = json.array({}), warmup_details = NULL,
  }
end

local function normalize_account(rec)
  local acc = deep_copy(rec)
  acc.campaign_ids, acc.campaign_count, acc.is_connected_to_campaign = nil, nil, nil
  for k, v in pairs(M.account_defaults(acc.id, acc.user_id or M.DEFAULT_USER, acc.created_at or iso(0))) do
    if acc[k] == nil then acc[k] = v end
  end
  acc.tags = json.array(acc.tags ~= NULL and acc.tags or {})
  return acc
end

-- isWarmupBlocked rule: warmup_details.is_warmup_blocked, the flag the docs say to trust (a live
-- export shows it true with status INACTIVE and no reason); a hand-written seed without the flag
-- falls back to blocked_reason.
function M.is_warmup_blocked(acc)
  local w = acc.warmup_details
  if is_null(w) then return false end
  if w.is_warmup_blocked ~= nil then return w.is_warmup_blocked == true end
  return not is_null(w.blocked_reason)
end

-- emailWarmupStatus: ACTIVE only when warmup_details.status says so; null details are INACTIVE.
function M.warmup_status(acc)
  local w = acc.warmup_details
  if not is_null(w) and w.status == "ACTIVE" then return "ACTIVE" end
  return "INACTIVE"
end

local function present_warmup(w)
  if is_null(w) then return NULL end
  local out = {}
  for _, k in ipairs(WARMUP_FIELDS) do out[k] = or_null(w[k]) end
  return out
end

-- The single read's fuller warmup_details: id, created_at (not warmup_created_at), the
-- is_warmup_blocked flag, and the reputation as a number (the list says "99%").
local function present_warmup_full(acc, w)
  if is_null(w) then return NULL end
  local out = present_warmup(w)
  out.id = w.id or (acc.id * 3 + 70000)
  out.created_at, out.warmup_created_at = out.warmup_created_at, nil
  out.is_warmup_blocked = M.is_warmup_blocked(acc)
  out.warmup_reputation = tonumber(tostring(w.warmup_reputation):match("%d+")) or out.warmup_reputation
  for _, k in ipairs({ "auto_adjust_warmup", "is_rampup_enabled" }) do
    if w[k] ~= nil then out[k] = w[k] end
  end
  return out
end

-- An account's tags as answered, from the registry (a renamed tag shows its new name everywhere).
function S:present_tags(acc)
  local out = json.array({})
  for _, id in ipairs(acc.tag_ids) do
    local t = self.tags[id]
    if t then out[#out + 1] = { id = t.id, name = t.name, color = t.color } end
  end
  return out
end

local function encoded_secret(v)
  if type(v) == "string" then return util.base64(v) end
  return NULL
end

---------------------------------------------------------------------------- the fleet

function S:iso_now() return iso(self:time()) end

function S:campaign_set(account_id)
  local set = self.memberships[account_id]
  if not set then
    set = {}
    self.memberships[account_id] = set
  end
  return set
end

function S:add_account(acc)
  if acc.tags then self:load_account_tags(acc) end
  acc.tag_ids = acc.tag_ids or {}
  self.accounts[acc.id] = acc
  local ids = self.account_ids
  ids[#ids + 1] = acc.id
  if #ids > 1 and ids[#ids - 1] > acc.id then table.sort(ids) end
  if acc.id >= self.next_account_id then self.next_account_id = acc.id + 1 end
  self.emails[acc.from_email:lower()] = acc.id
end

function S:link(campaign_id, account_id, stamp)
  local links = self.links[campaign_id]
  local link = links[account_id]
  if link then
    link.updated_at = stamp
    return link, false
  end
  self.next_link_id = self.next_link_id + 1
  link = { id = self.next_link_id, email_campaign_id = campaign_id, email_account_id = account_id, updated_at = stamp }
  links[account_id] = link
  self:campaign_set(account_id)[campaign_id] = true
  return link, true
end

function S:unlink(campaign_id, account_id)
  local links = self.links[campaign_id]
  if not links[account_id] then return false end
  links[account_id] = nil
  self:campaign_set(account_id)[campaign_id] = nil
  return true
end

-- A deleted account is nobody's: 404 on every read and write, gone from lists and campaigns.
function S:own_account(user_id, id)
  local acc = self.accounts[id]
  if acc and acc.user_id == user_id and not acc.deleted then return acc end
end

function S:own_tag(user_id, id)
  local t = self.tags[id]
  if t and t.user_id == user_id then return t end
end

-- Tag registry entry for a tag seen on an account (a seed may hold tags only there).
function S:register_tag(t, user_id)
  if not self.tags[t.id] then
    self.tags[t.id] = { id = t.id, name = t.name, color = t.color, user_id = t.user_id or user_id }
  end
  if t.id >= self.next_tag_id then self.next_tag_id = t.id + 1 end
end

-- Account tags are kept as ids, in the order they were given.
function S:load_account_tags(acc)
  local ids = {}
  for _, t in ipairs(acc.tags) do
    self:register_tag(t, acc.user_id)
    ids[#ids + 1] = t.id
  end
  acc.tag_ids, acc.tags = ids, nil
end

function S:own_campaign(user_id, id)
  local c = self.campaigns[id]
  if c and c.user_id == user_id then return c end
end

---------------------------------------------------------------------------- seeding

function S:load_campaign(rec)
  local c = deep_copy(rec)
  local member_ids = c.email_account_ids
  c.email_account_ids = nil
  self.campaigns[c.id] = c
  self.links[c.id] = {}
  for _, aid in ipairs(is_null(member_ids) and {} or member_ids) do
    if self.accounts[aid] then self:link(c.id, aid, is_null(c.created_at) and iso(0) or c.created_at) end
  end
end

-- Synthesized accounts for benchmarks: same shape as the fixture, cheap to build.
function S:synth_account(id, rng)
  local types = { "GMAIL", "OUTLOOK", "SMTP", "SMTP", "ZOHO" }
  local acc = M.account_defaults(id, self.user_id, iso(1704067200 + id * 60))
  acc.type = types[id % #types + 1]
  acc.from_name = "Bench " .. id
  acc.from_email = string.format("bench%d@bulk%d.example.com", id, id % 50)
  acc.username, acc.imap_username = acc.from_email, acc.from_email
  acc.password = string.format("FAKEPW-%d-bench", id)
  acc.imap_password = acc.password
  acc.smtp_host, acc.imap_host = "mail.bulk.example.com", "mail.bulk.example.com"
  acc.message_per_day = 5 * rng.int(4, 20)
  acc.daily_sent_count = rng.int(0, acc.message_per_day)
  local rep = rng.int(60, 100)
  acc.warmup_details = { status = "ACTIVE", total_sent_count = 500, total_spam_count = 5 * (100 - rep),
    warmup_reputation = rep .. "%", warmup_key_id = util.two_words(id), warmup_created_at = acc.created_at,
    reply_rate = 30, blocked_reason = NULL, warmup_min_count = 2, warmup_max_count = 20, max_email_per_day = 20 }
  return acc
end

-- The seed, then extra_accounts synthesized ones, then the campaigns and their members.
-- The seed's mailbox statistics: stats[campaign][account] = {sent_count=, ...}.
function S:load_statistics()
  self.stats = {}
  for _, r in ipairs(self.seed.mailbox_statistics or {}) do
    local per = self.stats[r.email_campaign_id] or {}
    self.stats[r.email_campaign_id] = per
    per[r.email_account_id] = { sent_count = r.sent_count, open_count = r.open_count, click_count = r.click_count,
      reply_count = r.reply_count, bounce_count = r.bounce_count }
  end
end

function S:load_state()
  self.accounts, self.account_ids, self.emails = {}, {}, {}
  self.campaigns, self.links, self.memberships = {}, {}, {}
  self.tags, self.lead_senders = {}, {}
  self.next_account_id, self.next_link_id, self.next_tag_id = 1, LINK_ID_BASE, TAG_ID_BASE
  for _, t in ipairs(self.seed.tags or {}) do self:register_tag(t) end
  for _, rec in ipairs(self.seed.accounts or {}) do self:add_account(normalize_account(rec)) end
  local rng = prng.new(4242)
  for _ = 1, self.extra_accounts do self:add_account(self:synth_account(self.next_account_id, rng)) end
  for _, rec in ipairs(self.seed.campaigns or {}) do self:load_campaign(rec) end
  self:load_statistics()
end

---------------------------------------------------------------------------- views

-- An account as the API answers it (passwords base64, derived campaign fields, warmup subset).
-- opts: campaign_ids, tags (false: left out), single (the single read: is_suspended, a plain
-- password, the fuller warmup_details).
function S:present_account(acc, opts)
  opts = opts or {}
  local out = {}
  for _, k in ipairs(PLAIN_FIELDS) do out[k] = or_null(acc[k]) end
  out.password = encoded_secret(acc.password)
  out.imap_password = encoded_secret(acc.imap_password)
  local cset = self:campaign_set(acc.id)
  local count = util.count_keys(cset)
  out.campaign_count = count
  out.is_connected_to_campaign = count > 0
  if opts.tags ~= false then out.tags = self:present_tags(acc) end
  out.warmup_details = present_warmup(acc.warmup_details)
  if opts.campaign_ids then out.campaign_ids = util.sorted_keys(cset) end
  if opts.single then
    out.is_suspended = acc.is_suspended == true
    out.password, out.imap_password = or_null(acc.password), or_null(acc.imap_password)
    out.warmup_details = present_warmup_full(acc, acc.warmup_details)
  end
  return out
end

-- Everything as stored, for GET /__mock/state (clear passwords: the seed's shape).
function S:state_view()
  local accounts, campaigns = json.array({}), json.array({})
  for _, id in ipairs(self.account_ids) do
    local acc = deep_copy(self.accounts[id])
    acc.campaign_ids = util.sorted_keys(self:campaign_set(id))
    acc.tags, acc.tag_ids = self:present_tags(self.accounts[id]), nil
    accounts[#accounts + 1] = acc
  end
  for _, cid in ipairs(util.sorted_keys(self.campaigns)) do
    local c = deep_copy(self.campaigns[cid])
    c.email_account_ids = util.sorted_keys(self.links[cid])
    campaigns[#campaigns + 1] = c
  end
  local tags = json.array({})
  for _, id in ipairs(util.sorted_keys(self.tags)) do tags[#tags + 1] = deep_copy(self.tags[id]) end
  local leads = json.array({})
  for _, cid in ipairs(util.sorted_keys(self.lead_senders)) do
    for _, lid in ipairs(util.sorted_keys(self.lead_senders[cid])) do
      leads[#leads + 1] = { email_campaign_id = cid, email_lead_id = lid,
        email_account_id = self.lead_senders[cid][lid] }
    end
  end
  return { accounts = accounts, campaigns = campaigns, tags = tags, lead_senders = leads }
end

return M
