-- `--help` text, generated from the definitions in cli/options.lua and each command's module.
local options = require "smartlead.cli.options"

local M = {}

-- How an option is written: every short spelling and the first long one ("-q, --query
-- key=value"); brief: only the first ("-q key=value"), for a synopsis.
local function label(o, brief)
  if o.kind == "count" then return brief and "-v" or "-v, -vv, -vvv" end
  local shown = { o.names[1] }
  for k = 2, brief and 0 or #o.names do
    local n = o.names[k]
    if #n == 2 or (#o.names[1] == 2 and k == 2) then shown[#shown + 1] = n end
  end
  local text = table.concat(shown, ", ")
  if o.kind == "mock" then return text .. o.arg end
  if o.kind == "optbool" then return text .. " [true|false]" end
  if o.kind == "flag" then return text end
  return text .. " " .. (o.arg or "VALUE")
end

-- "  label   help", the help aligned, on the next line when the label is long.
local function line(left, right, width)
  width = width or 24
  if not right or right == "" then return "  " .. left end
  if #left > width then return ("  %s\n  %s  %s"):format(left, (" "):rep(width), right) end
  return ("  %-" .. width .. "s  %s"):format(left, right)
end

local function option_lines(out, list)
  for _, o in ipairs(list) do out[#out + 1] = line(label(o), o.help) end
end

local function capital(s) return (s:gsub("^%l", string.upper)) end

local function text_of(h)
  if type(h) == "function" then return h() end
  return h
end

-- "smartlua accounts get ID [options]", or every option when there are few.
function M.synopsis(node)
  local parts = { "smartlua " .. node.path }
  if node.subs then
    parts[#parts + 1] = table.concat(node.order, "|") .. " ..."
    return table.concat(parts, " ")
  end
  for _, a in ipairs(node.args or {}) do parts[#parts + 1] = a.optional and ("[" .. a.name .. "]") or a.name end
  local own = node.options or {}
  if #own > 0 and #own <= 4 and not next(node.globals or {}) then -- a few, and nothing else
    for _, o in ipairs(own) do parts[#parts + 1] = "[" .. label(o, true) .. "]" end
  elseif #own > 0 or next(node.globals or {}) then
    parts[#parts + 1] = "[options]"
  end
  return table.concat(parts, " ")
end

-- The global options a node takes, in definition order.
local function globals_of(node)
  local out = {}
  for _, o in ipairs(options.GLOBALS) do
    if o.key ~= "help" and node.globals and node.globals[o.key] then out[#out + 1] = o end
  end
  return out
end

local function leaf(node)
  local out = { "usage: " .. M.synopsis(node), "", capital(node.summary) .. "." }
  local plain, by_op, ops = {}, {}, {}
  for _, o in ipairs(node.options or {}) do
    if o.op and o.op ~= "get_email_accounts" and o.op ~= "get_email_account" then
      if not by_op[o.op] then by_op[o.op], ops[#ops + 1] = {}, o.op end
      table.insert(by_op[o.op], o)
    else
      plain[#plain + 1] = o
    end
  end
  if #plain > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "Options:"
    option_lines(out, plain)
  end
  for _, op in ipairs(ops) do
    out[#out + 1] = ""
    out[#out + 1] = ("Fields (sl:%s):"):format(op)
    option_lines(out, by_op[op])
  end
  if node.help then
    out[#out + 1] = ""
    out[#out + 1] = (text_of(node.help):gsub("\n$", ""))
  end
  local g = globals_of(node)
  out[#out + 1] = ""
  out[#out + 1] = #g > 0 and "Global options (anywhere on the line):" or "Global options:"
  option_lines(out, g)
  out[#out + 1] = line("--help, -h", "this help")
  return table.concat(out, "\n") .. "\n"
end

local function group(node)
  local out = { "usage: " .. M.synopsis(node), "", capital(node.summary) .. ".", "" }
  for _, name in ipairs(node.order) do
    local sub = node.subs[name]
    local syn = M.synopsis(sub):sub(#("smartlua " .. node.path .. " ") + 1)
    out[#out + 1] = line(syn, sub.summary, 30)
  end
  out[#out + 1] = ""
  out[#out + 1] = ("`smartlua %s SUBCOMMAND --help` for its options."):format(node.path)
  return table.concat(out, "\n") .. "\n"
end

-- words joined with sep into lines of at most width characters.
function M.wrap(words, sep, width)
  local lines, cur = {}, ""
  for i, w in ipairs(words) do
    local piece = w .. (i < #words and sep or "")
    if cur ~= "" and #cur + #piece > width then
      lines[#lines + 1] = cur:gsub("%s+$", "")
      cur = ""
    end
    cur = cur .. piece
  end
  if cur ~= "" then lines[#lines + 1] = cur end
  return table.concat(lines, "\n")
end

-- The help of a command node, or of smartlua itself when node is nil.
function M.text(node)
  if not node then return M.top() end
  return node.subs and group(node) or leaf(node)
end

local TOP_NOTES = [[

A script's own options go after it: `smartlua s.lua --dry` passes --dry to s.lua.
The API key comes from SMARTLEAD_API_KEY or the config file, never from the command line.
Writes are journaled. A script run on a terminal (or with --max-changes) runs as a plan first and
the recorded writes are applied after it ends, so a script that uses what its own writes return
(the id of a new account) needs --yes, or a run without a terminal.
Exit codes: 0 ok, 1 error, 2 usage, 3 refused (--max-changes, declined, or a plan or journal made
for another workspace), 4 some writes failed or were skipped, 130/143 stopped by Ctrl-C/SIGTERM (it
says how to finish); a script's os.exit(code) is its code.
A command that fails prints nothing on stdout (NDJSON streams, and ends with the error on stderr).
]]

-- The global options by group, as `smartlua --help` lists them.
local SECTIONS = {
  { "script", "Options of a script run (before the script; the words after it are the script's):" },
  { "client", "Global options (before the script, or anywhere on a command's line):" },
  { "output", "For commands that print:" },
  { "write", "For scripts and commands that write:" },
  { "help", "Everywhere:" },
}

function M.top()
  local out = {
    "usage: smartlua [options] [script [args]]   run a script (arg as lua.c sets it); no script: the REPL",
    "       smartlua COMMAND ... [options]       a command; options anywhere on its line",
    "", "Commands (`smartlua COMMAND --help` for each):",
  }
  for _, name in ipairs(options.COMMANDS) do
    local node = options.commands[name]
    local syn = M.synopsis(node)
    local fmt = #syn > 44 and "  %s\n        %s" or "  %-44s  %s"
    out[#out + 1] = fmt:format(syn, node.summary)
  end
  for _, section in ipairs(SECTIONS) do
    out[#out + 1] = ""
    out[#out + 1] = section[2]
    for _, o in ipairs(options.GLOBALS) do
      if (o.group or "help") == section[1] then out[#out + 1] = line(label(o), o.help) end
    end
    if section[1] == "script" then
      out[#out + 1] = line("--", "stop handling options: the next word is the script")
      out[#out + 1] = line("-", "run stdin as the script")
    end
  end
  out[#out + 1] = TOP_NOTES
  return table.concat(out, "\n")
end

return M
