/* The project's one JSON codec. It fixes lua-cjson 2.1.0's four traps at the source:
 * integers decode as Lua integers, large integers encode without an exponent, arrays keep
 * a metatable so `[]` and `{}` stay apart, and null is a sentinel distinct from absent. */
#ifndef SMARTLUA_JSON_H
#define SMARTLUA_JSON_H

#include <lua.h>
#include <stddef.h>

#include "buf.h"

#define JSON_ARRAY_MT "smartlead.json.array"
#define JSON_MAX_DEPTH 100

/* The address of this byte is `json.null`, a light userdata. */
extern const char json_null_sentinel;

/* Pushes the decoded value; on failure pushes nothing, writes a message to err, returns 0. */
int json_decode(lua_State *L, const char *s, size_t len, char *err, size_t errsz);

/* Appends the value at idx to out; on failure writes a message naming where, returns 0. */
int json_encode(lua_State *L, int idx, buf_t *out, char *err, size_t errsz);

/* Pushes the array metatable, creating it once per state. */
void json_push_array_mt(lua_State *L);

/* True when the value at idx is json.null. */
int json_is_null(lua_State *L, int idx);

/* Registers decode, encode, null, array, is_array, array_mt into the table on top. */
void json_register(lua_State *L);

#endif
