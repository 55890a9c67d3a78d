/* JSON for the whole project, through Debian's lua-cjson 2.1.0 behind one thin layer
 * (src/json_bridge.c) that fixes its traps: integers decode as Lua integers, integers encode
 * without an exponent, arrays keep a metatable so `[]` and `{}` stay apart, null is a sentinel
 * distinct from absent, invalid UTF-8 is refused, object keys encode sorted. Nothing else in
 * the project calls cjson. */
#ifndef SMARTLUA_JSON_H
#define SMARTLUA_JSON_H

#include <lua.h>
#include <stddef.h>

#include "buf.h"

#define JSON_ARRAY_MT "smartlead.json.array"
#define JSON_MAX_DEPTH 100

/* The address of this byte is `json.null`, a light userdata. */
extern const char json_null_sentinel;

/* Pushes the decoded value; on failure pushes nothing, writes "invalid JSON at byte N: why" to
 * err, returns 0. Never raises: it runs protected. */
int json_decode(lua_State *L, const char *s, size_t len, char *err, size_t errsz);

/* 1 and the key (cut at 60 bytes) when one object of the text holds a key twice (the decoder
 * keeps the last); 0 when none does. For -vv: nothing else looks at the text twice. */
int json_first_duplicate_key(const char *s, size_t len, char *key, size_t keysz);

/* Appends the value at idx to out; on failure writes a message naming where, returns 0.
 * Never raises: it runs protected. */
int json_encode(lua_State *L, int idx, buf_t *out, char *err, size_t errsz);

/* Pushes the array metatable, creating it once per state. */
void json_push_array_mt(lua_State *L);

/* True when the value at idx is json.null. */
int json_is_null(lua_State *L, int idx);

/* Registers decode, encode, null, array, is_array, array_mt into the table on top; raises when
 * lua-cjson cannot be loaded. */
void json_register(lua_State *L);

#endif
