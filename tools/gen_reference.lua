-- doc/reference.md: every Client method with its arguments, fields and answer (from the operation
-- registry as built), every shape, module function and exit code (from tools/api_doc.lua).
--
--   lua5.4 tools/gen_reference.lua doc/reference.md     (`make reference`)
--
-- spec/reference_spec.lua fails when doc/reference.md is not what this writes from the registry.
local M = {}
local required_as = ... -- the module name when required; the first argument when run

local function cell(s)
  s = tostring(s or ""):gsub("\n", " "):gsub("|", "\\|")
  return s
end

local function code(s) return "`" .. s .. "`" end

local function anchor(s) return (s:lower():gsub("[^%w_%- ]", ""):gsub(" ", "-")) end

local SHAPES = {} -- shape name -> true, for links from types to their sections

-- A type in code, linked to its section when it is (a list of) one of the shapes.
local function type_cell(t)
  local name = t:match("^(smartlead%.[%w_.]+)%[?%]?|?n?i?l?$")
  if name and SHAPES[name] then return ("[%s](#%s)"):format(code(t), anchor(name)) end
  return code(t)
end

local function table_rows(out, head, rows)
  out[#out + 1] = "| " .. table.concat(head, " | ") .. " |"
  out[#out + 1] = "|" .. ("---|"):rep(#head)
  for _, r in ipairs(rows) do
    local cells = {}
    for i = 1, #head do cells[i] = cell(r[i]) end
    out[#out + 1] = "| " .. table.concat(cells, " | ") .. " |"
  end
  out[#out + 1] = ""
end

local function optional(name)
  local base = name:match("^(.-)%?$")
  return base or name, base ~= nil
end

local function signature(prefix, fn)
  local names = {}
  for _, p in ipairs(fn.params or {}) do
    local base, opt = optional(p[1])
    names[#names + 1] = opt and ("[" .. base .. "]") or base
  end
  local results = {}
  for _, r in ipairs(fn.returns or {}) do results[#results + 1] = r[2] or r[1] end
  return ("%s%s(%s)%s"):format(prefix, fn.name, table.concat(names, ", "),
    #results > 0 and (" -> " .. table.concat(results, ", ")) or "")
end

local function function_section(out, prefix, fn)
  out[#out + 1] = "#### " .. code(signature(prefix, fn))
  out[#out + 1] = ""
  out[#out + 1] = fn.doc
  out[#out + 1] = ""
  if #(fn.params or {}) > 0 then
    local rows = {}
    for _, p in ipairs(fn.params) do
      local base, opt = optional(p[1])
      rows[#rows + 1] = { code(base), type_cell(p[2]), opt and "no" or "yes", p[3] }
    end
    table_rows(out, { "parameter", "type", "required", "meaning" }, rows)
  end
  if #(fn.returns or {}) > 0 then
    local rows = {}
    for _, r in ipairs(fn.returns) do rows[#rows + 1] = { r[2] and code(r[2]) or "", type_cell(r[1]), r[3] or "" } end
    table_rows(out, { "returns", "type", "meaning" }, rows)
  end
end

local function registry_section(out, model)
  out[#out + 1] = "## Client endpoint methods"
  out[#out + 1] = ""
  out[#out + 1] = "One per row of the operation registry (`src/endpoints.c`); each validates its arguments before "
    .. "anything is sent and returns the answer, or `nil, err` (an [Error](#smartleaderror)). Wrong use (a string "
    .. "where an id belongs, fields that are not a table) raises."
  out[#out + 1] = ""
  local rows = {}
  for _, op in ipairs(model.ops) do
    local r = op.row
    rows[#rows + 1] = { ("[%s](#client%s)"):format(code(r.name), anchor(r.name)), code(r.method .. " " .. r.path),
      code(r.kind), r.summary }
  end
  table_rows(out, { "method", "endpoint", "kind", "what it does" }, rows)
  for _, op in ipairs(model.ops) do
    local r = op.row
    local names = {}
    for _, p in ipairs(op.params) do names[#names + 1] = p.optional and ("[" .. p.name .. "]") or p.name end
    out[#out + 1] = ("### client:%s"):format(r.name)
    out[#out + 1] = ""
    out[#out + 1] = code(("client:%s(%s) -> answer | nil, err"):format(r.name, table.concat(names, ", ")))
    out[#out + 1] = ""
    out[#out + 1] = ("%s. `%s %s`, kind `%s`%s."):format(r.summary ~= "" and r.summary or r.name, r.method, r.path,
      r.kind, r.inverse and ("; undone by `" .. r.inverse .. "`") or "")
    out[#out + 1] = ""
    if #op.params > 0 then
      local prows = {}
      for _, p in ipairs(op.params) do
        prows[#prows + 1] = { code(p.name), code(p.type), p.optional and "no" or "yes", p.doc }
      end
      table_rows(out, { "argument", "type", "required", "meaning" }, prows)
    end
    if #op.fields > 0 then
      local frows = {}
      for _, f in ipairs(op.fields) do
        frows[#frows + 1] = { code(f.name), code(f.registry_type), f.required and "yes" or "no",
          f.enum and table.concat(f.enum, ", ") or "", f.doc }
      end
      local head = { op.row.dest == "query" and "query field" or "field", "type", "required", "values", "meaning" }
      table_rows(out, head, frows)
    end
    out[#out + 1] = ("Answer: %s (%s)."):format(op.answer_doc, type_cell(op.returns))
    out[#out + 1] = ""
  end
end

local function shapes_section(out, doc)
  out[#out + 1] = "## Shapes"
  out[#out + 1] = ""
  out[#out + 1] = "What answers, errors, change lists and options hold. A field marked no may be absent."
  out[#out + 1] = ""
  for _, s in ipairs(doc.shapes) do
    out[#out + 1] = "### " .. s.name
    out[#out + 1] = ""
    out[#out + 1] = s.doc
    out[#out + 1] = ""
    if #s.fields > 0 then
      local rows = {}
      for _, f in ipairs(s.fields) do
        local base, opt = optional(f[1])
        rows[#rows + 1] = { code(base), type_cell(f[2]), opt and "no" or "yes", f[3] }
      end
      table_rows(out, { "field", "type", "always", "meaning" }, rows)
    end
  end
  for _, a in ipairs(doc.aliases) do
    out[#out + 1] = "### " .. a.name
    out[#out + 1] = ""
    out[#out + 1] = a.doc
    out[#out + 1] = ""
    local rows = {}
    for _, v in ipairs(a.values) do rows[#rows + 1] = { code(v[1]), v[2] } end
    table_rows(out, { "value", "meaning" }, rows)
  end
end

local function modules_section(out, doc)
  out[#out + 1] = "## Modules and their functions"
  out[#out + 1] = ""
  for _, m in ipairs(doc.modules) do
    out[#out + 1] = "### " .. m.name
    out[#out + 1] = ""
    out[#out + 1] = m.doc
    out[#out + 1] = ""
    if #(m.fields or {}) > 0 then
      local rows = {}
      for _, f in ipairs(m.fields) do rows[#rows + 1] = { code((optional(f[1]))), type_cell(f[2]), f[3] } end
      table_rows(out, { "field", "type", "meaning" }, rows)
    end
    for _, fn in ipairs(m.functions or {}) do function_section(out, m.call, fn) end
  end
end

-- reference(rows, doc) -> the text of doc/reference.md
function M.reference(rows, doc)
  local model = require("api_model").model(rows)
  for _, sh in ipairs(doc.shapes) do SHAPES[sh.name] = true end
  for _, a in ipairs(doc.aliases) do SHAPES[a.name] = true end
  for _, m in ipairs(doc.modules) do SHAPES[m.class] = true end
  local out = {
    "# smartlua reference",
    "",
    "<!-- Generated by tools/gen_reference.lua from the operation registry (src/endpoints.c) and "
      .. "tools/api_doc.lua: `make reference` writes it again; spec/reference_spec.lua fails when it is stale. -->",
    "",
    "Contents: [Client endpoint methods](#client-endpoint-methods) · [Shapes](#shapes) · "
      .. "[Modules and their functions](#modules-and-their-functions) · [Exit codes](#exit-codes). "
      .. "The same descriptions reach the editor as LuaCATS types (README, Editor support).",
    "",
  }
  registry_section(out, model)
  shapes_section(out, doc)
  modules_section(out, doc)
  out[#out + 1] = "## Exit codes"
  out[#out + 1] = ""
  local exits = {}
  for _, e in ipairs(doc.exit_codes) do exits[#exits + 1] = { code(tostring(e[1])), e[2] } end
  table_rows(out, { "code", "meaning" }, exits)
  return (table.concat(out, "\n"):gsub("\n+$", "\n"))
end

function M.main(path)
  local text = M.reference(require("api_model").rows(), require "api_doc")
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  assert(f:close())
end

if required_as ~= "gen_reference" and arg and arg[0] and arg[0]:match("gen_reference%.lua$") then
  if not arg[1] then
    io.stderr:write("usage: lua5.4 tools/gen_reference.lua doc/reference.md\n")
    os.exit(2)
  end
  M.main(arg[1])
end

return M
