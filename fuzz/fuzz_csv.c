/* fuzz_csv: the CSV reader (lua/smartlead/csv.lua) over arbitrary text. A parse either gives
 * rows or "line N: why"; rows it gives come back unchanged through csv.encode and csv.parse. */
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

static const char DRIVER[] =
    "local csv = require 'smartlead.csv'\n"
    "local function check_err(what, err)\n"
    "  if type(err) ~= 'string' or not err:match('^line %d+: .') then\n"
    "    fuzz_bug(what .. ' failed without a \"line N: why\" message: ' .. tostring(err))\n"
    "  end\n"
    "end\n"
    "local function same_rows(a, b)\n"
    "  if #a ~= #b then return false, ('%d rows became %d'):format(#a, #b) end\n"
    "  for r = 1, #a do\n"
    "    if #a[r] ~= #b[r] then return false, ('row %d: %d fields became %d'):format(r, #a[r], #b[r]) end\n"
    "    for i = 1, #a[r] do\n"
    "      if a[r][i] ~= b[r][i] then return false, ('row %d field %d: %q became %q'):format(r, i, a[r][i], b[r][i]) end\n"
    "    end\n"
    "  end\n"
    "  return true\n"
    "end\n"
    "return function(text)\n"
    "  local rows, lines = csv.parse(text)\n"
    "  if not rows then check_err('parse', lines) else\n"
    "    local last = 0\n"
    "    for r, row in ipairs(rows) do\n"
    "      if #row ~= #rows[1] then fuzz_bug('rows of different widths were accepted') end\n"
    "      for _, f in ipairs(row) do if type(f) ~= 'string' then fuzz_bug('a field is not a string') end end\n"
    "      if math.type(lines[r]) ~= 'integer' or lines[r] <= last then fuzz_bug('line numbers do not increase') end\n"
    "      last = lines[r]\n"
    "    end\n"
    "    for _, eol in ipairs { '\\r\\n', '\\n' } do\n"
    "      local again, err = csv.parse(csv.encode(rows, { eol = eol }))\n"
    "      if not again then fuzz_bug('what parse gave does not parse once encoded: ' .. err) end\n"
    "      local ok, why = same_rows(rows, again)\n"
    "      if not ok then fuzz_bug('encode -> parse changed the rows: ' .. why) end\n"
    "    end\n"
    "  end\n"
    "  local records, header = csv.records(text)\n"
    "  if not records then check_err('records', header)\n"
    "  elseif not rows or #records ~= #rows - 1 then fuzz_bug('records and parse disagree') end\n"
    "end\n";

static lua_State *L;
static int driver;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  L = fuzz_lua_new("fuzz_csv", 1);
  driver = fuzz_lua_driver(L, "fuzz_csv", DRIVER);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lua_run(L, "fuzz_csv", driver, data, size);
  return 0;
}
