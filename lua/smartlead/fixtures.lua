-- smartlead.fixtures: a live fleet as mock fixtures (the seed file `smartlua --mock=FILE` reads),
-- and the anonymizer that makes such a file safe to keep and share.
--
--   fixtures.capture(client, {anonymize = true}) -> {accounts=, campaigns=} | nil, err
--   fixtures.anonymize(fixtures)                 -> a copy, every identifying string replaced
--   fixtures.load(path)                          -> fixtures (raises naming the file)
--
-- A capture only reads: every account with its campaigns (one listing, `fetch_campaigns`), and
-- the campaigns' names and status when the client has `get_campaigns`. Secrets never leave the
-- API's answer: every password becomes a fake one, anonymized or not. Every account and campaign
-- is given to the mock's own user, so the mock's key sees the whole fleet.
local json = require "smartlead.json"

local M = {}

local NULL = json.null
M.MOCK_USER = 1001 -- the user the mock's key belongs to (mock/state.lua DEFAULT_USER)

-- Answer-only fields the mock derives from its links; a seed does not hold them.
local DERIVED = { campaign_ids = true, campaign_count = true, is_connected_to_campaign = true }

local function copy(v)
  if type(v) ~= "table" or v == NULL then return v end
  local out = json.is_array(v) and json.array({}) or {}
  for k, x in pairs(v) do out[k] = copy(x) end
  return out
end

-- An account as the seed stores it: no derived fields, fake passwords, the mock's user.
local function stored_account(a)
  local acc = {}
  for k, v in pairs(a) do
    if not DERIVED[k] then acc[k] = copy(v) end
  end
  acc.user_id = M.MOCK_USER
  acc.password = ("FAKEPW-%d"):format(a.id)
  acc.imap_password = acc.imap_password ~= nil and acc.imap_password ~= NULL and acc.password or NULL
  return acc
end

local function by_id(x, y) return x.id < y.id end

-- The client's get_campaigns, when the registry has one: {id -> {name=, status=, created_at=}}.
local function campaign_details(client)
  local ok, method = pcall(function() return client.get_campaigns end)
  if not ok or type(method) ~= "function" then return {} end
  local list = method(client)
  local out = {}
  if type(list) == "table" then
    for _, c in ipairs(list) do
      if type(c) == "table" and math.type(c.id) == "integer" then out[c.id] = c end
    end
  end
  return out
end

