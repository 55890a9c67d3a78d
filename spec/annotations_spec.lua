-- The editor's types (build/types, made by tools/gen_annotations.lua at build time): every
-- registry operation annotated with its fields, every type named is defined, every file loads
-- with luac -p, the built files are current, and every public function of the documented
-- modules is in tools/api_doc.lua.
local proc = require "proc"

package.path = "tools/?.lua;" .. package.path
local gen = require "gen_annotations"
local api_doc = require "api_doc"
local smartlead = require "smartlead"

local TYPES = proc.ROOT .. "/build/types"

-- The blank-line-separated block of text that holds needle (plain), or nil.
local function block_of(text, needle)
  for block in (text .. "\n\n"):gmatch("(.-)\n\n") do
    if block:find(needle, 1, true) then return block end
  end
end

-- The registry as built: core.operations() less the rows a spec defined at run time in this
-- process (registry_spec does), named by a fresh lua5.4 that loads the same core.
local function built_rows()
  local chunk = 'for _, r in ipairs(require("smartlead.core").operations()) do print(r.name) end'
  local r = proc.sh(("cd %s && env -u LD_PRELOAD LUA_CPATH=%s lua5.4 -e %s"):format(proc.q(proc.ROOT),
    proc.q(proc.ROOT .. "/build/?.so;;"), proc.q(chunk)))
  assert(r.code == 0, r.err)
  local built, rows = {}, {}
  for _, name in ipairs(r.lines) do built[name] = true end
  for _, row in ipairs(require("smartlead.core").operations()) do
    if built[row.name] then rows[#rows + 1] = row end
  end
  return rows
end

describe("the editor's types", function()
  local files

  local rows

  setup(function()
    rows = built_rows()
    files = gen.files(rows, api_doc)
  end)

  it("are built by make and current: build/types is what the registry generates now", function()
    for name, text in pairs(files) do
      local built = proc.read(TYPES .. "/" .. name)
      assert.is_not_nil(built, name .. " is missing: run make")
      assert.is_true(built == text, name .. " is stale: run make")
    end
  end)

  it("load with luac -p", function()
    for name in pairs(files) do
      local r = proc.sh("luac5.4 -p " .. proc.q(TYPES .. "/" .. name))
      assert.equal(0, r.code, name .. ": " .. r.err)
    end
  end)

  it("annotate every registry operation as a Client method with each field and the answer", function()
    local text = files["smartlead.lua"]
    assert.is_true(#rows >= 12)
    for _, row in ipairs(rows) do
      local def = block_of(text, "function smartlead_Client:" .. row.name .. "(")
      assert.is_not_nil(def, row.name .. " is not annotated")
      assert.matches("---@return smartlead.Error|nil err", def, 1, true)
      assert.matches(row.method .. " " .. row.path, def, 1, true)
      if row.arg == "fields" then
        local pascal = row.name:gsub("_(%w)", string.upper):gsub("^%l", string.upper)
        local class = text:match("\n%-%-%-@class (smartlead%." .. pascal .. "Args)\n")
        assert.is_not_nil(class, row.name .. ": no class for its fields")
        local body = text:match("%-%-%-@class " .. class:gsub("%.", "%%.") .. "\n(.-)\n\n")
        for _, f in ipairs(row.fields) do
          local line = body:match("%-%-%-@field " .. f.name .. "(%??) ")
          assert.is_not_nil(line, row.name .. "." .. f.name .. " is not annotated")
          if f.required and not f.alias then assert.equal("", line, row.name .. "." .. f.name .. " is required") end
          if f.alias then assert.matches("---@field " .. f.alias .. "? ", body, 1, true) end
        end
      end
    end
  end)

  it("give enum fields an alias listing every value", function()
    local text = files["smartlead.lua"]
    local row = require("smartlead.operations").get("get_email_accounts")
    for _, f in ipairs(row.fields) do
      if f.enum then
        local alias = text:match("%-%-%-@field " .. f.name .. "%? (smartlead%.[%w_]+)")
        assert.is_not_nil(alias, f.name)
        local block = text:match("%-%-%-@alias " .. alias:gsub("%.", "%%.") .. "\n(.-)\n\n")
        for _, v in ipairs(f.enum) do assert.matches('---| "' .. v .. '"', block, 1, true) end
      end
    end
  end)

  it("define every smartlead.* type they name", function()
    local defined, named = {}, {}
    for _, text in pairs(files) do
      for name in text:gmatch("%-%-%-@class ([%w_.]+)") do defined[name] = true end
      for name in text:gmatch("%-%-%-@alias ([%w_.]+)") do defined[name] = true end
      for line in text:gmatch("%-%-%-@[fpr][a-z]+ [^\n]*") do
        for name in line:gmatch("smartlead%.[%w_.]*[%w_]") do named[name] = true end
      end
    end
    for name in pairs(named) do
      -- `smartlead.reputation(a)` and the like in a description are functions, not types
      if not name:match("^smartlead%.%l[%w_]*$") or defined[name] then
        assert.is_true(defined[name] ~= nil, name .. " is named but never defined")
      end
    end
  end)

  it("annotate the Error with every field a script branches on", function()
    local body = files["smartlead.lua"]:match("%-%-%-@class smartlead%.Error\n(.-)\n\n")
    for _, f in ipairs { "kind", "status", "code", "message", "method", "path", "body", "retry_after", "field",
      "ambiguous", "attempts" } do
      assert.matches("---@field " .. f .. "%??%s", body)
    end
  end)

  it("are files lua-language-server finds by require name", function()
    assert.is_not_nil(files["smartlead.lua"]:match("\n%-%-%-@meta smartlead\n"))
    for _, m in ipairs(api_doc.modules) do
      if m.file then
        assert.is_not_nil(files[m.file], m.file)
        assert.matches("return " .. m.class:gsub("%.", "_") .. "\n$", files[m.file])
      end
    end
  end)
end)

describe("tools/api_doc.lua", function()
  local function documented(class)
    for _, m in ipairs(api_doc.modules) do
      if m.class == class then
        local set = {}
        for _, fn in ipairs(m.functions or {}) do set[fn.name] = true end
        for _, f in ipairs(m.fields or {}) do set[(f[1]:gsub("%?$", ""))] = true end
        return set
      end
    end
    error("no module " .. class)
  end

  local function check(class, value, skip)
    local set = documented(class)
    for k, v in pairs(value) do
      if type(k) == "string" and not k:match("^_") and not (skip and skip[k]) then
        assert.is_true(set[k] ~= nil, ("%s.%s (%s) is public but not in tools/api_doc.lua"):format(class, k, type(v)))
      end
    end
  end

  it("describes every public function of smartlead, smartlead.policy, smartlead.json and smartlead.testing", function()
    check("smartlead", smartlead, { Client = true })
    check("smartlead.policy", require "smartlead.policy", { steps = true }) -- steps: apply's batching, internal
    check("smartlead.json", require "smartlead.json")
    check("smartlead.testing", require "smartlead.testing")
    local mock = require("smartlead.testing").mock { default = false }
    check("smartlead.testing.Mock", getmetatable(mock), { __index = true })
    mock:stop()
  end)

  it("describes every Lua method of the Client", function()
    local set = documented("smartlead.Client")
    local internal = { set_session = true, session = true, set_session_hook = true, mask = true }
    for name in pairs(require("smartlead.client").methods) do
      assert.is_true(set[name] ~= nil or internal[name] ~= nil, "client:" .. name .. " is not in tools/api_doc.lua")
    end
  end)
end)
