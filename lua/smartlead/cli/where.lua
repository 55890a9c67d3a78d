-- The `--where EXPR` sandbox: a Lua expression over one account `a`, with a few safe helpers.
local json = require "smartlead.json"
local context = require "smartlead.cli.context"

local M = {}

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- The names EXPR sees; get(a, name) is an account's value by field name, path or alias.
local function environment()
  local sl = require "smartlead"
  return {
    reputation = sl.reputation, null = json.null, is_null = sl.is_null,
    get = sl.get, -- nil instead of an error when a step is null or missing
    string = copy(string), math = copy(math), os = { time = os.time },
    tonumber = tonumber, tostring = tostring, type = type, pairs = pairs, ipairs = ipairs,
  }
end

local function without_chunk_name(msg) return (tostring(msg):gsub("^%-%-where:%d+: ", "")) end

-- where.compile(expr) -> predicate(account): EXPR compiled once. A syntax error is a usage
-- error; an error on one account fails the command naming the account.
function M.compile(expr)
  local env = environment()
  local chunk, err = load("return (" .. expr .. "\n)", "=--where", "t", env)
  if not chunk then
    context.usage(("--where '%s' is not a Lua expression: %s"):format(expr, without_chunk_name(err)))
  end
  return function(a)
    env.a = a
    local ok, v = pcall(chunk)
    if not ok then
      context.fail(context.EXIT.error, ("--where '%s' failed on account %s: %s"):format(expr, tostring(a.id),
        without_chunk_name(v)))
    end
    return v ~= nil and v ~= false and v ~= json.null
  end
end

M.HELP = [[
--where 'EXPR' keeps the accounts for which the Lua expression is true; `a` is the account and
reputation(a), get(a, "warmup_details.status") (nil where a step is null), null, is_null(v),
string, math, os.time, tonumber, tostring, type, pairs, ipairs are available, e.g.
  --where 'reputation(a) and reputation(a) < 90 and a.type == "GMAIL"'
]]

return M
