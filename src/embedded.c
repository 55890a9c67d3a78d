#include "embedded.h"

#include <lauxlib.h>

#include "smartlead_core.h"

/* package.preload loader: compiles the embedded chunk (text only) and runs it. */
static int load_embedded(lua_State *L) {
  const embedded_file_t *f = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbufferx(L, (const char *)f->data, f->len, f->chunkname, "t") != LUA_OK) return lua_error(L);
  lua_pushvalue(L, 1); /* module name, as require passes it */
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) return lua_error(L);
  return 1;
}

void embedded_install_preloads(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const embedded_file_t *f = EMBEDDED_LUA; f->module; f++) {
    lua_pushlightuserdata(L, (void *)f);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, f->module);
  }
  lua_pushcfunction(L, luaopen_smartlead_core);
  lua_setfield(L, -2, "smartlead.core");
  lua_pop(L, 1);
}

const char *embedded_seed(size_t *len) {
  *len = EMBEDDED_SEED_LEN;
  return (const char *)EMBEDDED_SEED;
}
