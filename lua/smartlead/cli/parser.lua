-- The one command-line parser: a command tree, global options anywhere, a script's words untouched.
--
-- parser.parse(words, spec) -> result; raises parser.Usage {message=, node=} on a usage error.
--
-- spec = {globals = {option...}, commands = {name -> node}, script = {allowed global key -> true},
--         refuse = fn(name) -> message|nil (an unknown option that must not be echoed or taken)}
-- node = {name=, path="accounts list", subs = {name -> node} | nil, args = {{name=, convert=, what=,
--         optional=}...}, options = {option...}, globals = {key -> true}, raw_args = true | nil (every
--         word after the command is an argument: no option is read)}
-- option = {names = {"--max-changes", ...}, key=, kind = "flag"|"value"|"multi"|"optbool"|"count"|"mock"|"chunk",
--           arg = "N", convert = fn(text) -> v | nil, "what it must be", help = "..."}
--
-- The first word that is neither an option nor a command is the script: it and every word after
-- it are the script's (result.script is its index). After a command, options and arguments mix
-- freely; "--" ends options (at the top, the next word is the script whatever it looks like).
-- --help anywhere before the script asks for the help of the deepest command named, even when
-- the line has a usage error.
--
-- result = {node=, opts = {key -> value}, given = {key -> spelling}, order = {{option=, value=}...},
--           args = {...}, script = index | nil, help = true | nil}
local M = {}

M.Usage = { __tostring = function(u) return u.message end }

-- A usage error value; parser.usage raises one.
function M.usage_error(message, node) return setmetatable({ message = message, node = node }, M.Usage) end

local function usage(message, node) error(M.usage_error(message, node), 0) end
M.usage = usage

---------------------------------------------------------------------------- suggestions

