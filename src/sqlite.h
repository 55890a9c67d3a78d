/* smartlead.core.sqlite: connections and prepared statements on libsqlite3 (fleet history). */
#ifndef SMARTLUA_SQLITE_H
#define SMARTLUA_SQLITE_H
#include <lua.h>
void sqlite_register(lua_State *L); /* sets field "sqlite" of the table on top */
#endif
