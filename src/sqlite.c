/* smartlead.core.sqlite: a small binding of libsqlite3 for the fleet history (lua/smartlead/fleet/).
 *
 * Connections and prepared statements as userdata, bound parameters, nothing else: the schema,
 * migrations and transactions are Lua's (fleet/store.lua). Errors at run time come back as
 * `nil, message, code` where code is SQLite's primary result code by name ("BUSY", "NOTADB",
 * "CORRUPT", "CANTOPEN", "READONLY", ...), so the caller can tell a locked file from a foreign
 * one. Wrong use (a closed handle, an index out of range) raises.
 *
 * A statement keeps its connection's userdata alive (user value 1); db:close() finalizes nothing
 * by itself, it closes with sqlite3_close_v2, so statements still held are released when they are
 * collected, and any use of them after the close raises. */
#include "sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"

#define DB_MT "smartlead.sqlite.Db"
#define STMT_MT "smartlead.sqlite.Stmt"

typedef struct {
  sqlite3 *db;
  int closed;
} db_ud;

typedef struct {
  sqlite3_stmt *stmt;
  db_ud *owner;
} stmt_ud;

static const char *code_name(int rc) {
  switch (rc & 0xff) {
  case SQLITE_OK: return "OK";
  case SQLITE_ERROR: return "ERROR";
  case SQLITE_PERM: return "PERM";
  case SQLITE_ABORT: return "ABORT";
  case SQLITE_BUSY: return "BUSY";
  case SQLITE_LOCKED: return "LOCKED";
  case SQLITE_NOMEM: return "NOMEM";
  case SQLITE_READONLY: return "READONLY";
  case SQLITE_INTERRUPT: return "INTERRUPT";
  case SQLITE_IOERR: return "IOERR";
  case SQLITE_CORRUPT: return "CORRUPT";
  case SQLITE_FULL: return "FULL";
  case SQLITE_CANTOPEN: return "CANTOPEN";
  case SQLITE_PROTOCOL: return "PROTOCOL";
  case SQLITE_SCHEMA: return "SCHEMA";
  case SQLITE_TOOBIG: return "TOOBIG";
  case SQLITE_CONSTRAINT: return "CONSTRAINT";
  case SQLITE_MISMATCH: return "MISMATCH";
  case SQLITE_MISUSE: return "MISUSE";
  case SQLITE_AUTH: return "AUTH";
  case SQLITE_RANGE: return "RANGE";
  case SQLITE_NOTADB: return "NOTADB";
  default: return "ERROR";
  }
}

/* Pushes nil, message, code; returns 3. */
static int push_failure(lua_State *L, sqlite3 *db, int rc) {
  luaL_pushfail(L);
  lua_pushstring(L, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  lua_pushstring(L, code_name(rc));
  return 3;
}

static db_ud *check_db(lua_State *L, int idx) {
  db_ud *u = luaL_checkudata(L, idx, DB_MT);
  if (u->closed) luaL_error(L, "attempt to use a closed database");
  return u;
}

static stmt_ud *check_stmt(lua_State *L, int idx) {
  stmt_ud *s = luaL_checkudata(L, idx, STMT_MT);
  if (!s->stmt) luaL_error(L, "attempt to use a finalized statement");
  if (s->owner->closed) luaL_error(L, "attempt to use a statement of a closed database");
  return s;
}

/* Creates path with mode 0600 unless it exists; never follows a symbolic link. 0 or errno. */
static int create_private(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

static int opt_flag(lua_State *L, int t, const char *name) {
  int v = lua_getfield(L, t, name) != LUA_TNIL && lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* sqlite.open(path, {readonly=false, create=false, busy_timeout=5000}) -> db | nil, message, code
 * create: a missing file is made with mode 0600 (O_NOFOLLOW); a symbolic link is refused. */
static int l_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int has_opts = lua_istable(L, 2);
  int readonly = has_opts && opt_flag(L, 2, "readonly");
  int create = has_opts && opt_flag(L, 2, "create");
  lua_Integer busy = 5000;
  if (has_opts && lua_getfield(L, 2, "busy_timeout") != LUA_TNIL) busy = luaL_checkinteger(L, -1);
  if (create && !readonly) {
    int e = create_private(path);
    if (e) {
      luaL_pushfail(L);
      lua_pushfstring(L, "%s: %s", path, strerror(e));
      lua_pushstring(L, e == ELOOP ? "SYMLINK" : "CANTOPEN");
      return 3;
    }
  }
  db_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->db = NULL;
  u->closed = 1;
  luaL_setmetatable(L, DB_MT);
  int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path, &u->db, flags, NULL);
  if (rc != SQLITE_OK) {
    lua_pushstring(L, u->db ? sqlite3_errmsg(u->db) : sqlite3_errstr(rc));
    sqlite3_close_v2(u->db);
    u->db = NULL;
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, lua_tostring(L, -2));
    lua_pushstring(L, code_name(rc));
    return 3;
  }
  u->closed = 0;
  sqlite3_extended_result_codes(u->db, 0);
  sqlite3_busy_timeout(u->db, (int)busy);
  return 1;
}

