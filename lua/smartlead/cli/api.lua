-- `smartlua api METHOD PATH [-q k=v] [-d JSON|@FILE]`: any endpoint, like `gh api`.
local json = require "smartlead.json"
local formats = require "smartlead.formats"
local context = require "smartlead.cli.context"
local options = require "smartlead.cli.options"

local EXIT, usage = context.EXIT, context.usage
local opt = options.opt

local METHODS = { "GET", "POST", "PUT", "PATCH", "DELETE" }

local function to_method(s)
  local u = s:upper()
  for _, m in ipairs(METHODS) do
    if m == u then return u end
  end
  return nil, "one of " .. table.concat(METHODS, ", ")
end

local function unescape(s)
  return (s:gsub("%+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- PATH?a=1&b=2 -> PATH, {a="1", b="2"} merged with the -q pairs.
local function split_query(ctx, path)
  local query, any = {}, false
  local bare, qs = path:match("^([^?]*)%?(.*)$")
  -- a pasted URL's key may hold '&' unencoded: refuse it whole before any part is kept
  if qs and unescape(qs):lower():find("api_key", 1, true) then
    usage("PATH must not carry api_key; the key is added for you (SMARTLEAD_API_KEY or the config file)")
  end
  if bare then
    path = bare
    for pair in qs:gmatch("[^&]+") do
      local k, v = pair:match("^([^=]*)=?(.*)$")
      query[unescape(k)], any = unescape(v), true
    end
  end
  for _, pair in ipairs(ctx.opts.query or {}) do
    local k, v = pair:match("^([^=]+)=(.*)$")
    if not k then usage(("-q '%s' must be key=value"):format(pair)) end
    if unescape(k):lower() == "api_key" then usage("-q must not carry api_key; the key is added for you") end
    query[k], any = v, true
  end
  return path, any and query or nil
end

local function read_input(path)
  if path == "-" then return io.stdin:read("a") end
  local f, err = io.open(path, "rb")
  if not f then context.fail(EXIT.error, err) end
  local text = f:read("a")
  f:close()
  return text
end

local function body(text)
  if not text then return nil end
  if text:sub(1, 1) == "@" then text = read_input(text:sub(2)) end
  local ok, value, err = pcall(json.decode, text)
  if not ok or value == nil then
    usage(("-d must be JSON (or @FILE, @- for stdin): %s"):format(context.clean(ok and err or value)))
  end
  return value
end

local function print_json(v)
  io.stdout:write(formats.pretty_json(v), "\n")
  io.stdout:flush()
end

local function call(ctx, method, path, req)
  local answer, err = ctx:client():request(method, path, req)
  if answer == nil then
    if type(err) == "table" and err.data ~= nil then print_json(err.data) end
    context.err_line(tostring(err))
    return EXIT.error
  end
  if not context.planned(answer) then print_json(answer) end
  return EXIT.ok
end

local function api(ctx)
  local method, path = ctx.args[1], ctx.args[2]
  local bare, query = split_query(ctx, path)
  local req = { query = query, body = body(ctx.opts.data) }
  if method == "GET" then return call(ctx, method, bare, req) end
  return ctx:with_run_layer(function() return call(ctx, method, bare, req) end)
end

return {
  node = {
    summary = "send one request and print the answer as JSON, like `gh api`", run = api,
    args = { { name = "METHOD", convert = to_method, what = "METHOD" }, { name = "PATH" } },
    options = {
      opt({ "-q", "--query" }, "query", "multi", "key=value", "a query parameter (repeat for more)"),
      opt({ "-d", "--data" }, "data", "value", "JSON|@FILE|@-", "the request body: JSON text, a file, or stdin"),
    },
    globals = options.scope("client", "write"),
    help = [[
PATH is below the base URL (/email-accounts/3001/); the key is added for you and never shown.
Writes (POST, PUT, PATCH, DELETE) go through the run layer like any other: --plan, --journal.
e.g. smartlua api GET /email-accounts/ -q limit=5 -q esp=GMAIL
     smartlua api POST /email-accounts/3001 -d '{"max_email_per_day": 44}'
]],
  },
}
