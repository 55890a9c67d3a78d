-- The operation registry as Lua sees it: every row of src/endpoints.c, plus rows defined at run
-- time. Help, completion, the CLI's flags, the importer's column types and the run layer read
-- it here; nothing keeps its own list of operations.
local core = require "smartlead.core"

local M = { list = {}, by_name = {} }

-- The kinds that write, and what undoes each (run/kinds.lua acts on these).
M.KINDS = { read = true, set = true, create = true, relation = true, delete = true, action = true }

local function add(row)
  M.list[#M.list + 1] = row
  M.by_name[row.name] = row
end

for _, row in ipairs(core.operations()) do add(row) end

-- smartlead.define_operation{name=, method=, path=, kind=, inverse=, id_name=, arg=, fields=, ...} -> row
-- A new operation, planned, journaled and undone by its kind like every built-in one.
function M.define(spec)
  if type(spec) ~= "table" then error("define_operation: the spec must be a table", 2) end
  local ok, row = pcall(core.define_operation, spec)
  if not ok then error(row, 2) end
  if row.kind == "relation" and row.inverse == nil then
    io.stderr:write("smartlua: define_operation: relation ", row.name, " has no inverse; its writes cannot be undone\n")
  end
  add(row)
  return row
end

function M.get(name) return M.by_name[name] end

-- The fields of an operation by name: name -> {name=, type=, required=, enum=, alias=}.
function M.fields(name)
  local row, out = M.by_name[name], {}
  for _, f in ipairs(row and row.fields or {}) do out[f.name] = f end
  return out
end

return M