/* db:exec(sql) -> true | nil, message, code   (one or more statements, no results) */
static int l_exec(lua_State *L) {
  db_ud *u = check_db(L, 1);
  int rc = sqlite3_exec(u->db, luaL_checkstring(L, 2), NULL, NULL, NULL);
  if (rc != SQLITE_OK) return push_failure(L, u->db, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* db:prepare(sql) -> stmt | nil, message, code */
static int l_prepare(lua_State *L) {
  db_ud *u = check_db(L, 1);
  size_t len;
  const char *sql = luaL_checklstring(L, 2, &len);
  stmt_ud *s = lua_newuserdatauv(L, sizeof *s, 1);
  s->stmt = NULL;
  s->owner = u;
  luaL_setmetatable(L, STMT_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1); /* the connection lives as long as its statements */
  int rc = sqlite3_prepare_v2(u->db, sql, (int)len, &s->stmt, NULL);
  if (rc != SQLITE_OK) return push_failure(L, u->db, rc);
  if (!s->stmt) return luaL_error(L, "prepare: no statement in the text");
  return 1;
}

/* db:changes() -> rows changed by the last statement */
static int l_changes(lua_State *L) {
  lua_pushinteger(L, sqlite3_changes(check_db(L, 1)->db));
  return 1;
}

/* db:last_insert_rowid() -> integer */
static int l_last_insert_rowid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)sqlite3_last_insert_rowid(check_db(L, 1)->db));
  return 1;
}

/* db:in_transaction() -> boolean */
static int l_in_transaction(lua_State *L) {
  lua_pushboolean(L, !sqlite3_get_autocommit(check_db(L, 1)->db));
  return 1;
}

/* db:busy_timeout(ms) */
static int l_busy_timeout(lua_State *L) {
  sqlite3_busy_timeout(check_db(L, 1)->db, (int)luaL_checkinteger(L, 2));
  return 0;
}

/* db:close() -- idempotent; also __gc and __close */
static int l_db_close(lua_State *L) {
  db_ud *u = luaL_checkudata(L, 1, DB_MT);
  if (!u->closed) {
    u->closed = 1;
    sqlite3_close_v2(u->db); /* statements still held are freed when collected */
  }
  return 0;
}

static int l_db_tostring(lua_State *L) {
  db_ud *u = luaL_checkudata(L, 1, DB_MT);
  if (u->closed) lua_pushliteral(L, "smartlead.sqlite.Db(closed)");
  else lua_pushfstring(L, "smartlead.sqlite.Db(%s)", sqlite3_db_filename(u->db, "main"));
  return 1;
}

/* Binds Lua value at idx to parameter i: nil and smartlead.null (any non-number, non-string,
 * non-boolean) are NULL; integers stay integers. */
static int bind_one(lua_State *L, sqlite3_stmt *st, int i, int idx) {
  switch (lua_type(L, idx)) {
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) return sqlite3_bind_int64(st, i, (sqlite3_int64)lua_tointeger(L, idx));
    return sqlite3_bind_double(st, i, lua_tonumber(L, idx));
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    return sqlite3_bind_text(st, i, s, (int)len, SQLITE_TRANSIENT);
  }
  case LUA_TBOOLEAN: return sqlite3_bind_int(st, i, lua_toboolean(L, idx));
  case LUA_TNIL: return sqlite3_bind_null(st, i);
  case LUA_TLIGHTUSERDATA: return sqlite3_bind_null(st, i); /* cjson.null */
  default: return luaL_argerror(L, idx, "cannot bind a value of this type (number, string, boolean or nil)");
  }
}

