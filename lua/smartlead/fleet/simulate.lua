-- smartlead.fleet.simulate: simulated days for the mock server, so history, trend signals, the diff
-- and the report can be tested over a month in seconds.
--
--   local sim = simulate.new(server, {seed = 7, start = "2026-11-01"})
--   for _ = 1, 30 do
--     sim:advance()                                     -- the mock now shows the next day
--     smartlead.snapshot(client, {db = path, day = sim:day()})
--   end
--
-- server: a mock server of smartlead.mock.server.start (spec/support.lua's server). The mock has
-- no admin route that writes account fields (reputation, counts, connection state), so each day
-- the simulation reads GET /__mock/state, moves it on, and restarts the mock on the same port
-- seeded with the new state (the same key and knobs; server.handle is replaced, so the server
-- object, its URL and clients made from it keep working; server:reset() now returns to that day).
--
-- Every account follows a seeded, plausible path (the same seed gives the same month):
--   reputation   warmed accounts (warmup ACTIVE, not blocked, connected) keep their starting
--                reputation within +-1 point (a daily wobble); others keep theirs
--   warmup       total_sent_count grows by warmup_max_count a day while warming, total_spam_count
--                by that volume times (100 - reputation)%
--   sending      daily_sent_count: accounts in a campaign, connected and not suspended send 40% to
--                85% of their limit; all others send nothing
-- and a few fixture accounts follow a scenario that should raise one signal each (SCENARIOS below;
-- README's "Fleet memory" lists them). Day numbers count advances: day 1 is the first.
local core = require "smartlead.core"
local json = require "smartlead.json"
local account = require "smartlead.account"
local days = require "smartlead.fleet.days"

local M = {}

local NULL = json.null
local function is_null(v) return v == nil or v == NULL end

-- Which fixture account shows what, and why it was chosen.
M.SCENARIOS = {
  reputation_fall = 3001, -- GMAIL, 99%, in campaigns 4101 and 4106: -2 points a day from day 20, -6 on day 30
  slow_decline = 3027,    -- GMAIL, 99%, in 4101: -0.25 a day all month: a drop over 30 days, not over 7
  spam_rising = 3021,     -- SMTP, 97%, in 4101: spam placements grow by one a day from day 16, reputation flat
  burnout = { 3006, 3030 }, -- limits of 95 in 4101: send 95-100% of the limit every day from day 21
  disconnect = 3014,      -- SMTP, connected, in 4101: SMTP fails from day 22 (disconnected while attached)
  reconnect = 3055,       -- SMTP failing (ENOTFOUND) in 4103 and 4106: connected again from day 26
  warmup_ready = 3088,    -- GMAIL, no warmup, no campaign: warmup from day 8 at 82%, +2 a day up to 99%
  warmup_young = 3097,    -- OUTLOOK, no warmup, no campaign: warmup from day 24 at 96%: good but too young
  limit_change = 3007,    -- day 30: message_per_day 60 -> 30
  campaign_move = 3043,   -- day 30: from campaign 4103 to 4106
  deleted = 3124,         -- day 30: the account is gone
  new_account = "new.inbox@leadforge.co", -- day 30: a new account appears
}

local Sim = {}
Sim.__index = Sim

-- A float in [0, 1) from (seed, id, day, salt): the same inputs give the same draw, whatever order
-- accounts are visited in.
local function draw(seed, id, day, salt)
  local z = seed * 0x9E3779B97F4A7C15 + id * 0xBF58476D1CE4E5B9 + day * 0x94D049BB133111EB + salt
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  z = z ~ (z >> 31)
  return (z >> 11) * (1.0 / 9007199254740992.0)
end

local function round(x) return math.floor(x + 0.5) end

-- simulate.new(server, {seed=1, start="YYYY-MM-DD" | day number, scenarios=true}) -> sim
function M.new(server, opts)
  opts = opts or {}
  local start = assert(days.parse(opts.start or days.today() - 30))
  local self = setmetatable({ server = server, seed = opts.seed or 1, start = start, n = 0,
    scenarios = opts.scenarios ~= false, base = {} }, Sim)
  local state = server:state()
  for _, a in ipairs(state.accounts) do self.base[a.id] = account.reputation(a) end
  self.state = state
  return self
end

-- sim:day() -> the simulated day (a day number; days.iso gives YYYY-MM-DD)
function Sim:day() return self.start + self.n - 1 end

local function members(state)
  local by_account = {}
  for _, c in ipairs(state.campaigns) do
    for _, id in ipairs(c.email_account_ids) do
      by_account[id] = by_account[id] or {}
      by_account[id][c.id] = c
    end
  end
  return by_account
end

local function set_rep(w, rep)
  w.warmup_reputation = ("%d%%"):format(math.max(0, math.min(100, round(rep))))
end

-- Reputation today for an account on the plain path: its start value, wobbling by one point.
function Sim:plain_reputation(id, d)
  local base = self.base[id]
  if not base then return nil end
  local wobble = math.floor(draw(self.seed, id, d, 1) * 3) - 1
  return math.max(0, math.min(100, base + wobble))
end

-- The scenario's reputation for account id on day d, or nil when it follows the plain path.
function Sim:scenario_reputation(id, d)
  local S = M.SCENARIOS
  if id == S.reputation_fall and d >= 20 then
    return self.base[id] - 2 * (d - 19) - (d >= 30 and 4 or 0)
  elseif id == S.slow_decline then
    return self.base[id] - 0.25 * d
  elseif id == S.warmup_ready and d >= 8 then
    return math.min(99, 82 + 2 * (d - 8))
  elseif id == S.warmup_young and d >= 24 then
    return 96
  end
end

local function new_warmup(id, rep, max)
  return { status = "ACTIVE", total_sent_count = 0, total_spam_count = 0, warmup_reputation = rep .. "%",
    warmup_key_id = "sim-" .. id, warmup_created_at = NULL, reply_rate = 30, blocked_reason = NULL,
    warmup_min_count = 1, warmup_max_count = max, max_email_per_day = max }
end

-- Scenario events that change an account's shape on day d (warmup starts, connection changes).
local function events(a, d)
  local S = M.SCENARIOS
  if a.id == S.warmup_ready and d == 8 then a.warmup_details = new_warmup(a.id, 82, 20) end
  if a.id == S.warmup_young and d == 24 then a.warmup_details = new_warmup(a.id, 96, 20) end
  if a.id == S.disconnect and d == 22 then
    a.is_smtp_success = false
    a.smtp_failure_error = "Connection timed out (ETIMEDOUT) while connecting to " .. a.smtp_host
  end
  if a.id == S.reconnect and d == 26 then a.is_smtp_success, a.smtp_failure_error = true, NULL end
  if a.id == S.limit_change and d == 30 then a.message_per_day = 30 end
end

function Sim:warmup_day(a, d, connected)
  local w = a.warmup_details
  if is_null(w) then return end
  local rep = self.scenarios and self:scenario_reputation(a.id, d)
  local warming = w.status == "ACTIVE" and is_null(w.blocked_reason) and connected
  if rep == nil and warming then rep = self:plain_reputation(a.id, d) end
  if rep then set_rep(w, rep) end
  if not warming then return end
  local volume = math.tointeger(w.warmup_max_count) or 20
  local spam = round(volume * (100 - (account.reputation(a) or 100)) / 100)
  if self.scenarios and a.id == M.SCENARIOS.spam_rising and d >= 16 then spam = spam + (d - 15) end
  w.total_sent_count = (math.tointeger(w.total_sent_count) or 0) + volume
  w.total_spam_count = (math.tointeger(w.total_spam_count) or 0) + spam
end

function Sim:sending_day(a, d, in_campaign, connected)
  local limit = math.tointeger(a.message_per_day) or 0
  local sends = in_campaign and connected and not a.is_suspended
  local share = 0.40 + 0.45 * draw(self.seed, a.id, d, 2)
  local burn = self.scenarios and d >= 21 and (a.id == M.SCENARIOS.burnout[1] or a.id == M.SCENARIOS.burnout[2])
  if burn then share = 0.95 + 0.05 * draw(self.seed, a.id, d, 3) end
  a.daily_sent_count = sends and math.min(limit, round(limit * share)) or 0
end

-- Day-30 changes of membership and the account list.
function Sim:fleet_events(state, d)
  if not self.scenarios or d ~= 30 then return end
  local S = M.SCENARIOS
  for _, c in ipairs(state.campaigns) do
    local ids = {}
    for _, id in ipairs(c.email_account_ids) do
      if not (id == S.campaign_move and c.id == 4103) and id ~= S.deleted then ids[#ids + 1] = id end
    end
    if c.id == 4106 then ids[#ids + 1] = S.campaign_move end
    table.sort(ids)
    c.email_account_ids = json.array(ids)
  end
  local kept, max_id, template = json.array({}), 0, nil
  for _, a in ipairs(state.accounts) do
    max_id = math.max(max_id, a.id)
    if a.id ~= S.deleted then kept[#kept + 1] = a end
    if a.id == S.deleted then template = a end
  end
  if template then
    local n = {}
    for k, v in pairs(template) do n[k] = v end
    n.id, n.from_email, n.username, n.imap_username = max_id + 1, S.new_account, S.new_account, S.new_account
    n.from_name, n.tags, n.campaign_ids, n.warmup_details = "New Inbox", json.array({}), nil, NULL
    n.daily_sent_count, n.is_smtp_success, n.is_imap_success = 0, true, true
    kept[#kept + 1] = n
  end
  state.accounts = kept
end

-- Moves the state on by one day (no server involved; sim:advance() also reseeds the mock).
function Sim:step()
  self.n = self.n + 1
  local d, state = self.n, self.state
  if self.scenarios then
    for _, a in ipairs(state.accounts) do events(a, d) end
  end
  self:fleet_events(state, d)
  local by_account = members(state)
  for _, a in ipairs(state.accounts) do
    local connected = a.is_smtp_success == true and a.is_imap_success == true
    self:warmup_day(a, d, connected)
    self:sending_day(a, d, by_account[a.id] ~= nil, connected)
  end
  return state
end

-- The knobs to carry over a restart (those set; nulls are defaults).
local function knobs(server)
  local out = {}
  for k, v in pairs(server:admin("GET", "config") or {}) do
    if v ~= NULL then out[k] = v end
  end
  return out
end

-- Restarts the mock on its port, seeded with state.
function Sim:reseed(state)
  local server = self.server
  local port, carried = server:port(), knobs(server)
  for _, a in ipairs(state.accounts) do a.campaign_ids = nil end
  local seed = json.encode(state)
  server.handle:stop()
  local options = { api_key = server.api_key }
  for k, v in pairs(carried) do options[k] = v end
  local handle, tries = nil, 0
  repeat -- the port is ours a moment later; retry briefly should the kernel still hold it
    local ok, h = pcall(core.mock_start, { port = port, seed = seed, options = json.encode(options) })
    if ok then handle = h else tries = tries + 1 end
  until handle or tries > 50
  if not handle then error("simulate: cannot restart the mock on port " .. port, 2) end
  server.handle = handle
end

-- sim:advance() -> day number: the next day, and the mock shows it
function Sim:advance()
  self.state = self.server:state() -- writes made through the API since yesterday count
  self:step()
  self:reseed(self.state)
  return self:day()
end

return M
