/* fuzz_json: src/json_bridge.c (lua-cjson behind the layer; cjson is found by `require` in the
 * harness's state, as in the shipped binary) over arbitrary bytes. A failed decode leaves the
 * stack as it was and says where; what decodes encodes again, decodes to the same value
 * (integers stay integers of the same value, arrays stay arrays, null stays null, strings stay
 * valid UTF-8), and the second encoding is the first one's text. Integers never go out in
 * exponent form. */
#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "harness.h"
#include "json.h"
#include "validate.h"

#define T "fuzz_json"

static lua_State *L;

static int is_array(lua_State *L, int idx) {
  int yes = 0;
  if (lua_getmetatable(L, idx)) {
    json_push_array_mt(L);
    yes = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
  }
  return yes;
}

/* An integer, or an integral float below 10^21, is written as plain digits. */
static void check_number_text(lua_State *L, int idx) {
  lua_Number n = lua_tonumber(L, idx);
  int must_be_plain = lua_isinteger(L, idx) || (n == floor(n) && fabs(n) < 1e21);
  if (!must_be_plain) return;
  buf_t out;
  buf_init(&out);
  char err[256];
  if (!json_encode(L, idx, &out, err, sizeof err)) fuzz_bug(T, "a number does not encode: %s", err);
  for (size_t i = 0; i < out.len; i++)
    if (!(out.data[i] == '-' || (out.data[i] >= '0' && out.data[i] <= '9')))
      fuzz_bug(T, "integer %s encoded as %s (not plain digits)", lua_tostring(L, idx), out.data);
  buf_free(&out);
}

/* a (from the first decode) and b (from decoding its encoding) hold the same value. */
static void same_value(lua_State *L, int a, int b, int depth) {
  int ta = lua_type(L, a), tb = lua_type(L, b);
  if (ta != tb) fuzz_bug(T, "a %s came back as a %s", lua_typename(L, ta), lua_typename(L, tb));
  switch (ta) {
    case LUA_TNUMBER:
      if (lua_isinteger(L, a) && !lua_isinteger(L, b)) fuzz_bug(T, "integer %s came back as a float", lua_tostring(L, a));
      if (lua_tonumber(L, a) != lua_tonumber(L, b) && !(isnan(lua_tonumber(L, a)) && isnan(lua_tonumber(L, b))))
        fuzz_bug(T, "number %.17g came back as %.17g", lua_tonumber(L, a), lua_tonumber(L, b));
      if (lua_isinteger(L, a) && lua_tointeger(L, a) != lua_tointeger(L, b)) fuzz_bug(T, "integer changed");
      check_number_text(L, a);
      return;
    case LUA_TSTRING: {
      size_t la, lb;
      const char *sa = lua_tolstring(L, a, &la), *sb = lua_tolstring(L, b, &lb);
      if (la != lb || memcmp(sa, sb, la) != 0) fuzz_bug(T, "a string changed");
      if (!valid_utf8(sa, la)) fuzz_bug(T, "a decoded string is not valid UTF-8");
      return;
    }
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, a) != lua_toboolean(L, b)) fuzz_bug(T, "a boolean changed");
      return;
    case LUA_TLIGHTUSERDATA:
      if (!json_is_null(L, a) || !json_is_null(L, b)) fuzz_bug(T, "a light userdata that is not json.null");
      return;
    case LUA_TTABLE:
      break;
    default:
      fuzz_bug(T, "decode gave a %s", lua_typename(L, ta));
  }
  if (depth > JSON_MAX_DEPTH) fuzz_bug(T, "decoded tables nest deeper than %d", JSON_MAX_DEPTH);
  if (is_array(L, a) != is_array(L, b)) fuzz_bug(T, "an array became an object or the reverse");
  luaL_checkstack(L, 6, "compare");
  lua_Integer na = 0, nb = 0;
  lua_pushnil(L);
  while (lua_next(L, a)) {
    na++;
    lua_pushvalue(L, -2);
    lua_rawget(L, b);
    if (lua_isnil(L, -1)) fuzz_bug(T, "a key went missing (%s)", lua_type(L, -3) == LUA_TSTRING ? lua_tostring(L, -3) : "index");
    same_value(L, lua_absindex(L, -2), lua_absindex(L, -1), depth + 1);
    lua_pop(L, 2);
  }
  lua_pushnil(L);
  while (lua_next(L, b)) nb++, lua_pop(L, 1);
  if (na != nb) fuzz_bug(T, "a table had %lld entries and came back with %lld", (long long)na, (long long)nb);
}

static void encode_or_bug(lua_State *L, int idx, buf_t *out, const char *what) {
  char err[384];
  buf_init(out);
  int top = lua_gettop(L);
  if (!json_encode(L, idx, out, err, sizeof err)) fuzz_bug(T, "%s does not encode: %s", what, err);
  if (lua_gettop(L) != top) fuzz_bug(T, "encode left the stack unbalanced");
}

/* Runs protected: the decoder may raise (memory, C stack), which is not a finding by itself. */
static int round_trip(lua_State *L) {
  const char *data = lua_touserdata(L, 1);
  size_t size = (size_t)lua_tointeger(L, 2);
  lua_settop(L, 0);
  char err[128];
  if (!json_decode(L, data, size, err, sizeof err)) {
    long at;
    if (lua_gettop(L) != 0) fuzz_bug(T, "a failed decode left %d values on the stack", lua_gettop(L));
    if (sscanf(err, "invalid JSON at byte %ld:", &at) != 1 || at < 1 || (size_t)at > size + 1)
      fuzz_bug(T, "a failed decode says %s", err);
    return 0;
  }
  if (lua_gettop(L) != 1) fuzz_bug(T, "decode pushed %d values", lua_gettop(L));
  buf_t one, two;
  encode_or_bug(L, 1, &one, "a decoded value");
  if (!json_decode(L, one.data, one.len, err, sizeof err)) fuzz_bug(T, "the encoding does not decode: %s\n%s", err, one.data);
  same_value(L, 1, 2, 0);
  encode_or_bug(L, 2, &two, "the value decoded again");
  if (one.len != two.len || memcmp(one.data, two.data, one.len) != 0)
    fuzz_bug(T, "the encoding is not stable:\n%s\n%s", one.data, two.data);
  buf_free(&one);
  buf_free(&two);
  return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  L = fuzz_lua_new(T, 0);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_pushcfunction(L, round_trip);
  lua_pushlightuserdata(L, (void *)data);
  lua_pushinteger(L, (lua_Integer)size);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg && fuzz_is_runtime_error(msg)) fuzz_bug(T, "%s", msg);
  }
  lua_settop(L, 0);
  fuzz_lua_tick(L);
  return 0;
}
