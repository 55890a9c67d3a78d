-- smartlead.mock: the mock SmartLead server's handler (pure Lua, stateful): new() and handle().
--
-- The HTTP side (C, libmicrohttpd) calls server:handle(req) once per request, under a lock, and
-- sends back the answer: r.status, r.headers, r.body, after sleeping r.delay_ms outside the lock;
-- r.fault = "drop" closes the connection unanswered, "truncate" sends half the body.
-- The behaviour follows docs/smartlead-api.md; where it had to guess, a comment says so.
--
-- mock.new(seed, opts): seed is the decoded spec/fixtures/seed.json ({accounts=, campaigns=},
-- clear passwords, campaign membership in campaigns[].email_account_ids). opts: api_key (user_id,
-- default 1001), other_keys = {key = user_id}, extra_accounts = N, now = clock function, plus
-- the knobs of mock/knobs.lua, which POST /__mock/config can change later. server.now() is the
-- clock (seconds, default os.time); tests replace it.
--
-- One file per concept, each adding methods to the server: state (the fleet), accounts, saves,
-- campaigns, tags and statistics (the API's handlers), routes, clock, limiter, faults, log and
-- redact, knobs, admin.

local answers = require "smartlead.mock.answers"
local faults = require "smartlead.mock.faults"
local knobs = require "smartlead.mock.knobs"
local limiter = require "smartlead.mock.limiter"
local log = require "smartlead.mock.log"
local prng = require "smartlead.mock.prng"
local state = require "smartlead.mock.state"

local M = {}
M.DEFAULT_LOG_LIMIT = log.DEFAULT_LIMIT
M.new_rng = prng.new

local Server = {}
Server.__index = Server

-- Every concept's methods on one server class; a name defined twice is a bug.
for _, name in ipairs({ "state", "accounts", "saves", "campaigns", "tags", "statistics", "routes", "clock", "limiter",
  "faults", "redact", "log", "knobs", "admin" }) do
  for k, f in pairs(require("smartlead.mock." .. name).methods) do
    assert(Server[k] == nil, "smartlead.mock: method " .. k .. " defined twice")
    Server[k] = f
  end
end

local DEFAULT_KEY = "mock-key"

-- Faults first, then the key, then the rate limit, then the API itself.
function Server:handle_api(req)
  local key = req.query.api_key
  local user_id = key and self.keys[key]
  local fault, v = self:draw_fault()
  local r
  if fault and faults.EARLY[fault] then
    r = faults.early_answer(fault, v)
  elseif not user_id then
    r = answers.reply(401, { message = "Invalid API Key" })
  else
    local allowed, headers, wait = self:rate_check(key, req.method)
    if allowed then r = self:scripted_answer(req) or self:safe_dispatch(req, user_id)
    else r = limiter.too_many(wait, self.rate.retry_after) end
    for k, h in pairs(headers) do r.headers[k] = h end
    if fault then r = self:late_fault(fault, r) end
  end
  r.delay_ms = r.delay_ms + (self.config.latency_ms or 0)
  -- a dropped connection answers nothing: logged with status 0
  self:append_log(req, user_id, (fault == "drop") and 0 or r.status, fault)
  return r
end

-- The first scripted rule (knob scripted) that matches the request answers it; nil when none.
function Server:scripted_answer(req)
  for i, rule in ipairs(self.config.scripted or {}) do
    if (not rule.method or rule.method == req.method) and req.rest:match(rule.path) then
      if rule.times then
        rule.times = rule.times - 1
        if rule.times == 0 then table.remove(self.config.scripted, i) end
      end
      local r = answers.raw_reply(rule.status, rule.content_type, rule.body)
      for k, v in pairs(rule.headers) do r.headers[k] = v end
      return r
    end
  end
end

local function normalize_request(req)
  local path = (req.path or "/"):gsub("%?.*$", "")
  return { method = (req.method or "GET"):upper(), path = path, query = req.query or {},
    body = req.body or "", headers = req.headers or {} }
end

-- server:handle(req) -> r; never raises (a bug answers 500 with the message, for debugging).
function Server:handle(raw_req)
  local req = normalize_request(raw_req)
  local ok, r = pcall(function()
    if req.path:sub(1, 8) == "/__mock/" then return self:handle_admin(req) end
    local rest = req.path:match("^/api/v1(/.*)$")
    if not rest then return answers.cannot(req.method, req.path) end
    req.rest = rest
    return self:handle_api(req)
  end)
  if ok then return r end
  return answers.server_error(r)
end

-- mock.new(seed, opts) -> server. seed: decoded seed.json; opts: keys and knobs (see knobs.lua).
function M.new(seed, opts)
  opts = opts or {}
  local self = setmetatable({}, Server)
  self.seed = seed or { accounts = {}, campaigns = {} }
  self.user_id = opts.user_id or state.DEFAULT_USER
  self.keys = { [opts.api_key or DEFAULT_KEY] = self.user_id }
  for k, uid in pairs(opts.other_keys or {}) do self.keys[k] = uid end
  self.extra_accounts = opts.extra_accounts or 0
  self.now = opts.now or os.time
  self:reset_clock()
  self.config = knobs.defaults()
  self:merge_config(opts)
  self:resolve_rate(true)
  self:reset()
  return self
end

return M
