-- The definition of the command line: the global options, the script run's options, the commands.
--
-- Every option is defined once here or in its command's module (cli/accounts.lua, ...); the
-- parser, the help and the runners all read these tables. A command node lists the global options
-- it takes (options.scope); a global option given where it does not apply is a usage error.
local convert = require "smartlead.convert"

local M = {}

local function opt(names, key, kind, arg, help, extra)
  local o = { names = names, key = key, kind = kind, arg = arg, help = help }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end
M.opt = opt

local function check_format(s)
  local formats = require "smartlead.formats"
  if formats.known(s) then return s end
  return nil, "one of " .. table.concat(formats.NAMES, ", ")
end

-- Global options, in the order help lists them; group: which scope names take them.
M.GLOBALS = {
  opt({ "--help", "-h" }, "help", "flag", nil, "this help; after a command, the command's"),
  opt({ "--version", "-V" }, "version", "flag", nil, "print the version", { group = "script" }),
  opt({ "-e" }, "chunks", "chunk", "CHUNK", "run the Lua chunk (in order with -l, before the script)",
    { group = "script" }),
  opt({ "-l" }, "chunks", "chunk", "MODULE", "require MODULE into a global of the same name", { group = "script" }),
  opt({ "-i" }, "interactive", "flag", nil, "enter the REPL after the script", { group = "script" }),
  opt({ "--mock" }, "mock", "mock", "[=FILE.json]",
    "talk to an in-process mock SmartLead (seeded from FILE.json)", { group = "client" }),
  opt({ "--profile" }, "profile", "value", "NAME[,NAME...]",
    "use the named profile of the config file (else $SMARTLUA_PROFILE); several: run once per profile",
    { group = "client", complete = "profiles" }),
  opt({ "--all-profiles" }, "all_profiles", "flag", nil, "run once per profile of the config file, concurrently",
    { group = "client" }),
  opt({ "-v" }, "trace", "count", nil, "trace requests on stderr (-vv: + headers, -vvv: + bodies), key masked",
    { group = "client" }),
  opt({ "--format" }, "format", "value", "F", "table (default on a terminal), json (default in a pipe), ndjson, csv",
    { group = "output", convert = check_format, values = { "table", "json", "ndjson", "csv" } }),
  opt({ "--plan" }, "plan", "flag", nil, "send reads, record writes without sending them; print field: old -> new",
    { group = "write" }),
  opt({ "--plan-out" }, "plan_out", "value", "FILE", "with --plan: also save the plan for `smartlua apply FILE`",
    { group = "write" }),
  opt({ "--journal" }, "journal", "value", "FILE", "journal to FILE (default: $XDG_STATE_HOME/smartlua/journal/)",
    { group = "write" }),
  opt({ "--resume" }, "resume", "value", "JOURNAL", "run again, skipping the writes JOURNAL shows as done",
    { group = "write" }),
  opt({ "--max-changes" }, "max_changes", "value", "N",
    "plan first; refuse (exit 3) to change more than N accounts", { group = "write" }),
  opt({ "--yes", "-y" }, "yes", "flag", nil, "do not ask before changing more than 25 accounts",
    { group = "write" }),
  opt({ "--no-journal" }, "no_journal", "flag", nil,
    "send writes straight through: no journal, no question", { group = "write" }),
}

local BY_GROUP = {}
for _, o in ipairs(M.GLOBALS) do
  if o.group then
    BY_GROUP[o.group] = BY_GROUP[o.group] or {}
    BY_GROUP[o.group][o.key] = true
  end
end

-- options.scope("client", "output", "journal", ...) -> {key -> true}: group names and option keys.
function M.scope(...)
  local set = {}
  for _, name in ipairs { ... } do
    if BY_GROUP[name] then
      for k in pairs(BY_GROUP[name]) do set[k] = true end
    else
      set[name] = true
    end
  end
  return set
end

-- What a script run (or -e, or the REPL) takes: everything but --format.
M.SCRIPT = M.scope("script", "client", "write")

-- The commands, in the order help lists them; each module returns its node (cli/<name>.lua).
M.COMMANDS = { "accounts", "campaigns", "api", "config", "mock", "apply", "undo", "journal", "completion", "fixtures",
  "snapshot", "diff", "report", "check" }
