-- core.os: private files handed back as io handles (0600, never through a symbolic link, wider
-- modes reported and tightened for writing), private directories (0700), the pid, and a line
-- read with echo off (checked in a tmux pane) or from a pipe.
local core = require "smartlead.core"
local proc = require "proc"
local tmux = require "tmux"

local q = proc.q
local os_ = core.os

local function mode_of(path)
  local p = assert(io.popen("stat -c %a " .. q(path)))
  local m = p:read("l")
  p:close()
  return m
end

local function sh_ok(cmd) assert(os.execute(cmd), cmd) end

describe("core.os", function()
  local tmp
  before_each(function() tmp = proc.mktemp() end)
  after_each(function() proc.rmtree(tmp) end)

  describe("open_private", function()
    it("creates a file 0600 and hands back an io file handle that io's methods work on", function()
      local path = tmp .. "/new"
      local f, widened = assert(os_.open_private(path, "w"))
      assert.is_nil(widened)
      assert.equal("file", io.type(f))
      assert(f:write("one\n", 2, "\n"))
      assert.is_true(f:close())
      assert.equal("closed file", io.type(f))
      assert.has_error(function() f:close() end, "attempt to use a closed file")
      assert.equal("600", mode_of(path))
      assert.equal("one\n2\n", proc.read(path))
      do
        local g <close> = assert(os_.open_private(path, "r"))
        assert.equal("one", g:read("l"))
      end
    end)

    it("creates 0600 whatever the umask (build/smartlua under umask 000)", function()
      local path = tmp .. "/umask0"
      local r = proc.sh(("umask 000 && %s -e %s"):format(q(proc.BIN),
        q(("assert(require('smartlead.core').os.open_private(%q, 'a')):close()"):format(path))))
      assert.equal(0, r.code, r.err)
      assert.equal("600", mode_of(path))
    end)

    it("follows io.open's modes: w empties, a appends, r+ and w+ read and write, r does not create", function()
      local path = proc.write(tmp .. "/f", "old text\n")
      sh_ok("chmod 600 " .. q(path))
      assert(os_.open_private(path, "ab")):write("more\n"):close()
      assert.equal("old text\nmore\n", proc.read(path))
      local f = assert(os_.open_private(path, "r+"))
      assert.equal("old", f:read(3))
      f:seek("set")
      f:write("OLD")
      f:close()
      assert.equal("OLD text\nmore\n", proc.read(path))
      f = assert(os_.open_private(path, "w+b"))
      f:write("fresh")
      f:seek("set")
      assert.equal("fresh", f:read("a"))
      f:close()
      assert.equal("fresh", proc.read(path))
      local none, err = os_.open_private(tmp .. "/absent", "r")
      assert.is_nil(none)
      assert.equal(tmp .. "/absent: No such file or directory", err)
      assert.is_false(proc.exists(tmp .. "/absent"))
    end)

    it("wx creates only a new file", function()
      local path = tmp .. "/x"
      assert(os_.open_private(path, "wx")):close()
      local f, err = os_.open_private(path, "wbx")
      assert.is_nil(f)
      assert.equal(path .. ": File exists", err)
    end)

    it("refuses a symbolic link, for writing and for reading, even a dangling one", function()
      local target = proc.write(tmp .. "/target", "keep\n")
      sh_ok(("ln -s target %s && ln -s nowhere %s"):format(q(tmp .. "/link"), q(tmp .. "/dangling")))
      for _, mode in ipairs { "w", "a", "r+", "wx" } do
        local f, err = os_.open_private(tmp .. "/link", mode)
        assert.is_nil(f)
        assert.equal(tmp .. "/link is a symbolic link; refusing to write through it", err)
      end
      local f, err = os_.open_private(tmp .. "/link", "rb")
      assert.is_nil(f)
      assert.equal(tmp .. "/link is a symbolic link; refusing to read through it", err)
      f, err = os_.open_private(tmp .. "/dangling", "a")
      assert.is_nil(f)
      assert.equal(tmp .. "/dangling is a symbolic link; refusing to write through it", err)
      assert.equal("keep\n", proc.read(target))
      assert.is_false(proc.exists(tmp .. "/nowhere"))
    end)

    it("is_symlink tells a link (even a dangling one) from a file, a directory or nothing", function()
      proc.write(tmp .. "/file", "")
      sh_ok(("ln -s file %s && ln -s nowhere %s"):format(q(tmp .. "/link"), q(tmp .. "/dangling")))
      assert.is_true(os_.is_symlink(tmp .. "/link"))
      assert.is_true(os_.is_symlink(tmp .. "/dangling"))
      assert.is_false(os_.is_symlink(tmp .. "/file"))
      assert.is_false(os_.is_symlink(tmp))
      assert.is_false(os_.is_symlink(tmp .. "/absent"))
      assert.has_error(function() os_.is_symlink() end)
    end)

    it("refuses what is not a regular file (a directory, a FIFO) without blocking", function()
      sh_ok("mkfifo " .. q(tmp .. "/fifo"))
      for _, c in ipairs { { tmp, "r" }, { tmp .. "/fifo", "r" }, { tmp .. "/fifo", "w" }, { tmp .. "/fifo", "a" } } do
        local f, err = os_.open_private(c[1], c[2])
        assert.is_nil(f)
        assert.equal(c[1] .. ": not a regular file", err)
      end
    end)

    it("reports an existing file's wider mode: tightened to 0600 for writing, left as is for reading", function()
      local path = proc.write(tmp .. "/wide", "x\n")
      sh_ok("chmod 644 " .. q(path))
      local f, widened = assert(os_.open_private(path, "r"))
      f:close()
      assert.equal("0644", widened)
      assert.equal("644", mode_of(path))
      f, widened = assert(os_.open_private(path, "a"))
      f:close()
      assert.equal("0644", widened)
      assert.equal("600", mode_of(path))
      assert.equal("x\n", proc.read(path))
      f, widened = assert(os_.open_private(path, "a"))
      f:close()
      assert.is_nil(widened)
      sh_ok("chmod 700 " .. q(path)) -- an execute bit is wider too
      f, widened = assert(os_.open_private(path, "w"))
      f:close()
      assert.equal("0700", widened)
      assert.equal("600", mode_of(path))
    end)

    it("raises on a bad mode or path", function()
      assert.has_error(function() os_.open_private(tmp .. "/f", "rw") end)
      assert.has_error(function() os_.open_private(tmp .. "/f", "x") end)
      assert.has_error(function() os_.open_private(tmp .. "/f") end)
      assert.has_error(function() os_.open_private("", "w") end)
      assert.has_error(function() os_.open_private(tmp .. "/f\0.txt", "w") end)
      assert.has_error(function() os_.open_private({}, "w") end)
      assert.is_false(proc.exists(tmp .. "/f"))
    end)
  end)

  describe("mkdir_private", function()
    it("creates every missing directory 0700 (build/smartlua under umask 000) and accepts existing ones", function()
      local dir = tmp .. "/a/b/c"
      local r = proc.sh(("umask 000 && %s -e %s"):format(q(proc.BIN),
        q(("assert(require('smartlead.core').os.mkdir_private(%q))"):format(dir .. "/"))))
      assert.equal(0, r.code, r.err)
      for _, d in ipairs { "/a", "/a/b", "/a/b/c" } do assert.equal("700", mode_of(tmp .. d)) end
      sh_ok("chmod 755 " .. q(tmp .. "/a"))
      assert.is_true(os_.mkdir_private(dir))
      assert.is_true(os_.mkdir_private(tmp))
      assert.equal("755", mode_of(tmp .. "/a")) -- an existing directory is the user's: left as it is
    end)

    it("refuses a symbolic link as the last directory, follows one on the way", function()
      sh_ok(("mkdir %s && ln -s real %s"):format(q(tmp .. "/real"), q(tmp .. "/link")))
      local ok, err = os_.mkdir_private(tmp .. "/link")
      assert.is_nil(ok)
      assert.equal(tmp .. "/link is a symbolic link; refusing to use it as a private directory", err)
      assert.is_true(os_.mkdir_private(tmp .. "/link/inside"))
      assert.equal("700", mode_of(tmp .. "/real/inside"))
    end)

    it("says which part is in the way", function()
      proc.write(tmp .. "/file", "")
      local ok, err = os_.mkdir_private(tmp .. "/file/sub")
      assert.is_nil(ok)
      assert.equal("cannot create " .. tmp .. "/file: it exists and is not a directory", err)
      ok, err = os_.mkdir_private("/proc/smartlua-spec/x")
      assert.is_nil(ok)
      assert.matches("^cannot create /proc/smartlua%-spec: ", err)
      assert.has_error(function() os_.mkdir_private("") end)
    end)
  end)

  describe("getpid", function()
    it("is this process's id, as /proc/self/stat gives it", function()
      local f = assert(io.open("/proc/self/stat"))
      local pid = math.tointeger(f:read("n"))
      f:close()
      assert.equal(pid, os_.getpid())
    end)

    it("is build/smartlua's own id (the shell's $$ before exec)", function()
      local cmd = ("echo $$; exec %s -e %s"):format(q(proc.BIN), q("print(require('smartlead.core').os.getpid())"))
      local r = proc.sh("sh -c " .. q(cmd))
      assert.equal(0, r.code, r.err)
      assert.equal(r.lines[1], r.lines[2])
    end)
  end)

  describe("read_secret", function()
    local function script(body)
      return proc.write(tmp .. "/read.lua", "local core = require 'smartlead.core'\n" .. body)
    end

    it("reads one line from a pipe without a prompt, leaving the rest of stdin", function()
      local s = script [[
        print(core.os.read_secret("secret: "))
        print(io.read("l"))
        print(core.os.read_secret("again: "))
        print(core.os.read_secret("eof: "))
      ]]
      local r = proc.sh(("printf 'pw one\\r\\nnext\\nlast' | %s %s"):format(q(proc.BIN), q(s)))
      assert.equal(0, r.code, r.err)
      assert.same({ "pw one", "next", "last", "nil\tend of input" }, r.lines)
      assert.equal("", r.err)
    end)

    it("refuses a line longer than 4095 bytes and reads on after it", function()
      local s = script [[
        print(core.os.read_secret("secret: "))
        print(core.os.read_secret("secret: "))
      ]]
      local long = tmp .. "/long"
      proc.write(long, ("k"):rep(5000) .. "\nshort\n")
      local r = proc.sh(("%s %s < %s"):format(q(proc.BIN), q(s), q(long)))
      assert.same({ "nil\tthe line is longer than 4095 bytes", "short" }, r.lines)
    end)

    it("raises when the prompt is not a string", function()
      assert.has_error(function() os_.read_secret() end)
    end)

    describe("on a terminal (tmux)", function()
      local pane
      after_each(function()
        if pane then pane:kill() end
        pane = nil
      end)

      -- Runs the script in a pane, then prints its exit status and whether echo is on. The shell
      -- traps SIGINT (a handler, not an ignore, so the program starts with the default) so that
      -- a Ctrl-C the program dies of does not end the shell too.
      local function start(body)
        local s = script(body)
        pane = tmux.start(("trap : INT; %s %s; echo \"rc=$?\"; "
          .. "stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?echo'"):format(
          q(proc.BIN), q(s)))
        pane:wait_for("secret: ", 10, true)
      end

      it("prompts on the terminal, does not echo what is typed, reads the line, restores echo", function()
        start [[print(("got [%s]"):format(core.os.read_secret("secret: ")))]]
        pane:line("hidden-pw-42")
        local screen = pane:wait_for("rc=0\necho\n", 10, true)
        assert.truthy(screen:find("got [hidden-pw-42]", 1, true))
        local _, shown = screen:gsub("hidden%-pw%-42", "")
        assert.equal(1, shown) -- only the program's own print, never the echo of the typing
      end)

      it("restores echo when Ctrl-C ends the prompt, then Ctrl-C acts as it would have", function()
        start [[core.os.read_secret("secret: ") print("not reached")]]
        pane:send("half-typed")
        pane:key("C-c")
        local screen = pane:wait_for("rc=130\necho\n", 10, true)
        assert.falsy(screen:find("not reached", 1, true))
        assert.falsy(screen:find("half-typed", 1, true))
      end)

      it("restores echo at end of input (Ctrl-D)", function()
        start [[print(core.os.read_secret("secret: "))]]
        pane:key("C-d")
        pane:wait_for("nil%s+end of input")
        pane:wait_for("rc=0\necho\n", 10, true)
      end)
    end)
  end)
end)
