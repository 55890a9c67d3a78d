#ifndef SMARTLUA_CORE_H
#define SMARTLUA_CORE_H
#include <lua.h>
/* require "smartlead.core": clients, endpoints, JSON, masking, the mock server. */
int luaopen_smartlead_core(lua_State *L);
#endif
