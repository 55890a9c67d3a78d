-- `smartlua completion bash|zsh|fish`: shell completion, and the hidden `smartlua __complete
-- WORD...` the scripts call on every Tab. The candidates come from the parser's definitions
-- (cli/options.lua and each command's module: subcommands, flags) and the operation registry
-- (field flags, enum values), plus the profiles of the config file, the names --fields takes and
-- the journals `undo` can take: nothing here keeps a list of its own.
--
-- __complete protocol: the words typed after `smartlua`, the last one the word being completed
-- (maybe empty); one candidate per line, "word<TAB>description"; a first line ":files" asks the
-- shell to complete file names instead.
local options = require "smartlead.cli.options"
local context = require "smartlead.cli.context"

local M = {}

local FILES = ":files"

local function first_line(s) return s and tostring(s):match("^[^\n]*") or nil end

-- The option a spelling names here: the node's own, then a global one.
local function lookup(node, name)
  for _, list in ipairs { node and node.options or {}, options.GLOBALS } do
    for _, o in ipairs(list) do
      for _, n in ipairs(o.names) do
        if n == name then return o end
      end
    end
  end
end

local function takes_value(o)
  return o.kind == "value" or o.kind == "multi" or o.kind == "chunk"
end

-- May this global option be given here (before a command: any)?
local function allowed(node, o)
  if o.key == "help" then return true end
  if not node or node.subs then return true end
  return (node.globals or {})[o.key] == true
end

-- Candidates for a comma list (--fields id,fr<TAB>, --profile a,b<TAB>): the last item completed.
local function list_values(cur, names)
  local head, last = cur:match("^(.*,)([^,]*)$")
  head, last = head or "", last or cur
  local out = {}
  for _, n in ipairs(names) do
    if n:sub(1, #last) == last then out[#out + 1] = head .. n end
  end
  return out
end

local function profile_names()
  local ok, list = pcall(function() return require("smartlead").profiles() end)
  return ok and list or {}
end

-- The journals `undo` and `journal show` take (mock: the ones runs against --mock wrote).
local function journal_names(mock)
  local journal = require "smartlead.journal"
  local dir_name = journal.DIR
  if mock then journal.DIR = "mock-journal" end
  local ok, list = pcall(function()
    local dir = require("smartlead.run_cli").journal_dir()
    local all = dir and require("smartlead.cli.journal").all(dir) or {}
    local names = {}
    for _, s in ipairs(all) do names[#names + 1] = { s.name, ("%s %s, %s"):format(tostring(s.time), s.state,
      tostring(s.command)) } end
    return names
  end)
  journal.DIR = dir_name
  return ok and list or {}
end

-- The values an option takes: {word | {word, description}...} or FILES.
local function option_values(o, cur)
  if o.values then return o.values end
  local f = o.field
  if f and f.type == "enum" then return f.enum or {} end
  if o.kind == "optbool" or (f and f.type == "bool") then return { "true", "false" } end
  if o.complete == "profiles" then return list_values(cur, profile_names()) end
  if o.complete == "fields" then return list_values(cur, require("smartlead.cli.listing").field_names()) end
  local arg = tostring(o.arg or "")
  if arg:find("FILE", 1, true) or arg == "JOURNAL" or o.key == "mock" then return FILES end
  return {}
end

-- The values of a positional argument; st: what the words so far gave (--mock).
local function arg_values(a, st)
  if not a then return {} end
  local c = a.complete
  if c == "files" then return FILES end
  if c == "journals" then return journal_names(st.given.mock) end
  if type(c) == "function" then return c() end
  if type(c) == "table" then return c end
  return {}
end

-- The options that can come next, with their help.
local function option_candidates(node, given)
  local out = {}
  for _, o in ipairs(node and node.options or {}) do
    if not given[o.key] or o.kind == "multi" then out[#out + 1] = { o.names[1], first_line(o.help) or o.arg } end
  end
  for _, o in ipairs(options.GLOBALS) do
    if allowed(node, o) and (not given[o.key] or o.kind == "count" or o.kind == "chunk") then
      out[#out + 1] = { o.names[1], first_line(o.help) }
    end
  end
  return out
end

local function command_candidates(node)
  local out = {}
  if node then
    for _, name in ipairs(node.order) do out[#out + 1] = { name, node.subs[name].summary } end
    return out
  end
  for _, name in ipairs(options.COMMANDS) do out[#out + 1] = { name, options.commands[name].summary } end
  return out
end

-- Walks the words before the one being completed: the command named, the options given, the
-- option waiting for its value, the arguments so far. -> state | nil (a script: files)
local function walk(words)
  local st = { given = {}, args = 0 }
  local i = 1
  while i < #words do
    local w = words[i]
    if w == "--" then return nil end
    if w:sub(1, 1) == "-" and w ~= "-" then
      local name = w:match("^(%-%-[^=]+)=") or (w:match("^%-v+$") and "-v") or w
      local o = lookup(st.node, name)
      if o then
        st.given[o.key] = true
        if takes_value(o) and not w:find("=", 1, true) then
          if words[i + 1] == "=" then i = i + 1 end -- bash splits --opt=value at the =
          if i + 1 == #words then st.waiting = o end
          i = i + 1
        elseif o.kind == "optbool" and i + 1 == #words and not words[#words]:find("^%-") then
          st.waiting = o -- --flag [true|false]
        end
      end
    elseif not st.node then
      st.node = options.commands[w]
      if not st.node then return nil end
    elseif st.node.subs then
      st.node = st.node.subs[w]
      if not st.node then return nil end
    else
      st.args = st.args + 1
    end
    i = i + 1
  end
  return st
end

-- M.candidates(words) -> list of {word, description} | FILES
function M.candidates(words)
  if #words == 0 then words = { "" } end
  local cur = words[#words]
  local st = walk(words)
  if not st then return FILES end
  local found
  local opt_name, inline = cur:match("^(%-%-[^=]+)=(.*)$")
  if st.waiting then
    found = option_values(st.waiting, cur)
  elseif opt_name then
    local o = lookup(st.node, opt_name)
    found = o and option_values(o, inline) or {}
    if found ~= FILES then
      local prefixed = {}
      for k, v in ipairs(found) do prefixed[k] = opt_name .. "=" .. (type(v) == "table" and v[1] or v) end
      found, cur = prefixed, cur
    end
  elseif cur:sub(1, 1) == "-" then
    found = option_candidates(st.node, st.given)
  elseif not st.node then
    if cur:find("[/.]") then return FILES end
    found = command_candidates(nil)
  elseif st.node.subs then
    found = command_candidates(st.node)
  else
    found = arg_values((st.node.args or {})[st.args + 1], st)
  end
  if found == FILES then return FILES end
  local out = {}
  for _, c in ipairs(found) do
    local word, desc = c, nil
    if type(c) == "table" then word, desc = c[1], c[2] end
    if word:sub(1, #cur) == cur then out[#out + 1] = { word, desc } end
  end
  return out
end

local function complete(ctx)
  local found = M.candidates(ctx.args)
  if found == FILES then
    io.stdout:write(FILES, "\n")
    return context.EXIT.ok
  end
  for _, c in ipairs(found) do
    local desc = c[2] and c[2]:gsub("[\t\n]", " ")
    io.stdout:write(c[1], desc and desc ~= "" and ("\t" .. desc) or "", "\n")
  end
  return context.EXIT.ok
end

---------------------------------------------------------------------------- the scripts

M.SCRIPTS = {
  bash = [=[
# bash completion for smartlua: eval "$(smartlua completion bash)" in ~/.bashrc
_smartlua() {
  local cur=${COMP_WORDS[COMP_CWORD]} IFS=$'\n' out line
  local -a words=("${COMP_WORDS[@]:1:COMP_CWORD}")
  out=$(smartlua __complete "${words[@]}" 2>/dev/null) || return 0
  if [[ $out == ":files"* ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
    return 0
  fi
  COMPREPLY=()
  for line in $out; do
    line=${line%%$'\t'*}
    [[ $line == "$cur"* ]] && COMPREPLY+=("$line")
  done
  [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *, ]] && compopt -o nospace 2>/dev/null
  return 0
}
complete -o default -o bashdefault -F _smartlua smartlua
]=],
  zsh = [=[
#compdef smartlua
# zsh completion for smartlua: smartlua completion zsh > "${fpath[1]}/_smartlua", or
# source <(smartlua completion zsh) in ~/.zshrc (after compinit)
_smartlua() {
  local -a lines values descs
  local line
  lines=("${(@f)$(smartlua __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if [[ ${lines[1]} == ":files" ]]; then
    _files
    return
  fi
  for line in $lines; do
    [[ -z $line ]] && continue
    values+=("${line%%$'\t'*}")
    if [[ $line == *$'\t'* ]]; then
      descs+=("${line%%$'\t'*} -- ${line#*$'\t'}")
    else
      descs+=("$line")
    fi
  done
  (( ${#values} )) && compadd -l -Q -d descs -- "${values[@]}"
}
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
  _smartlua "$@"
else
  compdef _smartlua smartlua
fi
]=],
  fish = [=[
# fish completion for smartlua: smartlua completion fish > ~/.config/fish/completions/smartlua.fish
function __smartlua_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l out (smartlua __complete $words[2..-1] 2>/dev/null)
    if test "$out[1]" = ":files"
        __fish_complete_path (commandline -ct)
        return
    end
    printf '%s\n' $out
end
complete -c smartlua -f -a '(__smartlua_complete)'
]=],
}

local SHELLS = { "bash", "zsh", "fish" }

local function script(ctx)
  io.stdout:write(M.SCRIPTS[ctx.args[1]])
  return context.EXIT.ok
end

local function to_shell(s)
  if M.SCRIPTS[s] then return s end
  return nil, "one of bash, zsh, fish"
end

return {
  completion = {
    summary = "print the shell completion script for bash, zsh or fish", run = script, single_profile = true,
    args = { { name = "SHELL", convert = to_shell, what = "SHELL", complete = SHELLS } },
    globals = {},
    help = [[
bash: eval "$(smartlua completion bash)" in ~/.bashrc (or save it as
      ~/.local/share/bash-completion/completions/smartlua)
zsh:  smartlua completion zsh > "${fpath[1]}/_smartlua" (then compinit)
fish: smartlua completion fish > ~/.config/fish/completions/smartlua.fish
Completes commands, options, field flags and their enum values, --fields names, profiles of the
config file and journal names. `make install` installs all three.
]],
  },
  -- hidden: the scripts above call it
  __complete = { summary = "completion candidates (for the shell scripts)", run = complete, single_profile = true,
    raw_args = true, globals = {} },
  M = M,
}
