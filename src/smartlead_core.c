#include "smartlead_core.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "client.h"
#include "endpoints.h"
#include "http.h"
#include "engine_lua.h"
#include "json.h"
#include "mock_server.h"
#include "osutil.h"
#include "redact.h"
#include "sqlite.h"
#include "trace.h"
#include "version.h"

/* core.mask(text[, key]) -> text with api_key= values, every known key and key (if given) masked */
static int l_mask(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *key = luaL_optstring(L, 2, NULL);
  buf_t b;
  buf_init(&b);
  redact(&b, s, len, key);
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  buf_free(&b);
  return 1;
}

/* core.add_secret(text) -- from now on text is masked wherever the core masks */
static int l_add_secret(lua_State *L) {
  redact_add_secret(luaL_checkstring(L, 1));
  return 0;
}

/* core.set_trace(level) -- 0 off, 1 one line per HTTP attempt, 2 headers and rate state, 3 bodies */
static int l_set_trace(lua_State *L) {
  lua_Integer level = luaL_checkinteger(L, 1);
  luaL_argcheck(L, level >= 0 && level <= 3, 1, "trace level must be 0 to 3");
  trace_set_level((int)level);
  return 0;
}

/* core.trace_level() -> 0..3 */
static int l_trace_level(lua_State *L) {
  lua_pushinteger(L, trace_level());
  return 1;
}

/* core.mask_body(text) -> text as traces show it: secret JSON values and known keys masked */
static int l_mask_body(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  buf_t b;
  buf_init(&b);
  trace_mask_body(&b, s, len);
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  buf_free(&b);
  return 1;
}

static int refuse_file(lua_State *L, const char *fmt, const char *path, unsigned mode) {
  char octal[8]; /* lua_pushfstring has no %o */
  snprintf(octal, sizeof octal, "%o", mode & 0777u);
  luaL_pushfail(L);
  lua_pushfstring(L, fmt, path, octal, path);
  return 2;
}

/* core.read_private_file(path) -> text | nil, err   (refuses files other users can read) */
static int l_read_private_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return osutil_push_open_error(L, path, errno, "read");
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: not a regular file", path);
    return 2;
  }
  if (st.st_mode & 077) {
    close(fd);
    return refuse_file(L, "%s holds secrets but other users may read it (mode %s); fix it with: chmod 600 %s", path,
                       (unsigned)(st.st_mode & 0777));
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  char chunk[4096];
  ssize_t n;
  while ((n = read(fd, chunk, sizeof chunk)) > 0) luaL_addlstring(&b, chunk, (size_t)n);
  close(fd);
  luaL_pushresult(&b);
  return 1;
}

static void termination_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGHUP);
}

/* core.block_signals() -- SIGINT/SIGTERM/SIGHUP wait for core.wait_for_signal (threads inherit this) */
static int l_block_signals(lua_State *L) {
  (void)L;
  sigset_t set;
  termination_signals(&set);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  return 0;
}

/* core.wait_for_signal() -> "SIGINT" | "SIGTERM" | "SIGHUP" */
static int l_wait_for_signal(lua_State *L) {
  sigset_t set;
  termination_signals(&set);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {}
  lua_pushstring(L, sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP");
  return 1;
}

/* core.isatty(fd) -> boolean */
static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* core.monotime() -> seconds on a clock that never jumps */
static int l_monotime(lua_State *L) {
  lua_pushnumber(L, monotonic_now());
  return 1;
}

/* core.parse_headers(text) -> {retry_after=, rl_limit=, rl_remaining=, rl_reset=, content_type=}
 * What the engine reads from answer headers (-1: absent); for regression specs. */
static int l_parse_headers(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  http_response_t r;
  http_response_init(&r);
  for (const char *line = text, *end = text + len; line < end;) {
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    size_t n = nl ? (size_t)(nl - line + 1) : (size_t)(end - line);
    http_parse_header(&r, line, n);
    line += n;
  }
  lua_createtable(L, 0, 5);
  lua_pushnumber(L, r.retry_after), lua_setfield(L, -2, "retry_after");
  lua_pushinteger(L, r.rl_limit), lua_setfield(L, -2, "rl_limit");
  lua_pushinteger(L, r.rl_remaining), lua_setfield(L, -2, "rl_remaining");
  lua_pushinteger(L, r.rl_reset), lua_setfield(L, -2, "rl_reset");
  lua_pushstring(L, r.content_type), lua_setfield(L, -2, "content_type");
  http_response_free(&r);
  return 1;
}

int luaopen_smartlead_core(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"mask", l_mask}, {"add_secret", l_add_secret}, {"read_private_file", l_read_private_file},
      {"block_signals", l_block_signals}, {"isatty", l_isatty}, {"monotime", l_monotime}, {"wait_for_signal", l_wait_for_signal},
      {"set_trace", l_set_trace}, {"trace_level", l_trace_level}, {"mask_body", l_mask_body},
      {"parse_headers", l_parse_headers}, {NULL, NULL}};
  luaL_checkversion(L);
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  client_register(L);
  endpoints_register(L);
  engine_lua_register(L);
  mock_register(L);
  osutil_register(L);
  sqlite_register(L); /* core.sqlite: the fleet history's database */
  lua_newtable(L);
  json_register(L);
  lua_setfield(L, -2, "json");
  luaL_getmetatable(L, CLIENT_MT);
  lua_getfield(L, -1, "__index");
  lua_setfield(L, -3, "client_methods"); /* the Lua layer adds its methods here */
  lua_pop(L, 1);
  lua_pushliteral(L, SMARTLUA_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}
