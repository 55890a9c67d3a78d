/* fuzz_journal: the journal reader (lua/smartlead/journal.lua, `parse`, which `smartlua undo`
 * and `--resume` read through) over arbitrary text. It answers records or nil and
 * "line N is not a journal record: why"; a Lua runtime error is a finding. What it accepts is
 * what undo and resume rely on (journal.check_op for every intent, integer seqs, a status for
 * every result), indexes without error, and reads back the same once written again as
 * journal.repair writes it. */
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

static const char DRIVER[] =
    "local journal = require 'smartlead.journal'\n"
    "local json = require 'smartlead.json'\n"
    "return function(text)\n"
    "  local records, err = journal.parse(text)\n"
    "  if not records then\n"
    "    if type(err) ~= 'string' or not err:match('^line %d+ is not a journal record: .') then\n"
    "      fuzz_bug('parse failed without a clear message: ' .. tostring(err))\n"
    "    end\n"
    "    return\n"
    "  end\n"
    "  local lines = {}\n"
    "  for i, r in ipairs(records) do\n"
    "    if type(r.type) ~= 'string' then fuzz_bug('a record without a type') end\n"
    "    if r.type == 'intent' then\n"
    "      local ok, why = journal.check_op(r)\n"
    "      if not ok then fuzz_bug('an intent that undo cannot read was accepted: ' .. why) end\n"
    "    end\n"
    "    if (r.type == 'intent' or r.type == 'result') and math.type(r.seq) ~= 'integer' then fuzz_bug('a seq that is not an integer') end\n"
    "    if r.type == 'result' and type(r.status) ~= 'string' then fuzz_bug('a result without a status') end\n"
    "    lines[i] = json.encode(r)\n"
    "  end\n"
    "  local idx = journal.index(records)\n"
    "  for _, seq in ipairs(idx.order) do\n"
    "    if not idx.by_seq[seq].intent then fuzz_bug('an indexed seq without its intent') end\n"
    "  end\n"
    "  local again, aerr = journal.parse(table.concat(lines, '\\n') .. (#lines > 0 and '\\n' or ''))\n"
    "  if not again then fuzz_bug('records written again do not read back: ' .. aerr) end\n"
    "  if #again ~= #records then fuzz_bug(('%d records read back as %d'):format(#records, #again)) end\n"
    "  if journal.index(again).max_seq ~= idx.max_seq then fuzz_bug('max_seq changed on the way back') end\n"
    "end\n";

static lua_State *L;
static int driver;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  L = fuzz_lua_new("fuzz_journal", 1);
  driver = fuzz_lua_driver(L, "fuzz_journal", DRIVER);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lua_run(L, "fuzz_journal", driver, data, size);
  return 0;
}
