-- The operation registry read as an API: for each row, the Client method's parameters and their
-- types, the class of its fields argument, its answer's type, and the enums the fields use.
-- Shared by tools/gen_annotations.lua and tools/gen_reference.lua, so types and reference agree.
local M = {}

-- A registry field type as a LuaCATS type, and what it means in words.
M.FIELD_TYPES = {
  text = { "string", "text, may be empty" },
  name = { "string", "non-empty text" },
  secret = { "string", "non-empty text, never printed or journaled" },
  host = { "string", "a host name or address" },
  email = { "string", "an email address" },
  uint = { "integer", "an integer >= 0" },
  limit = { "integer", "an integer 1..100" },
  port = { "integer", "a port, 1..65535" },
  percent = { "integer", "an integer 0..100" },
  bool = { "boolean", "true or false" },
  enum = { nil, "one of the values" },
  id = { "integer", "a positive integer id" },
  id_or_null = { "integer|smartlead.Null", "a positive integer id, or `smartlead.null` to clear it" },
  token = { "smartlead.OAuthToken", "an OAuth token table" },
}

-- What each answer kind is, as a type.
M.ANSWERS = {
  list = { "smartlead.Account[]", "an array of accounts (`[]` when none)" },
  account = { "smartlead.Account", "one account" },
  save = { "smartlead.SaveResult", "`{ok, message, email_account_id}`" },
  warmup_stats = { "smartlead.WarmupStats", "warmup statistics, counts as integers" },
  object = { "smartlead.Result", "`{ok, message?, result?}`" },
  json = { "any", "the decoded answer" },
}

local function pascal(name)
  local s = name:gsub("_(%w)", string.upper)
  return (s:gsub("^%l", string.upper))
end
M.pascal = pascal

-- The class of an operation's fields argument: smartlead.UpdateEmailAccountArgs.
function M.args_class(op_name) return "smartlead." .. pascal(op_name) .. "Args" end

-- Field names too general to name an enum by themselves.
local GENERIC = { type = true, status = true, kind = true, mode = true, state = true }

local function enum_key(values) return table.concat(values, "\0") end

-- Enum aliases, named after the first field that uses each set of values (its alias, which is
-- the snake_case name, when it has one), qualified by the operation when that name is taken.
local function name_enums(rows)
  local by_values, taken, list = {}, {}, {}
  for _, row in ipairs(rows) do
    for _, f in ipairs(row.fields or {}) do
      if f.enum then
        local key = enum_key(f.enum)
        if not by_values[key] then
          local base = pascal(f.alias or f.name)
          local name = "smartlead." .. base
          if taken[name] or GENERIC[f.alias or f.name] then name = "smartlead." .. pascal(row.name) .. base end
          taken[name] = true
          by_values[key] = name
          list[#list + 1] = { name = name, values = f.enum, first = row.name .. "." .. f.name }
        end
      end
    end
  end
  return by_values, list
end

local function field_type(f, enums)
  if f.type == "enum" and f.enum then return enums[enum_key(f.enum)] end
  local t = M.FIELD_TYPES[f.type]
  return t and t[1] or "any"
end

local function field_doc(f)
  local t = M.FIELD_TYPES[f.type]
  local doc = t and t[2] or f.type
  if f.type == "enum" and f.enum then doc = "one of " .. table.concat(f.enum, ", ") end
  return doc
end

-- The fields of an operation: {name, type, required, doc, alias_of}; an alias is a field of its own.
local function fields_of(row, enums)
  local out = {}
  for _, f in ipairs(row.fields or {}) do
    local ty, doc = field_type(f, enums), field_doc(f)
    -- a required field with an alias may come by either name: neither is required of a table
    local required = f.required and not f.alias
    out[#out + 1] = { name = f.name, type = ty, required = required, doc = doc .. (f.required and f.alias and
      (" (required, as this or `%s`)"):format(f.alias) or ""), registry_type = f.type, enum = f.enum }
    if f.alias then
      out[#out + 1] = { name = f.alias, type = ty, required = false, doc = ("the same as `%s`"):format(f.name),
        alias_of = f.name, registry_type = f.type, enum = f.enum }
    end
  end
  return out
end

local function split_args(s)
  local out = {}
  for w in (s or ""):gmatch("[%w_]+") do out[#out + 1] = w end
  return out
end

-- The method's parameters: the leading id, then the argument its `arg` says.
local function params_of(row)
  local params = {}
  if row.id_name then
    params[#params + 1] = { name = row.id_name, type = "integer",
      doc = ("the %s id (%s in the path)"):format(row.target or row.id_name, row.id_name) }
  end
  if row.arg == "fields" then
    params[#params + 1] = { name = "fields", type = M.args_class(row.name), optional = not row.payload_required,
      doc = row.dest == "query" and "query parameters" or "body fields" }
  elseif row.arg == "ids" then
    params[#params + 1] = { name = "ids", type = "integer[]", doc = "a non-empty list of distinct account ids" }
  elseif row.arg == "email" then
    params[#params + 1] = { name = "email", type = "string", doc = "an email address" }
  end
  local names = split_args(row.args)
  if #names == #params then -- the registry's own names for them (help uses these)
    for i, p in ipairs(params) do p.name = names[i] end
  end
  return params
end

-- model(rows) -> {enums = {{name, values, first}}, ops = {{row, params, fields, returns, answer_doc}}}
function M.model(rows)
  local enums, enum_list = name_enums(rows)
  local ops = {}
  for _, row in ipairs(rows) do
    local answer = M.ANSWERS[row.answer] or M.ANSWERS.json
    ops[#ops + 1] = { row = row, params = params_of(row), fields = fields_of(row, enums),
      returns = answer[1], answer_doc = answer[2], args_class = row.arg == "fields" and M.args_class(row.name) or nil }
  end
  return { enums = enum_list, ops = ops }
end

-- The registry rows sorted as the registry lists them, without rows a script defined.
function M.rows()
  local core = require "smartlead.core"
  return core.operations()
end

return M