/* Resets st and binds the arguments from index `first` on, positionally. */
static int bind_all(lua_State *L, stmt_ud *s, int first) {
  sqlite3_reset(s->stmt);
  sqlite3_clear_bindings(s->stmt);
  int n = lua_gettop(L) - first + 1, want = sqlite3_bind_parameter_count(s->stmt);
  if (n > want) return luaL_error(L, "bind: %d values for %d parameters", n, want);
  for (int i = 1; i <= n; i++) {
    int rc = bind_one(L, s->stmt, i, first + i - 1);
    if (rc != SQLITE_OK) return luaL_error(L, "bind #%d: %s", i, sqlite3_errstr(rc));
  }
  return 0;
}

/* stmt:bind(...) -> stmt   (resets first) */
static int l_bind(lua_State *L) {
  bind_all(L, check_stmt(L, 1), 2);
  lua_settop(L, 1);
  return 1;
}

static void push_column(lua_State *L, sqlite3_stmt *st, int i) {
  switch (sqlite3_column_type(st, i)) {
  case SQLITE_INTEGER: lua_pushinteger(L, (lua_Integer)sqlite3_column_int64(st, i)); break;
  case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_column_double(st, i)); break;
  case SQLITE_NULL: lua_pushnil(L); break;
  default: {
    const char *p = (const char *)sqlite3_column_blob(st, i);
    lua_pushlstring(L, p ? p : "", (size_t)sqlite3_column_bytes(st, i));
  }
  }
}

/* Steps once: 1 row, 0 done; on failure pushes nil, message, code and returns -3. */
static int step(lua_State *L, stmt_ud *s) {
  int rc = sqlite3_step(s->stmt);
  if (rc == SQLITE_ROW) return 1;
  if (rc == SQLITE_DONE) return 0;
  sqlite3_reset(s->stmt);
  push_failure(L, s->owner->db, rc);
  return -3;
}

static void push_named_row(lua_State *L, sqlite3_stmt *st) {
  int n = sqlite3_column_count(st);
  lua_createtable(L, 0, n);
  for (int i = 0; i < n; i++) {
    push_column(L, st, i);
    lua_setfield(L, -2, sqlite3_column_name(st, i));
  }
}

