-- The `--where EXPR` sandbox: a Lua expression over one account `a`, with a few safe helpers.
--
-- The helpers are null-safe: a value an account lacks (no warmup yet, a null field) is `missing`,
-- which every ordering comparison answers false (`reputation(a) < 90` and `reputation(a) >= 90`
-- both skip an account with no reputation) and arithmetic keeps missing. Where a missing value
-- should count, say so: reputation(a, 0) < 90 keeps accounts with no warmup as if at 0;
-- has(a, "warmup_details") and is_missing(v) ask directly.
local json = require "smartlead.json"
local account = require "smartlead.account"
local context = require "smartlead.cli.context"

local M = {}

local Missing = { __name = "missing" }
local missing = setmetatable({}, Missing)
M.missing = missing

local function never() return false end
local function stays() return missing end
Missing.__lt, Missing.__le = never, never
for _, op in ipairs { "__add", "__sub", "__mul", "__div", "__mod", "__pow", "__unm", "__idiv" } do
  Missing[op] = stays
end
Missing.__tostring = function() return "missing" end
Missing.__concat = function(a, b)
  return (a == missing and "missing" or tostring(a)) .. (b == missing and "missing" or tostring(b))
end
Missing.__index = function() return missing end -- missing.x is missing too

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local function absent(v) return v == nil or v == json.null end

-- reputation(a [, default]): the warmup reputation as a number; default, else missing, when none.
local function reputation(a, default)
  local r = account.reputation(a)
  if r ~= nil then return r end
  if default ~= nil then return default end
  return missing
end

-- get(a, "warmup_details.status" [, default]): the value at the path (or request-named alias);
-- default, else nil, where a step is null or missing (so `get(a, p) == "ACTIVE"` just works).
local function get(a, path, default)
  local v = account.get(a, path)
  if v == nil then return default end
  return v
end

-- num(a, path [, default]): like get, but missing (not nil) when absent, for comparisons.
local function num(a, path, default)
  local v = account.get(a, path)
  if v == nil then
    if default ~= nil then return default end
    return missing
  end
  return tonumber(v) or v
end

-- The names EXPR sees.
local function environment()
  local sl = require "smartlead"
  return {
    reputation = reputation, get = get, num = num, null = json.null, missing = missing,
    is_null = sl.is_null,
    is_missing = function(v) return v == missing or absent(v) end,
    has = function(a, path) return not absent(account.get(a, path)) end,
    rep_below = function(a, n) local r = account.reputation(a) return r ~= nil and r < n end,
    rep_at_least = function(a, n) local r = account.reputation(a) return r ~= nil and r >= n end,
    string = copy(string), math = copy(math), os = { time = os.time },
    tonumber = tonumber, tostring = tostring, type = type, pairs = pairs, ipairs = ipairs,
  }
end

local function without_chunk_name(msg) return (tostring(msg):gsub("^%-%-where:%d+: ", "")) end

local HINT = " (a value an account may lack: reputation(a, DEFAULT), num(a, PATH, DEFAULT), get(a, PATH), has(a, PATH))"

-- where.compile(expr) -> predicate(account): EXPR compiled once. A syntax error is a usage
-- error; an error on one account fails the command naming the account (nothing is printed).
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
      local msg = without_chunk_name(v)
      local hint = (msg:find("compare", 1, true) or msg:find("index", 1, true) or msg:find("arithmetic", 1, true))
        and HINT or ""
      context.fail(context.EXIT.error,
        ("--where '%s' failed on account %s: %s%s"):format(expr, tostring(a.id), msg, hint))
    end
    return v ~= nil and v ~= false and v ~= json.null and v ~= missing
  end
end

M.HELP = [[
--where 'EXPR' keeps the accounts for which the Lua expression is true; `a` is the account:
  --where 'reputation(a) < 90 and a.type == "GMAIL"'
Helpers, all null-safe: reputation(a) is the warmup reputation as a number, or `missing` for an
account with no warmup; every comparison with missing is false, so such an account is neither
< 90 nor >= 90. Choose what a missing value means with a default: reputation(a, 0) < 90 keeps
them. get(a, "warmup_details.status") is the value at a path (nil where a step is null; a
default as third argument), num(a, PATH [, DEFAULT]) the same for comparisons (missing when
absent), has(a, PATH), is_missing(v), is_null(v), rep_below(a, N), rep_at_least(a, N);
also string, math, os.time, tonumber, tostring, type, pairs, ipairs.
]]

return M