-- Edit distance: insertions, deletions, substitutions and swaps of two neighbours ("lsit").
function M.distance(a, b)
  local d = {}
  for i = 0, #a do d[i] = { [0] = i } end
  for j = 0, #b do d[0][j] = j end
  for i = 1, #a do
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      d[i][j] = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:sub(i, i) == b:sub(j - 1, j - 1) and a:sub(i - 1, i - 1) == b:sub(j, j) then
        d[i][j] = math.min(d[i][j], d[i - 2][j - 2] + 1)
      end
    end
  end
  return d[#a][#b]
end

-- The candidate closest to word, when it is close enough to be a typo; nil otherwise.
function M.closest(word, candidates)
  local limit = #word:gsub("^%-+", "") <= 4 and 1 or 2
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = M.distance(word, c)
    if d <= limit and (not best_d or d < best_d or (d == best_d and c < best)) then best, best_d = c, d end
  end
  return best
end

-- ' (did you mean "x"?)' or "".
function M.suggestion(word, candidates)
  local best = M.closest(word, candidates)
  return best and (' (did you mean "%s"?)'):format(best) or ""
end

---------------------------------------------------------------------------- lookups

-- spelling -> option, for a list of options (cached on the list).
local function index(options)
  if not options then return {} end
  local ix = rawget(options, "_index")
  if ix then return ix end
  ix = {}
  for _, o in ipairs(options) do
    for _, n in ipairs(o.names) do ix[n] = o end
  end
  rawset(options, "_index", ix)
  return ix
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- May a global option be given to the context (a command node, or the script run)?
local function allowed(st, option)
  if option.key == "help" then return true end
  local scope = st.node and (st.node.globals or {}) or st.spec.script
  return scope[option.key] == true
end

local function not_here(st, spelling)
  if st.node then
    local takes = {}
    for _, o in ipairs(st.spec.globals) do
      if o.key ~= "help" and allowed(st, o) then takes[#takes + 1] = o.names[1] end
    end
    usage(("'%s' does not apply here (global options here: %s)"):format(spelling,
      #takes > 0 and table.concat(takes, ", ") or "none"), st.node)
  end
  usage(("'%s' is for commands, not scripts (e.g. smartlua accounts list %s ...)"):format(spelling, spelling))
end

-- Every spelling valid at this point, for suggestions.
local function spellings(st)
  local out = {}
  for n in pairs(index(st.node and st.node.options)) do out[#out + 1] = n end
  for n, o in pairs(index(st.spec.globals)) do
    if not st.node or st.node.subs or allowed(st, o) then out[#out + 1] = n end
  end
  table.sort(out)
  return out
end

-- The option a spelling names: the command's own first, then the global ones.
local function lookup(st, name)
  local own = index(st.node and st.node.options)[name]
  if own then return own, false end
  local g = index(st.spec.globals)[name]
  if g then return g, true end
end

local function unknown(st, name)
  local refusal = st.spec.refuse and st.spec.refuse(name)
  if refusal then usage(refusal, st.node) end
  usage(("unknown option '%s'%s"):format(name, M.suggestion(name, spellings(st))), st.node)
end

---------------------------------------------------------------------------- options

local function convert(option, text, spelling, node)
  if not option.convert then return text end
  local v, must = option.convert(text)
  if v == nil then usage(("%s must be %s, got '%s'"):format(spelling, must, text), node) end
  return v
end

local function store(st, option, spelling, value)
  local k = option.key
  if option.kind == "flag" then
    st.opts[k] = true
  elseif option.kind == "multi" then
    st.opts[k] = st.opts[k] or {}
    table.insert(st.opts[k], value)
  elseif option.kind == "chunk" then -- -e and -l, in the order given
    st.opts.chunks = st.opts.chunks or {}
    table.insert(st.opts.chunks, { option = option.names[1], value = value })
  else
    st.opts[k] = value
    st.order[#st.order + 1] = { option = option, value = value }
  end
  st.given[k] = spelling
end

-- The value of a valued option: inline (--name=value) or the next word. Returns value, next index.
local function value_of(st, words, i, option, spelling, inline)
  if option.kind == "optbool" then -- --flag, --flag true, --flag=false
    if inline then return inline, i + 1 end
    local nxt = words[i + 1]
    if nxt and st.spec.booleans[nxt:lower()] ~= nil then return nxt, i + 2 end
    return "true", i + 1
  end
  if option.kind == "mock" then -- --mock, --mock=FILE, --mock FILE.json
    if inline then return inline, i + 1 end
    local nxt = words[i + 1]
    if nxt and nxt:match("%.json$") then return nxt, i + 2 end
    return true, i + 1
  end
  if inline then return inline, i + 1 end
  if words[i + 1] == nil then usage(("'%s' needs a value (%s)"):format(spelling, option.arg or "VALUE"), st.node) end
  return words[i + 1], i + 2
end

-- Parses the option at words[i]; returns the next index.
local function take_option(st, words, i)
  local word = words[i]
  local vs = word:match("^%-(v+)$")
  local spelling, inline = word:match("^(%-%-[^=]+)=(.*)$")
  spelling = vs and "-v" or spelling or word
  local option, global = lookup(st, spelling)
  if not option then unknown(st, spelling) end
  if global and st.node and not st.node.subs and not allowed(st, option) then not_here(st, spelling) end
  if global then st.globals_given[#st.globals_given + 1] = { option = option, spelling = word } end
  if option.key == "help" then
    st.help = true
    return i + 1
  end
  if option.kind == "count" then
    st.opts[option.key] = math.min(option.max or 3, (st.opts[option.key] or 0) + (vs and #vs or 1))
    return i + 1
  end
  if option.kind == "flag" then
    if inline then usage(("'%s' takes no value"):format(spelling), st.node) end
    store(st, option, spelling, true)
    return i + 1
  end
  local value, nxt = value_of(st, words, i, option, spelling, inline)
  if value ~= true then value = convert(option, value, spelling, st.node) end
  store(st, option, spelling, value)
  return nxt
end

---------------------------------------------------------------------------- words

-- A word that is not an option: the command, the subcommand, or an argument. At the top, a
-- word that names no command ends the parse: it is the script.
local function take_word(st, words, i)
  local w = words[i]
  if not st.node then
    local cmd = st.spec.commands[w]
    if not cmd then
      st.script = i
      return #words + 1
    end
    st.node = cmd
  elseif st.node.subs then
    local sub = st.node.subs[w]
    if not sub then
      local names = sorted_keys(st.node.subs)
      usage(("unknown subcommand '%s' (one of: %s)%s"):format(w, table.concat(st.node.order or names, ", "),
        M.suggestion(w, names)), st.node)
    end
    st.node = sub
  else
    st.args[#st.args + 1] = w
  end
  return i + 1
end

-- Scope check for global options given before the command or script was known.
local function check_scope(st)
  for _, g in ipairs(st.globals_given) do
    if not allowed(st, g.option) then not_here(st, g.spelling) end
  end
end

-- Arguments: their count, then each converted.
-- A last spec with many = true takes every remaining argument (ID...).
local function check_args(st)
  local node = st.node
  local specs = node.args or {}
  local last = specs[#specs]
  local n = last and last.many and math.max(#specs, #st.args) or #specs
  for k = 1, n do
    local a, v = specs[k] or last, st.args[k]
    if v == nil and not a.optional and k <= #specs then usage(("missing argument %s"):format(a.name), node) end
    if v ~= nil and a.convert then st.args[k] = convert(a, v, a.what or a.name, node) end
  end
  if #st.args > n then usage(("unexpected argument '%s'"):format(st.args[n + 1]), node) end
end

local function parse(st, words)
  local i = 1
  while i <= #words do
    local w = words[i]
    if st.node and st.node.raw_args then -- every word after it is its argument, as typed
      for j = i, #words do st.args[#st.args + 1] = words[j] end
      return
    end
    if w == "--" then
      if not st.node then
        st.script = words[i + 1] and i + 1 or nil
        break
      end
      for j = i + 1, #words do take_word(st, words, j) end
      break
    elseif w:sub(1, 1) == "-" and w ~= "-" then
      i = take_option(st, words, i)
    else
      i = take_word(st, words, i)
    end
  end
  if st.help then return end
  local node = st.node
  if node and node.subs then
    usage(("missing subcommand (one of: %s)"):format(table.concat(node.order or sorted_keys(node.subs), ", ")), node)
  end
  check_scope(st)
  if node then check_args(st) end
end

-- True when --help or -h comes at or after words[i], before "--".
local function help_ahead(words, i)
  for j = i, #words do
    if words[j] == "--" then return false end
    if words[j] == "--help" or words[j] == "-h" then return true end
  end
  return false
end

function M.parse(words, spec)
  local st = { spec = spec, opts = {}, given = {}, order = {}, args = {}, globals_given = {} }
  local ok, err = pcall(parse, st, words)
  if not ok then
    if getmetatable(err) ~= M.Usage then error(err, 0) end
    if not help_ahead(words, 1) then error(err, 0) end
    st.help = true
  end
  return { node = st.node, opts = st.opts, given = st.given, order = st.order, args = st.args, script = st.script,
    help = st.help }
end

return M
