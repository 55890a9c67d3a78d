-- smartlead.mock.routes: which handler answers which method and path, and calling it safely.
local answers = require "smartlead.mock.answers"
local schemas = require "smartlead.mock.schemas"

local M = { methods = {} }
local S = M.methods -- methods of the mock server

local NO_QUERY = schemas.NO_QUERY

-- { method, path pattern (one capture: the id), handler method, query schema, body = JSON body? }.
-- Literal paths first: "save" must not be taken for an account id (ids are digits anyway).
local ROUTES = {
  { "GET", "^/email%-accounts/?$", "list_accounts", schemas.LIST_QUERY },
  { "POST", "^/email%-accounts/save/?$", "save_account", NO_QUERY, body = true },
  { "POST", "^/email%-accounts/save%-oauth/?$", "save_oauth", NO_QUERY, body = true },
  { "GET", "^/email%-accounts/fetch%-email%-account%-details/?$", "fetch_details", schemas.DETAILS_QUERY },
  { "POST", "^/email%-accounts/reconnect%-failed%-email%-accounts/?$", "reconnect", NO_QUERY, body = true },
  { "POST", "^/email%-accounts/tag%-mapping/?$", "assign_tags", NO_QUERY, body = true },
  { "DELETE", "^/email%-accounts/tag%-mapping/?$", "remove_tags", NO_QUERY, body = true },
  { "POST", "^/email%-accounts/tag%-manager/?$", "update_tag", NO_QUERY, body = true },
  { "POST", "^/email%-accounts/tag%-list/?$", "tag_list", NO_QUERY, body = true },
  { "PUT", "^/email%-accounts/suspend/(%d+)/?$", "suspend", NO_QUERY },
  { "DELETE", "^/email%-accounts/unsuspend/(%d+)/?$", "unsuspend", NO_QUERY },
  { "GET", "^/email%-accounts/(%d+)/?$", "get_account", schemas.ONE_QUERY },
  { "POST", "^/email%-accounts/(%d+)/?$", "update_account", NO_QUERY, body = true },
  { "DELETE", "^/email%-accounts/(%d+)/?$", "delete_account", NO_QUERY },
  { "POST", "^/email%-accounts/(%d+)/warmup/?$", "set_warmup", NO_QUERY, body = true },
  { "GET", "^/email%-accounts/(%d+)/warmup%-stats/?$", "warmup_stats", NO_QUERY },
  { "POST", "^/tags/?$", "create_tag", NO_QUERY, body = true },
  { "GET", "^/campaigns/?$", "list_campaigns", schemas.CAMPAIGNS_QUERY },
  { "POST", "^/campaigns/update%-lead%-email%-account/?$", "move_lead", NO_QUERY, body = true },
  { "GET", "^/campaigns/(%d+)/?$", "get_campaign", schemas.INCLUDE_TAGS_QUERY },
  { "GET", "^/campaigns/(%d+)/mailbox%-statistics/?$", "mailbox_statistics", schemas.STATS_QUERY },
  { "GET", "^/campaigns/(%d+)/email%-accounts/?$", "campaign_accounts", schemas.INCLUDE_TAGS_QUERY },
  { "POST", "^/campaigns/(%d+)/email%-accounts/?$", "attach", NO_QUERY, body = true },
  { "DELETE", "^/campaigns/(%d+)/email%-accounts/?$", "detach", NO_QUERY, body = true },
}

local function find_route(method, rest)
  for _, route in ipairs(ROUTES) do
    if route[1] == method then
      local capture = rest:match(route[2])
      if capture then return route, math.tointeger(tonumber(capture) or 0) end
    end
  end
end

-- req.rest is the path after /api/v1. Handlers get ctx = {user_id, id, query (typed), body}.
function S:dispatch(req, user_id)
  local route, id = find_route(req.method, req.rest)
  if not route then return answers.express_cannot(req.method, req.path) end
  local ctx = { user_id = user_id, id = id, body = {} }
  local query = {}
  for k, v in pairs(req.query) do
    if k ~= "api_key" then query[k] = v end
  end
  local q, err = schemas.parse_query(query, route[4])
  if not q then return err end
  ctx.query = q
  if route.body then
    local body, berr = schemas.decode_body(req.body)
    if not body then return berr end
    ctx.body = body
  end
  return self[route[3]](self, ctx)
end

-- A bug in a handler answers 500 with the message (and is still logged), never raises.
function S:safe_dispatch(req, user_id)
  local ok, r = pcall(self.dispatch, self, req, user_id)
  if ok then return r end
  return answers.server_error(r)
end

return M
