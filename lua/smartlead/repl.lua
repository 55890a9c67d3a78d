-- The REPL: `smartlua` with no script, or `smartlua -i`. Line editing, history and Ctrl-C come
-- from the host's libedit binding (smartlead.readline, src/repl.c); evaluation, printing,
-- completion and :commands are here.
local core = require "smartlead.core"

local M = {}

local KEYWORDS = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
  "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while" }

-- ---------------------------------------------------------------- completion

-- The __index table of v, or an object's own list of its methods (a Client's __methods()).
local function method_table(v)
  local mt = getmetatable(v)
  if type(mt) ~= "table" then return nil end
  local index = rawget(mt, "__index")
  if type(index) == "table" then return index end
  local list = rawget(mt, "__methods")
  if type(list) == "function" then return list() end
end

-- A field reachable without running any code but an object's own method list: the raw field,
-- else the __index table's.
local function field(v, k)
  if type(v) == "table" then
    local x = rawget(v, k)
    if x ~= nil then return x end
  end
  local index = method_table(v)
  if index then return rawget(index, k) end
end

-- Identifier keys of v and of its __index table; methods_only keeps functions (after ':').
local function names_of(v, methods_only)
  local out = {}
  local function add(t)
    for k, x in next, t do
      if type(k) == "string" and k:match("^[%a_][%w_]*$") and (not methods_only or type(x) == "function") then
        out[k] = true
      end
    end
  end
  if type(v) == "table" then add(v) end
  local index = method_table(v)
  if index then add(index) end
  return out
end

-- Walks "a.b.c" from the globals; nil when any step is missing or not a plain name.
local function resolve(path)
  local v = _G
  for name in path:gmatch("[^%.:]+") do
    if not name:match("^[%a_][%w_]*$") then return nil end
    v = field(v, name)
    if v == nil then return nil end
  end
  return v
end

