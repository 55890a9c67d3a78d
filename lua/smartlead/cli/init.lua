-- The command line's entry: one parser for every word, then the script, the REPL or a command.
--
-- cli.main(argv, release) -> exit code, where argv[0] is the program and argv[1..n] its words
-- (src/main.c passes them as they came). Exit codes: 0 ok, 1 error, 2 usage (one line on stderr
-- and nothing on stdout), 3 refused, 4 some writes failed or were skipped.
local parser = require "smartlead.cli.parser"
local options = require "smartlead.cli.options"
local context = require "smartlead.cli.context"

local M = {}

local EXIT = context.EXIT

local function is_api_error(e)
  return type(e) == "table" and getmetatable(e) ~= context.Failure and e.kind ~= nil and e.message ~= nil
end

-- Prints a raised value in one line (key masked) and returns its exit code; node: the command;
-- label: "profile: " under --profile a,b.
local function report(e, node, label)
  label = label or ""
  if getmetatable(e) == parser.Usage then
    local n = e.node or node
    context.err_line(n and (n.path .. ": ") or "", e.message, " (try --help)")
    return EXIT.usage
  end
  if getmetatable(e) == context.Failure then
    context.err_line(label, e.message)
    return e.code
  end
  context.err_line(label, is_api_error(e) and tostring(e) or context.clean(e))
  return EXIT.error
end
M.report = report

-- A script name that is no file but one letter or two away from a command: a typo.
local function misspelt_command(word)
  if word == "-" or word:find("[/.]") then return nil end
  local f = io.open(word, "r")
  if f then
    f:close()
    return nil
  end
  return parser.closest(word, options.COMMANDS)
end

-- A word of the command line as the journal keeps it: a word that names a secret (a -d body with
-- a password, a --where comparing one) has those values replaced by ***, or is *** whole.
local function journal_word(w)
  local lower = w:lower()
  local journal = require "smartlead.journal"
  local secret = false
  for _, name in ipairs { "password", "token", "secret", "api_key", "apikey" } do
    secret = secret or lower:find(name, 1, true) ~= nil
  end
  if not secret then return w end
  local json = require "smartlead.json"
  local ok, v = pcall(json.decode, w)
  if ok and type(v) == "table" then
    local ok2, text = pcall(json.encode, journal.redact(v))
    if ok2 then return text end
  end
  return "***"
end

-- The command line as a shell would take it back, for the journal: "smartlua accounts list ...".
local function command_line(words)
  local out = { "smartlua" }
  for _, word in ipairs(words) do
    local w = journal_word(word)
    out[#out + 1] = w:match("^[%w@%%+=:,./_-]+$") and w or ("'" .. w:gsub("'", "'\\''") .. "'")
  end
  return table.concat(out, " ")
end

-- --profile a,b and --all-profiles: opts.profiles, the list, when there are several. -> ok | raises usage
local function profiles_of(opts)
  local list
  if opts.all_profiles then
    if opts.profile then parser.usage("--all-profiles and --profile both choose profiles; give one") end
    list = require("smartlead").profiles()
    if #list == 0 then parser.usage("--all-profiles: the config file has no profile (smartlua config list)") end
  elseif opts.profile and opts.profile:find(",", 1, true) then
    list = {}
    local seen = {}
    for name in (opts.profile .. ","):gmatch("([^,]*),") do
      name = name:match("^%s*(.-)%s*$")
      if name == "" then parser.usage(("--profile '%s' has an empty name"):format(opts.profile)) end
      if not seen[name] then list[#list + 1], seen[name] = name, true end
    end
  end
  if list and #list == 1 then
    opts.profile, opts.all_profiles = list[1], nil
    return
  end
  if list then
    for _, k in ipairs { "plan_out", "journal", "resume" } do
      if opts[k] then
        parser.usage(("--%s names one file, for one run: with several profiles give one (--profile NAME)")
          :format(k:gsub("_", "-")))
      end
    end
    opts.profiles, opts.profile = list, nil
  end
end

local function run_command(parsed)
  local node = parsed.node
  if parsed.opts.profiles then return require("smartlead.cli.profiles").command(parsed) end
  local ctx
  if node.path ~= "mock" then require("smartlead.core").catch_interrupts() end -- the server waits for its own
  local ok, code = pcall(function()
    if not require("smartlead.host").apply_settings(parsed.opts) then return EXIT.error end
    ctx = context.new(parsed)
    local ran, c = pcall(node.run, ctx)
    ctx:close()
    if not ran then error(c, 0) end
    return c
  end)
  -- decides, then prints: a command that failed leaves nothing on stdout
  if ctx then ctx.sink:flush(ok and code ~= EXIT.error and code ~= EXIT.usage) end
  if not ok then return report(code, node) end
  return code
end

function M.main(argv, release)
  local words = {}
  for i = 1, #argv do words[i] = argv[i] end
  local ok, parsed = pcall(parser.parse, words, options.spec)
  if not ok then return report(parsed) end
  if parsed.help then
    io.stdout:write(require("smartlead.cli.help").text(parsed.node))
    return EXIT.ok
  end
  if parsed.opts.version then
    io.stdout:write(("smartlua %s (%s)\n"):format(require("smartlead.core").version, release or _VERSION))
    return EXIT.ok
  end
  local pok, perr = pcall(profiles_of, parsed.opts)
  if not pok then return report(perr, parsed.node) end
  parsed.command = command_line(words)
  if parsed.node then return run_command(parsed) end
  local word = parsed.script and words[parsed.script]
  local typo = word and words[parsed.script - 1] ~= "--" and misspelt_command(word)
  if typo then
    return report(parser.usage_error(("unknown command '%s' (did you mean \"%s\"?)"):format(word, typo)))
  end
  return require("smartlead.host").run(argv, parsed)
end

return M
