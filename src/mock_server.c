/* The mock SmartLead server: libmicrohttpd on loopback, handlers in Lua (smartlead.mock).
 * The mock has its own lua_State, touched only under `lock`; each connection has its own
 * thread, so injected latency sleeps outside the lock and never delays other connections. */
#include "mock_server.h"

#include <arpa/inet.h>
#include <lauxlib.h>
#include <lualib.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "embedded.h"
#include "json.h"

#define MOCK_MT "smartlead.MockServer"
#define MAX_UPLOAD (8 * 1024 * 1024)

struct mock {
  struct MHD_Daemon *daemon;
  lua_State *L;
  pthread_mutex_t lock;
  atomic_int stopping;
  unsigned port;
};

typedef struct {
  int status;
  buf_t body;
  buf_t headers; /* "Name\0Value\0" pairs */
  long delay_ms;
  char fault[16];
} answer_t;

typedef struct {
  buf_t upload;
  int too_large;
} request_ctx_t;

/* ---------------------------------------------------------------- calling the Lua handler */

static int push_pairs(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  lua_State *L = cls;
  lua_pushstring(L, value ? value : "");
  lua_setfield(L, -2, key);
  return MHD_YES;
}

/* Header names differ in case between clients; the handler sees them lower-cased. */
static int push_lower_pair(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  lua_State *L = cls;
  char lower[128];
  size_t i;
  for (i = 0; key[i] && i < sizeof lower - 1; i++) lower[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
  lower[i] = '\0';
  lua_pushstring(L, value ? value : "");
  lua_setfield(L, -2, lower);
  return MHD_YES;
}

static void read_answer(lua_State *L, int t, answer_t *a) {
  a->status = lua_getfield(L, t, "status") == LUA_TNUMBER ? (int)lua_tointeger(L, -1) : 500;
  lua_pop(L, 1);
  size_t len = 0;
  if (lua_getfield(L, t, "body") == LUA_TSTRING) {
    const char *s = lua_tolstring(L, -1, &len);
    buf_append(&a->body, s, len);
  }
  lua_pop(L, 1);
  a->delay_ms = lua_getfield(L, t, "delay_ms") == LUA_TNUMBER ? (long)lua_tonumber(L, -1) : 0;
  lua_pop(L, 1);
  if (lua_getfield(L, t, "fault") == LUA_TSTRING) snprintf(a->fault, sizeof a->fault, "%s", lua_tostring(L, -1));
  lua_pop(L, 1);
  if (lua_getfield(L, t, "headers") == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_isstring(L, -1)) {
        buf_puts(&a->headers, lua_tostring(L, -2));
        buf_putc(&a->headers, '\0');
        buf_puts(&a->headers, lua_tostring(L, -1));
        buf_putc(&a->headers, '\0');
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

static int traceback(lua_State *L) {
  luaL_traceback(L, L, lua_tostring(L, 1), 1);
  return 1;
}

/* Runs server:handle(req) with req = {method, path, query, body, headers} on top of the stack. */
static void run_handler(mock_t *m, answer_t *a) {
  lua_State *L = m->L;
  int req = lua_gettop(L);
  lua_pushcfunction(L, traceback);
  lua_getfield(L, LUA_REGISTRYINDEX, "smartlead.mock.instance");
  lua_getfield(L, -1, "handle");
  lua_insert(L, -2);
  lua_pushvalue(L, req);
  if (lua_pcall(L, 2, 1, req + 1) == LUA_OK && lua_istable(L, -1)) {
    read_answer(L, lua_gettop(L), a);
  } else {
    a->status = 500;
    buf_puts(&a->body, "{\"error\":\"mock handler failed\"}");
    fprintf(stderr, "smartlua mock: handler error: %s\n", lua_tostring(L, -1));
  }
  lua_settop(L, req);
}

/* Builds req = {method, path, query, headers, body} in the mock's state and runs the handler
 * under the lock. conn is NULL for admin calls made in-process (no query, no headers). */
static void handle_request(mock_t *m, const char *method, const char *path, struct MHD_Connection *conn,
                           const char *body, size_t body_len, answer_t *a) {
  memset(a, 0, sizeof *a);
  buf_init(&a->body);
  buf_init(&a->headers);
  pthread_mutex_lock(&m->lock);
  lua_State *L = m->L;
  lua_createtable(L, 0, 5);
  lua_pushstring(L, method), lua_setfield(L, -2, "method");
  lua_pushstring(L, path), lua_setfield(L, -2, "path");
  lua_newtable(L);
  if (conn) MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, (MHD_KeyValueIterator)push_pairs, L);
  lua_setfield(L, -2, "query");
  lua_newtable(L);
  if (conn) MHD_get_connection_values(conn, MHD_HEADER_KIND, (MHD_KeyValueIterator)push_lower_pair, L);
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, body, body_len);
  lua_setfield(L, -2, "body");
  run_handler(m, a);
  lua_pop(L, 1);
  pthread_mutex_unlock(&m->lock);
}

/* ---------------------------------------------------------------- answering */

/* Sleeps in slices so that stopping the server never waits out a long stall. */
static void sleep_ms(mock_t *m, long ms) {
  while (ms > 0 && !atomic_load(&m->stopping)) {
    long slice = ms < 50 ? ms : 50;
    struct timespec ts = {slice / 1000, (slice % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    ms -= slice;
  }
}

typedef struct {
  char *data;
  size_t sent_limit;
} truncated_t;

static ssize_t read_truncated(void *cls, uint64_t pos, char *out, size_t max) {
  truncated_t *t = cls;
  if (pos >= t->sent_limit) return MHD_CONTENT_READER_END_WITH_ERROR; /* closes mid-body */
  size_t n = t->sent_limit - (size_t)pos;
  if (n > max) n = max;
  memcpy(out, t->data + pos, n);
  return (ssize_t)n;
}

static void free_truncated(void *cls) {
  truncated_t *t = cls;
  free(t->data);
  free(t);
}

static struct MHD_Response *make_response(answer_t *a) {
  if (strcmp(a->fault, "truncate") == 0 && a->body.len > 1) {
    truncated_t *t = malloc(sizeof *t);
    if (!t) return NULL;
    size_t announced = a->body.len; /* Content-Length promises all of it */
    t->data = a->body.data;
    t->sent_limit = a->body.len / 2;
    buf_init(&a->body); /* ownership moved to t */
    struct MHD_Response *r = MHD_create_response_from_callback(announced, 4096, read_truncated, t, free_truncated);
    if (!r) free_truncated(t);
    return r;
  }
  struct MHD_Response *r = MHD_create_response_from_buffer(a->body.len, a->body.data ? a->body.data : (char *)"",
                                                           a->body.data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (r) buf_init(&a->body); /* MHD frees it */
  return r;
}

static void add_headers(struct MHD_Response *r, const answer_t *a) {
  const char *p = a->headers.data, *end = p ? p + a->headers.len : NULL;
  while (p && p < end) {
    const char *name = p;
    const char *value = name + strlen(name) + 1;
    MHD_add_response_header(r, name, value);
    p = value + strlen(value) + 1;
  }
}

static enum MHD_Result send_answer(struct MHD_Connection *conn, answer_t *a) {
  if (strcmp(a->fault, "drop") == 0) return MHD_NO; /* MHD closes the connection unanswered */
  struct MHD_Response *r = make_response(a);
  if (!r) return MHD_NO;
  add_headers(r, a);
  enum MHD_Result ret = MHD_queue_response(conn, (unsigned)a->status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
  (void)version;
  mock_t *m = cls;
  request_ctx_t *ctx = *con_cls;
  if (!ctx) {
    ctx = calloc(1, sizeof *ctx);
    if (!ctx) return MHD_NO;
    buf_init(&ctx->upload);
    *con_cls = ctx;
    return MHD_YES;
  }
  if (*upload_size) {
    if (ctx->upload.len + *upload_size > MAX_UPLOAD) ctx->too_large = 1;
    else buf_append(&ctx->upload, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  answer_t a;
  const char *body = ctx->too_large || !ctx->upload.data ? "" : ctx->upload.data;
  handle_request(m, method, url, conn, body, ctx->too_large ? 0 : ctx->upload.len, &a);
  sleep_ms(m, a.delay_ms);
  enum MHD_Result ret = send_answer(conn, &a);
  buf_free(&a.body);
  buf_free(&a.headers);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode code) {
  (void)cls, (void)conn, (void)code;
  request_ctx_t *ctx = *con_cls;
  if (!ctx) return;
  buf_free(&ctx->upload);
  free(ctx);
  *con_cls = NULL;
}

/* ---------------------------------------------------------------- life cycle */

static int setup_state(lua_State *L, const char *seed_json, size_t seed_len, const char *opts_json, char *err, size_t errsz) {
  luaL_openlibs(L);
  embedded_install_preloads(L);
  lua_pushcfunction(L, traceback);
  int handler = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "smartlead.mock");
  if (lua_pcall(L, 1, 1, handler) != LUA_OK) goto failed;
  lua_getfield(L, -1, "new");
  char jerr[128];
  if (!json_decode(L, seed_json, seed_len, jerr, sizeof jerr)) {
    snprintf(err, errsz, "mock seed: %s", jerr);
    return 0;
  }
  if (!json_decode(L, opts_json, strlen(opts_json), jerr, sizeof jerr)) {
    snprintf(err, errsz, "mock options: %s", jerr);
    return 0;
  }
  if (lua_pcall(L, 2, 1, handler) != LUA_OK) goto failed;
  lua_setfield(L, LUA_REGISTRYINDEX, "smartlead.mock.instance");
  lua_settop(L, 0);
  return 1;
failed:
  snprintf(err, errsz, "mock: %s", lua_tostring(L, -1));
  return 0;
}

mock_t *mock_start(unsigned port, const char *seed_json, size_t seed_len, const char *opts_json, char *err, size_t errsz) {
  mock_t *m = calloc(1, sizeof *m);
  if (!m) return snprintf(err, errsz, "out of memory"), NULL;
  pthread_mutex_init(&m->lock, NULL);
  m->L = luaL_newstate();
  if (!m->L || !setup_state(m->L, seed_json, seed_len, opts_json, err, errsz)) {
    mock_stop(m);
    return NULL;
  }
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only, whatever the caller asks */
  m->daemon = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                               (uint16_t)port, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                               MHD_OPTION_NOTIFY_COMPLETED, on_completed, m, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
                               MHD_OPTION_END);
  if (!m->daemon) {
    snprintf(err, errsz, "mock: cannot listen on 127.0.0.1:%u (port in use?)", port);
    mock_stop(m);
    return NULL;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
  m->port = info ? info->port : port;
  return m;
}

unsigned mock_port(const mock_t *m) { return m->port; }

void mock_stop(mock_t *m) {
  if (!m) return;
  atomic_store(&m->stopping, 1);
  if (m->daemon) MHD_stop_daemon(m->daemon);
  if (m->L) lua_close(m->L);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

/* Calls the handler directly with an admin request; pushes status and body onto L. */
static void mock_admin(mock_t *m, lua_State *L, const char *method, const char *path, const char *body, size_t body_len) {
  answer_t a;
  handle_request(m, method, path, NULL, body ? body : "", body_len, &a);
  lua_pushinteger(L, a.status);
  lua_pushlstring(L, a.body.data ? a.body.data : "", a.body.len);
  buf_free(&a.body);
  buf_free(&a.headers);
}

/* ---------------------------------------------------------------- Lua API */

typedef struct {
  mock_t *m;
} mock_ud_t;

static mock_t *check_mock(lua_State *L) {
  mock_ud_t *u = luaL_checkudata(L, 1, MOCK_MT);
  if (!u->m) luaL_error(L, "attempt to use a stopped mock server");
  return u->m;
}

/* core.mock_start{port=0, seed=JSON text, options=JSON text} -> server (raises on failure) */
static int l_mock_start(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer port = (lua_getfield(L, 1, "port"), luaL_optinteger(L, -1, 0));
  luaL_argcheck(L, port >= 0 && port <= 65535, 1, "port must be 0..65535");
  size_t seed_len;
  lua_getfield(L, 1, "seed");
  const char *seed = lua_isnil(L, -1) ? embedded_seed(&seed_len) : luaL_checklstring(L, -1, &seed_len);
  const char *opts = (lua_getfield(L, 1, "options"), luaL_optstring(L, -1, "{}"));
  mock_ud_t *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->m = NULL;
  luaL_setmetatable(L, MOCK_MT);
  char err[512];
  u->m = mock_start((unsigned)port, seed, seed_len, opts, err, sizeof err);
  if (!u->m) return luaL_error(L, "%s", err);
  return 1;
}

/* server:url() -> "http://127.0.0.1:PORT/api/v1" */
static int l_url(lua_State *L) {
  lua_pushfstring(L, "http://127.0.0.1:%d/api/v1", (int)mock_port(check_mock(L)));
  return 1;
}

/* server:port() -> integer */
static int l_port(lua_State *L) {
  lua_pushinteger(L, mock_port(check_mock(L)));
  return 1;
}

/* server:admin(method, path [, body]) -> status, body   (path under /__mock/) */
static int l_admin(lua_State *L) {
  mock_t *m = check_mock(L);
  const char *method = luaL_checkstring(L, 2), *path = luaL_checkstring(L, 3);
  size_t len = 0;
  const char *body = luaL_optlstring(L, 4, "", &len);
  luaL_argcheck(L, strncmp(path, "/__mock/", 8) == 0, 3, "admin paths start with /__mock/");
  mock_admin(m, L, method, path, body, len);
  return 2;
}

/* server:stop() -- idempotent; also __gc and __close */
static int l_stop(lua_State *L) {
  mock_ud_t *u = luaL_checkudata(L, 1, MOCK_MT);
  mock_stop(u->m);
  u->m = NULL;
  return 0;
}

static int l_tostring(lua_State *L) {
  mock_ud_t *u = luaL_checkudata(L, 1, MOCK_MT);
  if (u->m) lua_pushfstring(L, "smartlead.MockServer(http://127.0.0.1:%d)", (int)u->m->port);
  else lua_pushliteral(L, "smartlead.MockServer(stopped)");
  return 1;
}

void mock_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"url", l_url}, {"port", l_port}, {"admin", l_admin}, {"stop", l_stop}, {NULL, NULL}};
  static const luaL_Reg meta[] = {{"__gc", l_stop}, {"__close", l_stop}, {"__tostring", l_tostring}, {NULL, NULL}};
  if (luaL_newmetatable(L, MOCK_MT)) {
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_mock_start);
  lua_setfield(L, -2, "mock_start");
}
