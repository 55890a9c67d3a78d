#include "harness.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedded.h"

/* ---------------------------------------------------------------- findings */

void fuzz_bug(const char *target, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "\n==== %s: FINDING: ", target);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  fflush(stderr);
  abort();
}

int fuzz_is_runtime_error(const char *msg) {
  static const char *const marks[] = {
      "attempt to",            /* index, call, arithmetic, compare, concatenate a wrong value */
      "bad argument",          /* a library function given what it does not take */
      "stack overflow",        /* unbounded recursion on nested input */
      "not enough memory",     /* a small input must not exhaust memory */
      "table index is",        /* nil or NaN as a key */
      "number has no integer representation",
      "invalid value (at index", /* table.concat over a non-string */
      "invalid order function",
      "string length overflow",
      NULL};
  for (const char *const *m = marks; *m; m++)
    if (strstr(msg, *m)) return 1;
  return 0;
}

/* ---------------------------------------------------------------- Lua edge coverage */

/* libFuzzer reads this section as extra 8-bit counters and clears it before every input, so a
 * pure-Lua reader steers the fuzzer as instrumented C code does. */
#define LUA_EDGES (1u << 16)
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t lua_edges[LUA_EDGES];
static uint32_t prev_location;

static uint32_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (uint32_t)x;
}

static void line_hook(lua_State *L, lua_Debug *ar) {
  if (!lua_getinfo(L, "S", ar)) return;
  uint32_t here = mix(((uint64_t)(uintptr_t)ar->source << 20) ^ (uint64_t)(unsigned)ar->currentline);
  uint8_t *c = &lua_edges[(here ^ (prev_location >> 1)) % LUA_EDGES];
  if (*c < 255) (*c)++;
  prev_location = here;
}

/* ---------------------------------------------------------------- the state */

static const char *current_target = "fuzz";

/* fuzz_bug(message) from a Lua driver: an invariant the driver checks did not hold. */
static int l_fuzz_bug(lua_State *L) {
  fuzz_bug(current_target, "%s", luaL_tolstring(L, 1, NULL));
}

lua_State *fuzz_lua_new(const char *target, int coverage) {
  current_target = target;
  lua_State *L = luaL_newstate();
  if (!L) fuzz_bug(target, "cannot create a Lua state");
  luaL_openlibs(L);
  embedded_install_preloads(L);
  lua_pushcfunction(L, l_fuzz_bug);
  lua_setglobal(L, "fuzz_bug");
  if (coverage) lua_sethook(L, line_hook, LUA_MASKLINE, 0);
  return L;
}

int fuzz_lua_driver(lua_State *L, const char *target, const char *driver) {
  if (luaL_loadbufferx(L, driver, strlen(driver), target, "t") != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
    fuzz_bug(target, "the driver does not load: %s", lua_tostring(L, -1));
  if (!lua_isfunction(L, -1)) fuzz_bug(target, "the driver returned no function");
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

void fuzz_lua_run(lua_State *L, const char *target, int driver_ref, const uint8_t *data, size_t size) {
  int top = lua_gettop(L);
  prev_location = 0;
  lua_pushcfunction(L, traceback);
  lua_rawgeti(L, LUA_REGISTRYINDEX, driver_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, top + 1) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (!msg) msg = "(no message)";
    if (fuzz_is_runtime_error(msg)) fuzz_bug(target, "runtime error instead of a clean answer:\n%s", msg);
  }
  lua_settop(L, top);
  fuzz_lua_tick(L);
}

void fuzz_lua_tick(lua_State *L) {
  static unsigned runs;
  if (++runs % 256 == 0) lua_gc(L, LUA_GCCOLLECT, 0);
}