-- fixtures.capture(client, {anonymize=}) -> fixtures | nil, err
function M.capture(client, opts)
  if opts ~= nil and type(opts) ~= "table" then error("fixtures.capture: opts must be a table", 2) end
  opts = opts or {}
  local list, err = client:all_accounts { fetch_campaigns = true }
  if not list then return nil, err end
  table.sort(list, by_id)
  local accounts, members = json.array({}), {}
  for _, a in ipairs(list) do
    accounts[#accounts + 1] = stored_account(a)
    for _, cid in ipairs(type(a.campaign_ids) == "table" and a.campaign_ids or {}) do
      members[cid] = members[cid] or json.array({})
      table.insert(members[cid], a.id)
    end
  end
  local details = campaign_details(client)
  for cid in pairs(details) do members[cid] = members[cid] or json.array({}) end
  local campaigns = json.array({})
  for cid, ids in pairs(members) do
    local d = details[cid] or {}
    table.sort(ids)
    campaigns[#campaigns + 1] = { id = cid, user_id = M.MOCK_USER, email_account_ids = ids,
      name = type(d.name) == "string" and d.name or ("Campaign " .. cid),
      -- unknown status: ACTIVE, the side policies take when they cannot tell
      status = type(d.status) == "string" and d.status or "ACTIVE",
      created_at = type(d.created_at) == "string" and d.created_at or NULL }
  end
  table.sort(campaigns, by_id)
  local fixtures = { accounts = accounts, campaigns = campaigns }
  if opts.anonymize then fixtures = M.anonymize(fixtures) end
  return fixtures
end

---------------------------------------------------------------------------- anonymizing

-- Providers' own hosts say nothing about the user; every other host is replaced.
local PUBLIC_HOSTS = {
  ["smtp.gmail.com"] = true, ["imap.gmail.com"] = true, ["smtp.office365.com"] = true,
  ["outlook.office365.com"] = true, ["smtp-mail.outlook.com"] = true, ["imap-mail.outlook.com"] = true,
  ["smtp.zoho.com"] = true, ["imap.zoho.com"] = true, ["smtp.mail.yahoo.com"] = true, ["imap.mail.yahoo.com"] = true,
}

-- A consistent mapping: the same value always gets the same fake, numbered by first appearance.
local function mapper(make)
  local seen, n = {}, 0
  return function(v)
    local key = v:lower()
    if not seen[key] then
      n = n + 1
      seen[key] = make(n, v)
    end
    return seen[key]
  end
end

local function new_anonymizer()
  local an = {}
  an.domain = mapper(function(n) return ("domain%d.example"):format(n) end)
  an.address = mapper(function(n, v)
    local domain = v:match("@([^@]+)$")
    return ("user%d@%s"):format(n, domain and an.domain(domain) or "domain0.example")
  end)
  an.name = mapper(function(n) return ("Sender %d"):format(n) end)
  an.word = mapper(function(n) return ("word%d"):format(n) end)
  an.tag = mapper(function(n) return ("tag %d"):format(n) end)
  an.signature = mapper(function(n) return ("Signature %d"):format(n) end)
  function an.host(h)
    if PUBLIC_HOSTS[h:lower()] then return h end
    local first, rest = h:match("^([^.]+)%.(.+%..+)$")
    if first then return first:lower() .. "." .. an.domain(rest) end
    return an.domain(h)
  end
  -- Free text (failure messages): addresses and known domains replaced, the rest kept.
  function an.text(s)
    s = s:gsub("[%w%.%%+%-_]+@[%w%.%-]+%.%a+", function(addr) return an.address(addr) end)
    return s
  end
  return an
end

local function str(v) return type(v) == "string" and v ~= "" end

-- Which fields hold what, and how each is replaced; in this order, so fakes are numbered the
-- same way on every run.
local ACCOUNT_RULES = {
  { "from_email", "address" }, { "username", "login" }, { "imap_username", "login" },
  { "different_reply_to_address", "address" }, { "bcc_email", "address" }, { "from_name", "name" },
  { "smtp_host", "host" }, { "imap_host", "host" }, { "custom_tracking_domain", "host" },
  { "signature", "signature" }, { "smtp_failure_error", "text" }, { "imap_failure_error", "text" },
}

local function anonymize_account(a, an)
  for _, rule in ipairs(ACCOUNT_RULES) do
    local field, how = rule[1], rule[2]
    local v = a[field]
    if str(v) then
      if how == "login" then a[field] = v:find("@") and an.address(v) or an.word(v)
      else a[field] = an[how](v) end
    end
  end
  if type(a.tags) == "table" then
    for _, t in ipairs(a.tags) do
      if type(t) == "table" and str(t.name) then t.name = an.tag(t.name) end
    end
  end
  local w = a.warmup_details
  if type(w) == "table" and w ~= NULL then
    if str(w.warmup_key_id) then w.warmup_key_id = an.word(w.warmup_key_id) end
    if str(w.blocked_reason) then w.blocked_reason = an.text(w.blocked_reason) end
  end
  a.password = ("FAKEPW-%s"):format(tostring(a.id))
  if a.imap_password ~= nil and a.imap_password ~= NULL then a.imap_password = a.password end
end

-- fixtures.anonymize(fixtures) -> copy: addresses, names, hosts, signatures, tag names, warmup
-- keys and secrets replaced (the same value by the same fake everywhere); ids, counts, limits,
-- reputations, types, statuses, dates and campaign links kept.
function M.anonymize(fixtures)
  if type(fixtures) ~= "table" or type(fixtures.accounts) ~= "table" then
    error("fixtures.anonymize: fixtures must be a table {accounts=, campaigns=}", 2)
  end
  local out, an = copy(fixtures), new_anonymizer()
  local accounts = out.accounts
  table.sort(accounts, function(x, y) return (x.id or 0) < (y.id or 0) end)
  for _, a in ipairs(accounts) do
    if str(a.from_email) then an.address(a.from_email) end -- numbered in account order
  end
  for _, a in ipairs(accounts) do anonymize_account(a, an) end
  for _, c in ipairs(out.campaigns or {}) do
    if c.name ~= nil then c.name = ("Campaign %s"):format(tostring(c.id)) end
  end
  return out
end

---------------------------------------------------------------------------- files

-- fixtures.load(path) -> fixtures; raises "fixtures FILE: why" when it is not a fixtures file.
function M.load(path)
  local f, err = io.open(path, "rb")
  if not f then error("fixtures: " .. err, 2) end
  local text = f:read("a")
  f:close()
  local value, derr = json.decode(text)
  if value == nil then error(("fixtures %s: %s"):format(path, derr), 2) end
  if type(value) ~= "table" or json.is_array(value) or type(value.accounts) ~= "table" then
    error(("fixtures %s: not a fixtures file (a JSON object with accounts and campaigns)"):format(path), 2)
  end
  value.campaigns = value.campaigns or json.array({})
  return value
end

-- fixtures.encode(fixtures) -> JSON text, one account or campaign per line, keys sorted.
function M.encode(fixtures)
  local lines = { "{\"accounts\": [" }
  for i, a in ipairs(fixtures.accounts) do
    lines[#lines + 1] = json.encode(a) .. (i < #fixtures.accounts and "," or "")
  end
  lines[#lines + 1] = "], \"campaigns\": ["
  for i, c in ipairs(fixtures.campaigns or {}) do
    lines[#lines + 1] = json.encode(c) .. (i < #fixtures.campaigns and "," or "")
  end
  lines[#lines + 1] = "]}"
  return table.concat(lines, "\n") .. "\n"
end

return M