/* stmt:step() -> row {column=value} | false (done) | nil, message, code */
static int l_step(lua_State *L) {
  stmt_ud *s = check_stmt(L, 1);
  int r = step(L, s);
  if (r < 0) return 3;
  if (r == 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  push_named_row(L, s->stmt);
  return 1;
}

/* stmt:exec(...) -> changes | nil, message, code   (binds, steps to the end, resets) */
static int l_stmt_exec(lua_State *L) {
  stmt_ud *s = check_stmt(L, 1);
  bind_all(L, s, 2);
  int r;
  while ((r = step(L, s)) == 1) {}
  if (r < 0) return 3;
  sqlite3_reset(s->stmt);
  lua_pushinteger(L, sqlite3_changes(s->owner->db));
  return 1;
}

static int rows_next(lua_State *L, int named) {
  stmt_ud *s = check_stmt(L, lua_upvalueindex(1));
  int r = step(L, s);
  if (r < 0) {
    lua_pushfstring(L, "%s (%s)", lua_tostring(L, -2), lua_tostring(L, -1));
    return lua_error(L);
  }
  if (r == 0) {
    sqlite3_reset(s->stmt);
    return 0;
  }
  if (named) {
    push_named_row(L, s->stmt);
    return 1;
  }
  int n = sqlite3_column_count(s->stmt);
  luaL_checkstack(L, n, "too many columns");
  for (int i = 0; i < n; i++) push_column(L, s->stmt, i);
  return n;
}
static int nrows_next(lua_State *L) { return rows_next(L, 1); }
static int urows_next(lua_State *L) { return rows_next(L, 0); }

/* stmt:nrows(...) -> iterator of {column=value} rows (binds first; a failing step raises) */
static int l_nrows(lua_State *L) {
  bind_all(L, check_stmt(L, 1), 2);
  lua_pushvalue(L, 1);
  lua_pushcclosure(L, nrows_next, 1);
  return 1;
}

/* stmt:urows(...) -> iterator of the row's values, in column order (a NULL in the first column ends a
 * generic for, as any nil first value does: put a column that is never NULL first) */
static int l_urows(lua_State *L) {
  bind_all(L, check_stmt(L, 1), 2);
  lua_pushvalue(L, 1);
  lua_pushcclosure(L, urows_next, 1);
  return 1;
}

/* stmt:columns() -> {name, ...} */
static int l_columns(lua_State *L) {
  stmt_ud *s = check_stmt(L, 1);
  int n = sqlite3_column_count(s->stmt);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushstring(L, sqlite3_column_name(s->stmt, i));
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* stmt:reset() */
static int l_reset(lua_State *L) {
  sqlite3_reset(check_stmt(L, 1)->stmt);
  return 0;
}

/* stmt:finalize() -- idempotent; also __gc and __close */
static int l_finalize(lua_State *L) {
  stmt_ud *s = luaL_checkudata(L, 1, STMT_MT);
  if (s->stmt) sqlite3_finalize(s->stmt); /* allowed on a closed (zombie) connection */
  s->stmt = NULL;
  return 0;
}

/* FNV-1a over bytes, continuing from h. */
static uint64_t fnv1a(uint64_t h, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
  return h;
}

/* The base URL as a workspace is known by: a loopback address (a local mock, whose port changes
 * on every start) without its port. */
static uint64_t hash_base_url(uint64_t h, const char *url) {
  static const char *const loopback[] = {"://127.0.0.1:", "://localhost:", "://[::1]:", NULL};
  for (const char *const *l = loopback; *l; l++) {
    const char *at = strstr(url, *l);
    if (!at) continue;
    const char *port = at + strlen(*l), *rest = port + strspn(port, "0123456789");
    h = fnv1a(h, url, (size_t)(port - url - 1));
    return fnv1a(h, rest, strlen(rest));
  }
  return fnv1a(h, url, strlen(url));
}

/* sqlite.key_fingerprint(client) -> 16 hex digits from the client's base URL and key, for naming a
 * workspace's history: the same key and URL give the same digits; they cannot give the key back. */
static int l_key_fingerprint(lua_State *L) {
  client_t *c = client_check(L, 1);
  uint64_t h = 0xcbf29ce484222325ULL;
  h = hash_base_url(h, c->base_url);
  h = fnv1a(h, "\n", 1);
  h = fnv1a(h, c->api_key, strlen(c->api_key));
  h ^= h >> 29; /* mix the last bytes into the high ones */
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 32;
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
  lua_pushstring(L, hex);
  return 1;
}

void sqlite_register(lua_State *L) {
  static const luaL_Reg db_methods[] = {{"exec", l_exec}, {"prepare", l_prepare}, {"changes", l_changes},
                                        {"last_insert_rowid", l_last_insert_rowid},
                                        {"in_transaction", l_in_transaction}, {"busy_timeout", l_busy_timeout},
                                        {"close", l_db_close}, {NULL, NULL}};
  static const luaL_Reg db_meta[] = {{"__gc", l_db_close}, {"__close", l_db_close}, {"__tostring", l_db_tostring},
                                     {NULL, NULL}};
  static const luaL_Reg stmt_methods[] = {{"bind", l_bind}, {"step", l_step}, {"exec", l_stmt_exec},
                                          {"nrows", l_nrows}, {"urows", l_urows}, {"columns", l_columns},
                                          {"reset", l_reset}, {"finalize", l_finalize}, {NULL, NULL}};
  static const luaL_Reg stmt_meta[] = {{"__gc", l_finalize}, {"__close", l_finalize}, {NULL, NULL}};
  static const luaL_Reg fns[] = {{"open", l_open}, {"key_fingerprint", l_key_fingerprint}, {NULL, NULL}};
  if (luaL_newmetatable(L, DB_MT)) {
    luaL_setfuncs(L, db_meta, 0);
    luaL_newlib(L, db_methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, STMT_MT)) {
    luaL_setfuncs(L, stmt_meta, 0);
    luaL_newlib(L, stmt_methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  luaL_newlib(L, fns);
  lua_pushstring(L, sqlite3_libversion());
  lua_setfield(L, -2, "sqlite_version");
  lua_setfield(L, -2, "sqlite");
}
