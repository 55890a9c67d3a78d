/* fuzz_plan: the plan reader behind `smartlua apply FILE` (lua/smartlead/plan.lua, `decode`, which
 * `load` calls on the file's text) over arbitrary text, then what apply does with a plan before
 * it sends anything: totals (the --max-changes check), lines (the plan it prints), and the
 * account ids it re-reads. The answer is a plan or nil and "SOURCE: why"; a Lua runtime error
 * anywhere is a finding. A plan that reads saves and reads back (secrets become *** on the first
 * save; from then on the printed plan is the same line for line). */
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

static const char DRIVER[] =
    "local planlib = require 'smartlead.plan'\n"
    "return function(text)\n"
    "  local p, err = planlib.decode(text, 'fuzz.json')\n"
    "  if not p then\n"
    "    if type(err) ~= 'string' or err:sub(1, 11) ~= 'fuzz.json: ' then\n"
    "      fuzz_bug('decode failed without a clear message: ' .. tostring(err))\n"
    "    end\n"
    "    return\n"
    "  end\n"
    "  local totals = p:totals()\n"
    "  if math.type(totals.accounts) ~= 'integer' or totals.changes < 0 then fuzz_bug('bad totals') end\n"
    "  local lines = p:lines()\n"
    "  for id in pairs(p:account_ids()) do local _ = p:label(id) end\n"
    "  local q, qerr = planlib.decode(p:encode { script = 'fuzz.lua' }, 'again')\n"
    "  if not q then fuzz_bug('a plan that was read does not read back once saved: ' .. qerr) end\n"
    "  if #q:lines() ~= #lines then fuzz_bug(('%d plan lines became %d'):format(#lines, #q:lines())) end\n"
    "  -- saving replaces secrets by ***; from then on a plan reads back exactly\n"
    "  local r = assert(planlib.decode(q:encode { script = 'fuzz.lua' }, 'again'))\n"
    "  local a, b = q:lines(), r:lines()\n"
    "  for i = 1, math.max(#a, #b) do\n"
    "    if a[i] ~= b[i] then fuzz_bug(('plan line %d changed: %s -> %s'):format(i, a[i], b[i])) end\n"
    "  end\n"
    "end\n";

static lua_State *L;
static int driver;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  L = fuzz_lua_new("fuzz_plan", 1);
  driver = fuzz_lua_driver(L, "fuzz_plan", DRIVER);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lua_run(L, "fuzz_plan", driver, data, size);
  return 0;
}
