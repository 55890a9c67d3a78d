/* The REPL's line editor (libedit), preloaded as "smartlead.readline" in the host. */
#ifndef SMARTLUA_REPL_H
#define SMARTLUA_REPL_H

#include <lua.h>

void repl_install_preload(lua_State *L);

#endif
