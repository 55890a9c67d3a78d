/* smartlua: a Lua 5.4 host with the smartlead module preloaded. It makes the state, installs the
 * preloads and hands argv to lua/smartlead/cli/ (the one command-line parser), which runs the
 * script, the -e chunks, the REPL or a command, each under a traceback handler as lua.c does.
 * No path aborts the process: everything runs inside a protected call. */
#include <curl/curl.h>
#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "embedded.h"
#include "redact.h"
#include "repl.h"

static const char *progname = "smartlua";

/* "smartlua: msg" on stderr, any key masked. */
static void report_error(const char *msg) {
  buf_t b;
  buf_init(&b);
  if (!msg) msg = "(error object is not a string)";
  redact(&b, msg, strlen(msg), NULL);
  fprintf(stderr, "%s: %s\n", progname, b.data ? b.data : "");
  fflush(stderr);
  buf_free(&b);
}

/* Message handler: turns any error value into "message + traceback" (key masked when printed). */
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) msg = lua_tostring(L, -1);
    else msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  int status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  return status;
}

/* Hands the words to the Lua side, which parses and runs everything:
 * require("smartlead.cli").main(argv, LUA_RELEASE) -> exit code. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  luaL_openlibs(L);
  embedded_install_preloads(L);
  repl_install_preload(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "smartlead.cli");
  if (docall(L, 1, 1) != LUA_OK) return report_error(lua_tostring(L, -1)), lua_pushinteger(L, 1), 1;
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_pushliteral(L, LUA_RELEASE);
  if (docall(L, 2, 1) != LUA_OK) return report_error(lua_tostring(L, -1)), lua_pushinteger(L, 1), 1;
  lua_pushinteger(L, lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 1);
  return 1;
}

static int run_lua(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (!L) return fprintf(stderr, "%s: cannot create the Lua state: out of memory\n", progname), 1;
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 0);
  int code = status == LUA_OK ? (int)lua_tointeger(L, -1) : EXIT_FAILURE;
  if (status != LUA_OK) report_error(lua_tostring(L, -1));
  lua_close(L);
  return code;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN); /* a closed peer is an error to report, not a reason to die */
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return fprintf(stderr, "%s: libcurl failed to start\n", progname), 1;
  redact_add_secret(getenv("SMARTLEAD_API_KEY"));
  int status = run_lua(argc, argv);
  curl_global_cleanup();
  return status;
}