-- The operation whose argument table `line` ends inside, at a key: "sl:update_email_account(1, {max_e"
-- and "sl:get_email_accounts{ es" -> the registry row; nil elsewhere.
local function table_argument_of(line, word)
  local before = line:sub(1, #line - #word)
  if not before:match("[{,]%s*$") then return nil end
  -- the innermost '{' left open, outside strings (a rough scan: quotes are skipped whole)
  local stack, i = {}, 1
  while i <= #before do
    local c = before:sub(i, i)
    if c == '"' or c == "'" then
      local j = i + 1
      while j <= #before and before:sub(j, j) ~= c do j = j + (before:sub(j, j) == "\\" and 2 or 1) end
      i = j
    elseif c == "{" then stack[#stack + 1] = i
    elseif c == "}" then stack[#stack] = nil end
    i = i + 1
  end
  local open = stack[#stack]
  if not open or #stack > 1 then return nil end -- a nested table is another thing's fields
  local head = before:sub(1, open - 1)
  local name = head:match("[:.]([%a_][%w_]*)%s*%([^()]*$") or head:match("[:.]([%a_][%w_]*)%s*$")
  return name and require("smartlead.operations").get(name)
end

-- The words that can replace `word` (globals, keywords, fields after '.', methods after ':',
-- and inside an operation's argument table the fields its registry row takes).
function M.complete(word, line)
  local found = {}
  local row = line and word:match("^[%a_][%w_]*$") and table_argument_of(line, word)
  if row then
    for _, f in ipairs(row.fields or {}) do
      for _, n in ipairs { f.name, f.alias } do
        if n and n:sub(1, #word) == word then found[#found + 1] = n end
      end
    end
    table.sort(found)
    return found
  end
  local base, sep, partial = word:match("^(.*)([%.:])([%w_]*)$")
  if base then
    local v = base ~= "" and resolve(base) or nil
    if v == nil then return found end
    for k in pairs(names_of(v, sep == ":")) do
      if k:sub(1, #partial) == partial then found[#found + 1] = base .. sep .. k end
    end
  else
    for k in pairs(names_of(_G)) do
      if k:sub(1, #word) == word then found[#found + 1] = k end
    end
    for _, k in ipairs(KEYWORDS) do
      if k:sub(1, #word) == word then found[#found + 1] = k end
    end
  end
  table.sort(found)
  return found
end

-- ---------------------------------------------------------------- evaluation and printing

local Session = {}
Session.__index = Session

local function incomplete(err) return err and err:match("<eof>$") ~= nil end

-- Compiles a chunk: an expression first (so `sl:get_email_account(3001)` prints its value),
-- else statements. Returns fn, or nil, err.
local function compile(src)
  local expr = src:gsub("^%s*=", "")
  local f = load("return " .. expr, "=stdin", "t")
  if f then return f end
  return load(src, "=stdin", "t")
end

local function show_value(v, color)
  local ok, text = pcall(function() return require("smartlead.show").format(v, { color = color }) end)
  if ok then return text end
  if v == require("smartlead.json").null then return "null" end
  return tostring(v)
end

-- One line for an error: the message (key masked), without the traceback; a misspelt method
-- gets a suggestion.
local function error_line(err)
  local text = type(err) == "string" and err or tostring(err)
  return core.mask(require("smartlead.help").with_suggestion(text:match("^[^\n]*")))
end

local function is_api_error(v)
  return type(v) == "table" and getmetatable(v) == require("smartlead").Error
end

function Session:print_results(res)
  -- an endpoint's `nil, err` is a failed call: one line, the fields on :trace
  if res.n == 3 and res[2] == nil and is_api_error(res[3]) then
    self.last_error = show_value(res[3])
    self.err:write("error: ", error_line(res[3]), self.tty and "   (:trace for the details)\n" or "\n")
    _G._ = res[3] -- the error object itself, as the call returned it
    return
  end
  local color = self.tty and require("smartlead.show").default_color()
  local last = res.n -- an endpoint's answer comes with a nil error: not worth a line
  while last > 2 and res[last] == nil do last = last - 1 end
  for i = 2, last do io.stdout:write(core.mask(show_value(res[i], color)), "\n") end
  if res.n >= 2 then _G._ = res[2] end -- the last result, like a calculator's ans
  io.stdout:flush()
end

-- ---------------------------------------------------------------- the session

local function state_dir()
  local base = os.getenv("XDG_STATE_HOME")
  if not base or base == "" then
    local home = os.getenv("HOME")
    if not home or home == "" then return nil end
    base = home .. "/.local/state"
  end
  return base .. "/smartlua"
end

local function secret_name(name)
  local n = name:lower()
  return n:find("pass", 1, true) or n:find("secret", 1, true) or n:find("token", 1, true) or n:find("key$")
      or n:find("api_?key")
end

-- src with the contents of every string literal (quoted or long-bracket) replaced by ***.
local function blank_strings(src)
  local out, i, n = {}, 1, #src
  while i <= n do
    local c = src:sub(i, i)
    local eq = c == "[" and src:match("^%[(=*)%[", i)
    if c == '"' or c == "'" then
      local j = i + 1
      while j <= n and src:sub(j, j) ~= c do j = j + (src:sub(j, j) == "\\" and 2 or 1) end
      out[#out + 1], i = c .. "***" .. c, j + 1
    elseif eq then
      local _, close = src:find("]" .. eq .. "]", i + #eq + 2, true)
      out[#out + 1], i = "[" .. eq .. "[***]" .. eq .. "]", (close or n) + 1
    else
      out[#out + 1], i = c, i + 1
    end
  end
  return table.concat(out)
end

-- The chunk as history keeps it: every key the process knows masked, and when it names a
-- secret (api_key, password, token, my_key...), every string literal in it too, known or not.
local function history_text(entry)
  for word in entry:gmatch("[%a_][%w_]*") do
    if secret_name(word) then return core.mask(blank_strings(entry)) end
  end
  return core.mask(entry)
end

function Session:remember(entry)
  -- masked before it reaches libedit, so neither memory nor the file ever holds a key
  self.rl.add_history(history_text(entry))
  if self.history then
    local ok, err = self.rl.save_history(self.history)
    if not ok and not self.history_warned then
      self.history_warned = true
      io.stderr:write("smartlua: history not saved: ", tostring(err), "\n")
    end
  end
end

function Session:command(line)
  local name, rest = line:match("^%s*:(%a*)%s*(.-)%s*$")
  local help = require "smartlead.help"
  if name == "help" or name == "h" then
    local text = rest == "" and help.overview() or help.topic(rest)
    io.stdout:write(text or help.unknown(rest), "\n")
  elseif name == "trace" then
    io.stdout:write(self.last_error and core.mask(self.last_error) or "no error yet", "\n")
  elseif name == "quit" or name == "q" then
    return "quit"
  else
    io.stdout:write(("unknown command ':%s' (try :help)\n"):format(name))
  end
end

-- Evaluates a chunk and prints its values or its error. -> true | false (it failed)
function Session:evaluate(src)
  local f, err = compile(src)
  if not f then
    self.err:write(error_line(err), "\n")
    return false
  end
  local res = table.pack(self.rl.protect(f))
  local aborted = self.rl.cancelled and self.rl.cancelled() or 0
  if res[1] then
    self:print_results(res)
    local failed = res.n == 3 and res[2] == nil and is_api_error(res[3])
    if aborted > 0 and not failed then -- the aborted calls' errors went to variables, or nowhere
      self.err:write(("cancelled by Ctrl-C: %d request%s aborted\n"):format(aborted,
        aborted == 1 and " was" or "s were"))
    end
    return not failed
  end
  local details = is_api_error(res[2]) and show_value(res[2]) or error_line(res[2])
  self.last_error = details .. "\n" .. tostring(res[3])
  self.err:write(error_line(res[2]), self.tty and "   (:trace for the traceback)\n" or "\n")
  return false
end

-- Reads until a chunk is complete; returns the chunk, or nil at end of input.
function Session:read_chunk()
  local buffer
  while true do
    local line, why = self.rl.readline(buffer and ">> " or "> ")
    if not line and why == "interrupted" then -- Ctrl-C at the prompt drops the line
      io.stdout:write("^C\n")
      buffer = nil
    elseif not line then
      return nil
    elseif not buffer and line:match("^%s*:") then
      return line
    else
      buffer = buffer and (buffer .. "\n" .. line) or line
      local f, err = compile(buffer)
      if f or not incomplete(err) then return buffer end
    end
  end
end

local function make_client()
  local sl = require "smartlead"
  _G.smartlead = sl
  if _G.policy == nil then _G.policy = sl.policy end -- as :help policy.NAME writes it
  local ok, client = pcall(sl.client)
  if ok then _G.sl = client end
  return ok, client
end

local function banner(ok, client)
  local sl = require "smartlead"
  local target = ok and ("client ready as `sl` (%s)"):format(client:base_url()) or
    ("no client: %s"):format(error_line(client))
  io.stdout:write(("smartlua %s -- %s\n:help for help, Ctrl-D to leave\n"):format(sl.VERSION, target))
end

-- The line source when stdin is not a terminal (smartlua -i < file): lines as lua.c's REPL
-- reads them, no editing, no prompt, no history; Ctrl-C is the shell's.
local plain = {
  readline = function() local line = io.stdin:read("l") return line, line == nil and "eof" or nil end,
  protect = function(f) return xpcall(f, function(e) return e end) end,
}

-- stdin that is not a terminal (smartlua -i < file, a pipe): read line by line as lua.c's REPL
-- does, each chunk evaluated and its values printed; errors on stderr. -> true | false when a
-- chunk failed (exit 1).
local function run_lines()
  local session = setmetatable({ rl = plain, err = io.stderr, tty = false }, Session)
  make_client()
  local good = true
  while true do
    local chunk = session:read_chunk()
    if not chunk then break end
    if chunk:match("^%s*:") then
      if session:command(chunk) == "quit" then break end
    elseif chunk:match("%S") then
      good = session:evaluate(chunk) and good
    end
  end
  io.stdout:flush()
  return good
end

-- The REPL: line editing on a terminal (tty), else lines read from stdin. -> true | false
function M.run(tty)
  if not tty then return run_lines() end
  local session = setmetatable({ rl = require("smartlead.readline"), err = io.stdout, tty = true }, Session)
  local dir = state_dir()
  session.history = dir and dir .. "/history"
  if session.history then session.rl.load_history(session.history) end
  session.rl.set_completer(M.complete)
  banner(make_client())
  while true do
    local chunk = session:read_chunk()
    if not chunk then io.stdout:write("\n") break end
    if chunk:match("%S") then
      if chunk:match("^%s*:") then
        session:remember(chunk)
        if session:command(chunk) == "quit" then break end
      else
        session:evaluate(chunk)
        session:remember(chunk) -- after: a key the chunk gave a client is known to core.mask now
      end
    end
  end
  return true
end

return M
