-- Shared by host_spec, config_spec and install_spec: running build/smartlua (and other programs)
-- as child processes through the shell, with captured stdout, stderr and exit code, and temp
-- directories that are removed afterwards. Works under stock lua5.4 and inside build/smartlua.
local M = {}

local function read_line(cmd)
  local p = assert(io.popen(cmd, "r"))
  local line = p:read("l")
  p:close()
  return line
end

M.ROOT = read_line("pwd") -- busted runs from the repository root
-- SMARTLUA_BIN: the binary under test (spec/run.sh's asan suite points it at the ASan build)
M.BIN = os.getenv("SMARTLUA_BIN") or (M.ROOT .. "/build/smartlua")

-- Quotes s as one shell word.
function M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function M.write(path, text)
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  f:close()
  return path
end

function M.mktemp()
  local dir = read_line("mktemp -d /tmp/smartlua-spec.XXXXXX")
  assert(dir and dir:match("^/tmp/smartlua%-spec%."), "mktemp -d failed")
  return dir
end

function M.rmtree(dir)
  if dir and dir:match("^/tmp/smartlua%-spec%.") then os.execute("rm -rf " .. M.q(dir)) end
end

function M.exists(path)
  return os.execute("test -e " .. M.q(path)) == true
end

-- Runs a shell command line; returns {code=, out=, err=, lines=} (stdout split into lines).
-- stdin is /dev/null unless the command line redirects it itself.
function M.sh(cmdline)
  local dir = M.mktemp()
  local out, err = dir .. "/out", dir .. "/err"
  local ok, how, code = os.execute(("( %s ) </dev/null >%s 2>%s"):format(cmdline, M.q(out), M.q(err)))
  if how == "signal" then code = 128 + code end
  local r = { code = code, ok = ok == true, out = M.read(out) or "", err = M.read(err) or "" }
  M.rmtree(dir)
  r.lines = {}
  for l in r.out:gmatch("([^\n]*)\n") do r.lines[#r.lines + 1] = l end
  r.errlines = {}
  for l in r.err:gmatch("([^\n]*)\n") do r.errlines[#r.errlines + 1] = l end
  return r
end

-- Runs build/smartlua with the given arguments (each quoted) and an optional env prefix,
-- e.g. M.smartlua({"-e", "print(1)"}, "env -u SMARTLEAD_API_KEY").
function M.smartlua(args, env, bin)
  local words = {}
  for i, a in ipairs(args) do words[i] = M.q(a) end
  return M.sh(("%s %s %s"):format(env or "", M.q(bin or M.BIN), table.concat(words, " ")))
end

-- An environment in which no API key can be found: no SMARTLEAD_* variables, and an empty
-- config directory (the caller owns it).
function M.keyless_env(config_home)
  return ("env -u SMARTLEAD_API_KEY -u SMARTLEAD_BASE_URL XDG_CONFIG_HOME=%s HOME=%s"):format(
    M.q(config_home), M.q(config_home))
end

-- Sleeps a little (bounded polling loops).
function M.nap(seconds)
  os.execute("sleep " .. (seconds or 0.05))
end

return M