local MODULE = { accounts = "smartlead.cli.accounts", campaigns = "smartlead.cli.campaigns", api = "smartlead.cli.api",
  config = "smartlead.cli.config", mock = "smartlead.cli.mock", apply = "smartlead.cli.apply",
  undo = "smartlead.cli.apply", journal = "smartlead.cli.journal", completion = "smartlead.cli.completion",
  __complete = "smartlead.cli.completion", fixtures = "smartlead.cli.fixtures", snapshot = "smartlead.cli.fleet",
  diff = "smartlead.cli.fleet", report = "smartlead.cli.fleet", check = "smartlead.cli.fleet" }

-- Fills in the name and path of a node and its subcommands.
local function finish(node, name, parent)
  node.name = name
  node.path = parent and (parent.path .. " " .. name) or name
  if node.single_profile and node.globals then node.globals.all_profiles = nil end -- one profile: --profile NAME
  if node.subs then
    for _, sub_name in ipairs(node.order) do finish(node.subs[sub_name], sub_name, node) end
  end
  return node
end

-- The fleet operator's commands (new files, registered apart from the list above).
for _, c in ipairs { { "tags", "smartlead.cli.tags" }, { "stats", "smartlead.cli.stats" } } do
  M.COMMANDS[#M.COMMANDS + 1], MODULE[c[1]] = c[1], c[2]
end

-- name -> node, each module loaded when its command is named.
M.commands = setmetatable({}, {
  __index = function(t, name)
    local module = MODULE[name]
    if not module then return nil end
    local nodes = require(module)
    local node = finish(nodes.node and nodes.node or nodes[name], name, nil)
    rawset(t, name, node)
    return node
  end,
})

-- The spec the parser reads.
M.spec = { globals = M.GLOBALS, commands = M.commands, script = M.SCRIPT, booleans = convert.BOOLEANS }

-- Secret-looking flags are refused, not echoed back as an unknown option with a suggestion.
function M.spec.refuse(name)
  local bare = name:gsub("^%-+", ""):gsub("%-", "_")
  if not require("smartlead.journal").is_secret(bare) then return nil end
  if bare:lower():find("api_?key") then
    return ("'%s': the API key is never taken from the command line (other users see it in ps); use "
      .. "SMARTLEAD_API_KEY or `smartlua config set api_key -`"):format(name)
  end
  return ("'%s': passwords and tokens are never taken from the command line (other users see them in ps); "
    .. "put them in the CSV file: smartlua accounts add --csv FILE"):format(name)
end

---------------------------------------------------------------------------- from the registry

local function kebab(name) return (name:gsub("_", "-")) end

-- How a registry field's value is written in help.
local ARG_OF = { uint = "N", limit = "1..100", id = "ID", id_or_null = "ID|null", percent = "0..100", email = "EMAIL",
  text = "TEXT", name = "TEXT", host = "HOST", port = "PORT", bool = "[true|false]" }

-- The flags for a registry operation's fields: --kebab-case and --snake_case of the name and of
-- its alias, --apiName as the API spells it. skip: {field name -> true}. Secret fields never
-- become flags. extra: fields copied into each option (op = the operation, filter = true, ...).
function M.field_options(op_name, skip, extra)
  local row = require("smartlead.operations").get(op_name)
  local out = {}
  for _, f in ipairs(row and row.fields or {}) do
    if not (skip and skip[f.name]) and f.type ~= "secret" and f.type ~= "token" then
      local base = f.alias or f.name
      local names, seen = {}, {}
      for _, n in ipairs { kebab(base), base, f.name, kebab(f.name) } do
        if not seen[n] then names[#names + 1], seen[n] = "--" .. n, true end
      end
      local arg = f.type == "enum" and table.concat(f.enum or {}, "|") or ARG_OF[f.type] or f.type:upper()
      local o = opt(names, f.name, f.type == "bool" and "optbool" or "value", arg, nil,
        { convert = convert.field(f), field = f, op = op_name })
      for k, v in pairs(extra or {}) do o[k] = v end
      out[#out + 1] = o
    end
  end
  return out
end

-- Concatenates option lists.
function M.join(...)
  local out = {}
  for _, list in ipairs { ... } do
    for _, o in ipairs(list) do out[#out + 1] = o end
  end
  return out
end

return M
