-- Drives build/smartlua in a tmux pane, the way a person uses the REPL: keys in, screen out.
-- Every pane lives on a private tmux server (its own socket), killed when the spec is done.
local proc = require "proc"

local M = {}

local Pane = {}
Pane.__index = Pane

local counter = 0

local function tmux(socket, args)
  return proc.sh(("tmux -L %s %s"):format(socket, args))
end

-- M.start(command_line, {width=, height=}) -> pane; the command runs under sh in the repo root.
-- The pane stays after the program exits so its last screen and exit status can be read.
function M.start(cmdline, opts)
  opts = opts or {}
  counter = counter + 1
  local socket = ("smartlua-spec-%d-%d-%d"):format(os.time(), math.random(1, 1000000000), counter)
  local self = setmetatable({ socket = socket }, Pane)
  local r = tmux(socket, ("new-session -d -s main -x %d -y %d %s \\; set-option -t main remain-on-exit on"):format(
    opts.width or 150, opts.height or 50,
    proc.q("cd " .. proc.q(proc.ROOT) .. " && " .. cmdline .. '; echo "[exited $?]"')))
  assert(r.ok, "tmux did not start: " .. r.err)
  return self
end

-- Types keys: literal text, or tmux key names with {key=true} ("Enter", "Tab", "C-c", "C-d").
function Pane:send(text, key)
  local r = tmux(self.socket, ("send-keys -t main %s %s"):format(key and "" or "-l", proc.q(text)))
  assert(r.ok, "send-keys failed: " .. r.err)
end

function Pane:key(name) self:send(name, true) end

function Pane:line(text)
  self:send(text)
  self:key("Enter")
end

-- The screen and the scrollback, as text.
function Pane:capture()
  return tmux(self.socket, "capture-pane -p -J -S -500 -t main").out
end

-- Polls the screen until it matches the Lua pattern (plain=true: a plain find); bounded in
-- time. Returns the screen; fails the spec with the screen when the time runs out.
function Pane:wait_for(pattern, seconds, plain)
  local deadline = os.time() + (seconds or 10)
  local screen
  repeat
    screen = self:capture()
    if screen:find(pattern, 1, plain) then return screen end
    proc.nap(0.1)
  until os.time() > deadline
  error(("screen never showed %q; it shows:\n%s"):format(pattern, screen), 2)
end

-- How many times `text` appears on the screen.
function Pane:count(text)
  local n, from = 0, 1
  local screen = self:capture()
  while true do
    local i = screen:find(text, from, true)
    if not i then return n end
    n, from = n + 1, i + #text
  end
end

-- nil while the program runs, else its exit status (the start line prints it: tmux 3.3's
-- #{pane_dead_status} stays empty here).
function Pane:exit_status()
  local status = self:capture():match("%[exited (%d+)%]")
  return status and tonumber(status)
end

function Pane:wait_exit(seconds)
  local deadline = os.time() + (seconds or 10)
  repeat
    local s = self:exit_status()
    if s then return s end
    proc.nap(0.1)
  until os.time() > deadline
  error("the program did not exit; screen:\n" .. self:capture(), 2)
end

function Pane:kill()
  tmux(self.socket, "kill-server")
end

return M
