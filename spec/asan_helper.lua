-- busted --helper for spec/run.sh's asan suite. lua5.4 runs with the ASan runtime in
-- LD_PRELOAD (so the instrumented core.so can load); the programs the specs start (sh, make,
-- script, tmux, build-asan/smartlua) must not inherit it, or LeakSanitizer would judge them too.
local function clean(cmd)
  return cmd and ("unset LD_PRELOAD; " .. cmd)
end

local execute, popen = os.execute, io.popen
os.execute = function(cmd) return execute(clean(cmd)) end -- luacheck: ignore 122
io.popen = function(cmd, mode) return popen(clean(cmd), mode) end -- luacheck: ignore 122
