-- Paging through GET /email-accounts/ (offset/limit, bare arrays, no total): an iterator over
-- every account, deduplicated by id, stopping at the first short page. Following pages are
-- fetched ahead while the script works on this one: the first FIRST_PAGES at once, then twice
-- as many each time the script moves on to the next page, up to the client's concurrency. A
-- fleet under 100 accounts, or a script that stops in the first page, costs FIRST_PAGES
-- requests (sent before the key's first answer, so they fit any documented budget); a full scan
-- keeps the pipe full from the start, wasting at most a few requests past the fleet's end.
local tasks = require "smartlead.tasks"
local core = require "smartlead.core"

local M = {}

local PAGE = 100 -- the API's maximum
M.FIRST_PAGES = 4 -- requested at once: 5,000 accounts at 50 ms in 7 round trips at concurrency 8, not 8
M.MAX_PAGES = 100000 -- 10 million accounts: a server still answering full pages past this never ends

local function pager_error(code, message) return core.new_error { kind = "shape", code = code, message = message } end

-- A full page that brought no account not seen before: the server ignores offset (it answers
-- the same page again), so the pager would never end.
local function repeated(offset)
  return pager_error("PAGE_REPEATED", ("get_email_accounts: the page at offset %d holds only accounts already "
    .. "listed; the server seems to ignore offset, so paging stops here"):format(offset))
end

local function copy_filters(filters)
  if filters ~= nil and type(filters) ~= "table" then error("accounts(): filters must be a table", 3) end
  local q = {}
  for k, v in pairs(filters or {}) do
    if k == "offset" or k == "limit" then
      error("accounts(): paging is automatic; do not pass " .. k, 3)
    end
    q[k] = v
  end
  return q
end

local function new_pager(client, query)
  return {
    client = client, query = query, pages = {}, fetches = {},
    next_offset = 0,   -- first offset not yet requested
    end_offset = nil,  -- offset of the first short page, once seen
    window = math.min(M.FIRST_PAGES, client:options().concurrency), -- pages allowed in flight
    max_window = client:options().concurrency,
  }
end

local function fetch(p, offset)
  local q = {}
  for k, v in pairs(p.query) do q[k] = v end
  q.offset, q.limit = offset, PAGE
  p.fetches[offset] = tasks.spawn(function()
    local got, err = p.client:get_email_accounts(q)
    p.pages[offset] = { got = got, err = err }
    if got and #got < PAGE and (not p.end_offset or offset < p.end_offset) then p.end_offset = offset end
  end)
end

-- Keeps `window` pages requested ahead of the one being read, never past a known end.
local function top_up(p, reading)
  while p.next_offset < reading + p.window * PAGE and (not p.end_offset or p.next_offset <= p.end_offset) do
    fetch(p, p.next_offset)
    p.next_offset = p.next_offset + PAGE
  end
end

local function page_at(p, offset)
  if offset > 0 then p.window = math.min(p.window * 2, p.max_window) end -- the script wants more: look further
  top_up(p, offset)
  if not p.pages[offset] then tasks.wait({ p.fetches[offset] }) end
  local page = p.pages[offset]
  p.pages[offset], p.fetches[offset] = nil, nil -- keep memory flat on big fleets
  top_up(p, offset + PAGE)
  return page
end

-- client:accounts(filters) -> iterator of accounts; a failing page raises its error.
local function accounts(client, filters)
  local p = new_pager(client, copy_filters(filters))
  local offset, page, i, seen, finished, fresh = 0, nil, 0, {}, false, 0
  return function()
    while not finished do
      if page then
        i = i + 1
        local a = page[i]
        if a == nil then
          finished = #page < PAGE
          if not finished and fresh == 0 then error(repeated(offset), 2) end
          page, offset = nil, offset + PAGE
        elseif not seen[a.id] then
          seen[a.id], fresh = true, fresh + 1
          return a
        end
      else
        if offset >= M.MAX_PAGES * PAGE then
          error(pager_error("TOO_MANY_PAGES", ("get_email_accounts: still full pages after %d accounts; "
            .. "paging stops here"):format(offset)), 2)
        end
        local got = page_at(p, offset)
        if not got.got then error(got.err, 2) end
        page, i, fresh = got.got, 0, 0
      end
    end
    return nil
  end
end

-- client:all_accounts(filters) -> array | nil, err
local function all_accounts(client, filters)
  local list = {}
  local ok, err = pcall(function()
    for a in accounts(client, filters) do list[#list + 1] = a end
  end)
  if not ok then return nil, err end
  return list
end

local STATS_PAGE = 20 -- GET /campaigns/{id}/mailbox-statistics takes limit 1..20

-- client:mailbox_statistics(campaign_id, query) -> array of every mailbox's row | nil, err
-- Pages of get_mailbox_statistics (offset, limit 20) until a short one; query: start_date,
-- end_date, time_zone, client_id. Deduplicated by email_account_id.
local function mailbox_statistics(client, campaign_id, query)
  if query ~= nil and type(query) ~= "table" then error("mailbox_statistics(): query must be a table", 2) end
  local rows, seen, offset = {}, {}, 0
  while true do
    local q = {}
    for k, v in pairs(query or {}) do
      if k == "offset" or k == "limit" then error("mailbox_statistics(): paging is automatic; do not pass " .. k, 2) end
      q[k] = v
    end
    q.offset, q.limit = offset, STATS_PAGE
    local page, err = client:get_mailbox_statistics(campaign_id, q)
    if not page then return nil, err end
    local fresh = 0
    for _, r in ipairs(page) do
      local key = r.email_account_id or (#rows + 1)
      if not seen[key] then seen[key], fresh, rows[#rows + 1] = true, fresh + 1, r end
    end
    if #page < STATS_PAGE then return rows end
    if fresh == 0 then
      return nil, pager_error("PAGE_REPEATED", ("get_mailbox_statistics: the page at offset %d holds only mailboxes "
        .. "already listed; the server seems to ignore offset, so paging stops here"):format(offset))
    end
    offset = offset + STATS_PAGE
    if offset >= M.MAX_PAGES * STATS_PAGE then
      return nil, pager_error("TOO_MANY_PAGES", "get_mailbox_statistics: too many pages")
    end
  end
end

-- client:campaigns_with_accounts(query, {statuses = {ACTIVE = true, ...}}) -> array | nil, err
-- get_campaigns (query: client_id), each campaign with account_ids, the ids of its accounts
-- (get_campaign_email_accounts): what policy.rotate and policy.pause take. statuses keeps only
-- campaigns of those statuses (and reads only their accounts).
local function campaigns_with_accounts(client, query, opts)
  if opts ~= nil and type(opts) ~= "table" then error("campaigns_with_accounts(): opts must be a table", 2) end
  local list, err = client:get_campaigns(query)
  if not list then return nil, err end
  local out = {}
  for _, c in ipairs(list) do
    if not (opts and opts.statuses) or opts.statuses[c.status] then
      local members, merr = client:get_campaign_email_accounts(c.id)
      if not members then return nil, merr end
      c.account_ids = {}
      for i, a in ipairs(members) do c.account_ids[i] = a.id end
      out[#out + 1] = c
    end
  end
  table.sort(out, function(x, y) return x.id < y.id end)
  return out
end

function M.install(methods)
  methods.campaigns_with_accounts = campaigns_with_accounts
  methods.accounts = accounts
  methods.all_accounts = all_accounts
  methods.mailbox_statistics = mailbox_statistics
  methods.each = tasks.each
end

return M
