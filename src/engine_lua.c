#include "engine_lua.h"

#include <lauxlib.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

#define ENGINE_KEY "smartlead.engine"
#define SCHEDULED_KEY "smartlead.scheduled" /* weak set of coroutines the scheduler owns */
#define TRANSFER_BOX_MT "smartlead.transfer"

static const char io_wait_sentinel = 0;

typedef struct {
  engine_t *e;
} engine_box_t;

static int engine_gc(lua_State *L) {
  engine_box_t *box = lua_touserdata(L, 1);
  engine_free(box->e);
  box->e = NULL;
  return 0;
}

/* The state's engine, made on first use and freed with the state. */
static engine_t *engine_of(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, ENGINE_KEY) == LUA_TUSERDATA) {
    engine_t *e = ((engine_box_t *)lua_touserdata(L, -1))->e;
    lua_pop(L, 1);
    return e;
  }
  lua_pop(L, 1);
  engine_box_t *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->e = NULL;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, engine_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  box->e = engine_new();
  if (!box->e) luaL_error(L, "smartlead: cannot start the HTTP engine");
  lua_setfield(L, LUA_REGISTRYINDEX, ENGINE_KEY);
  return box->e;
}

static int is_scheduled(lua_State *L) {
  if (!lua_isyieldable(L)) return 0;
  if (lua_getfield(L, LUA_REGISTRYINDEX, SCHEDULED_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushthread(L);
  int yes = lua_rawget(L, -2) != LUA_TNIL;
  lua_pop(L, 2);
  return yes;
}

/* Holds a yielded coroutine's transfer on that coroutine's stack. The engine owns the transfer
 * until it hands the coroutine back (co_ref cleared); from then on the box does, so a coroutine
 * dropped without being resumed (a Ctrl-C that stops the driver) frees its transfer. */
typedef struct {
  transfer_t *t;
} transfer_box_t;

static void free_call(transfer_t *t) {
  t->handle = NULL;
  transfer_free(t); /* and its reply_t */
}

static int transfer_box_gc(lua_State *L) {
  transfer_box_t *box = lua_touserdata(L, 1);
  transfer_t *t = box->t;
  if (!t) return 0;
  box->t = NULL;
  t->handle = NULL;
  if (t->state == T_DONE && t->co_ref == TRANSFER_NO_WAITER) free_call(t);
  return 0;
}

/* Continuation after the transfer is done: decode, free, return the answer. */
static int finish_transfer(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  transfer_box_t *box = (transfer_box_t *)ctx;
  transfer_t *t = box->t;
  if (!t || t->state != T_DONE) return luaL_error(L, "smartlead: a request's coroutine was resumed before its answer");
  box->t = NULL;
  int n = push_reply(L, t->user, t);
  free_call(t);
  return n;
}

int engine_call(lua_State *L, transfer_t *t) {
  engine_t *e = engine_of(L);
  if (!is_scheduled(L)) {
    engine_submit(e, t);
    engine_wait_for(e, t);
    transfer_box_t box = {t};
    return finish_transfer(L, LUA_OK, (lua_KContext)&box);
  }
  transfer_box_t *box = lua_newuserdatauv(L, sizeof *box, 0); /* stays on this coroutine's stack */
  box->t = t;
  t->handle = &box->t;
  luaL_setmetatable(L, TRANSFER_BOX_MT);
  engine_submit(e, t);
  lua_pushthread(L);
  t->co_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* the engine hands it back when done */
  lua_pushlightuserdata(L, (void *)&io_wait_sentinel);
  return lua_yieldk(L, 1, (lua_KContext)box, finish_transfer);
}

/* core.engine_pump([max_block_seconds]) -> {coroutine, ...} whose requests have finished */
static int l_engine_pump(lua_State *L) {
  double max_block = luaL_optnumber(L, 1, 0.05);
  engine_t *e = engine_of(L);
  engine_pump(e, max_block < 0 ? 0 : max_block);
  lua_newtable(L);
  int n = 0;
  transfer_t *t;
  while ((t = engine_take_finished(e))) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->co_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, t->co_ref);
    t->co_ref = TRANSFER_NO_WAITER;
    lua_rawseti(L, -2, ++n);
  }
  return 1;
}

/* core.schedule(co) -- endpoint calls inside co yield core.IO_WAIT instead of blocking */
static int l_schedule(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTHREAD);
  if (lua_getfield(L, LUA_REGISTRYINDEX, SCHEDULED_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, SCHEDULED_KEY);
  }
  lua_pushvalue(L, 1);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  return 0;
}

/* core.engine_status() -> {queued=, running=, pause=seconds, reason=} */
static int l_engine_status(lua_State *L) {
  int queued, running;
  double pause;
  const char *reason;
  engine_status(engine_of(L), &queued, &running, &pause, &reason);
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, queued), lua_setfield(L, -2, "queued");
  lua_pushinteger(L, running), lua_setfield(L, -2, "running");
  lua_pushnumber(L, pause), lua_setfield(L, -2, "pause");
  if (reason) lua_pushstring(L, reason), lua_setfield(L, -2, "reason");
  return 1;
}

/* A count or a length as Lua users expect it: an integer when it is whole. */
void engine_lua_push_number(lua_State *L, double v) {
  if (v == floor(v) && fabs(v) < 9007199254740992.0) lua_pushinteger(L, (lua_Integer)v);
  else lua_pushnumber(L, v);
}

void engine_lua_set_answer_cap(lua_State *L, size_t bytes) { engine_set_answer_cap(engine_of(L), bytes); }

size_t engine_lua_answer_cap(lua_State *L) { return engine_answer_cap(engine_of(L)); }

/* core.parse_rate(text) -> false | {{requests=, per=}, ..., preset=} | "auto" | nil, err
 * The rate setting as smartlead.client{rate=} and the config file read it. */
static int l_parse_rate(lua_State *L) {
  rate_spec_t spec;
  char err[240];
  if (!rate_parse(luaL_checkstring(L, 1), &spec, err, sizeof err)) {
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
  }
  if (spec.mode == RATE_OFF) lua_pushboolean(L, 0);
  else if (spec.mode == RATE_AUTO) lua_pushliteral(L, "auto");
  else {
    lua_createtable(L, spec.n, 1);
    for (int i = 0; i < spec.n; i++) {
      lua_createtable(L, 0, 2);
      engine_lua_push_number(L, spec.w[i].requests), lua_setfield(L, -2, "requests");
      engine_lua_push_number(L, spec.w[i].per), lua_setfield(L, -2, "per");
      lua_rawseti(L, -2, i + 1);
    }
    if (spec.name[0]) lua_pushstring(L, spec.name), lua_setfield(L, -2, "preset");
  }
  return 1;
}

/* core.rate_reset_in(x_ratelimit_reset [, wall]) -> seconds from now (for specs): seconds to
 * the reset, a Unix time in seconds or in milliseconds, told apart by magnitude */
static int l_rate_reset_in(lua_State *L) {
  lua_Integer v = luaL_checkinteger(L, 1);
  lua_pushnumber(L, rate_reset_in((long)v, luaL_optnumber(L, 2, wall_clock())));
  return 1;
}

/* core.set_quiet(bool) -- no rate-limit messages on stderr */
static int l_set_quiet(lua_State *L) {
  engine_set_quiet(engine_of(L), lua_toboolean(L, 1));
  return 0;
}

/* core.request_interrupt([after_seconds]) -- as Ctrl-C does; a delay is for tests */
static int l_request_interrupt(lua_State *L) {
  if (lua_isnoneornil(L, 1)) engine_request_interrupt();
  else engine_interrupt_after(luaL_checknumber(L, 1));
  return 0;
}

/* core.interrupt_pending() -> boolean */
static int l_interrupt_pending(lua_State *L) {
  lua_pushboolean(L, engine_interrupt_pending());
  return 1;
}

static volatile sig_atomic_t stop_signal; /* the SIGINT or SIGTERM that asked a run to stop */

static void on_stop_signal(int sig) {
  stop_signal = sig;
  engine_request_interrupt(); /* each stops starting items; transfers in flight end as cancelled */
}

/* core.catch_interrupts() -- a script or command run (not the REPL, which has its own): the
 * first SIGINT or SIGTERM asks the run to stop cleanly (say what was done and how to finish);
 * the handler then resets, so a second one ends the process at once. */
static int l_catch_interrupts(lua_State *L) {
  (void)L;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  return 0;
}

int engine_lua_stop_signal(void) { return stop_signal; }

/* core.stop_signal() -> "SIGINT" | "SIGTERM" | nil: the signal that asked the run to stop */
static int l_stop_signal(lua_State *L) {
  if (stop_signal == SIGINT) lua_pushliteral(L, "SIGINT");
  else if (stop_signal == SIGTERM) lua_pushliteral(L, "SIGTERM");
  else lua_pushnil(L);
  return 1;
}

/* core.clear_interrupt() -- the REPL calls it before each evaluation */
static int l_clear_interrupt(lua_State *L) {
  (void)L;
  engine_clear_interrupt();
  return 0;
}

void engine_lua_register(lua_State *L) {
  static const luaL_Reg fns[] = {{"engine_pump", l_engine_pump}, {"schedule", l_schedule},
                                 {"engine_status", l_engine_status}, {"set_quiet", l_set_quiet},
                                 {"request_interrupt", l_request_interrupt}, {"interrupt_pending", l_interrupt_pending},
                                 {"clear_interrupt", l_clear_interrupt}, {"parse_rate", l_parse_rate},
                                 {"catch_interrupts", l_catch_interrupts}, {"stop_signal", l_stop_signal},
                                 {"rate_reset_in", l_rate_reset_in}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  if (luaL_newmetatable(L, TRANSFER_BOX_MT)) {
    lua_pushcfunction(L, transfer_box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  lua_pushlightuserdata(L, (void *)&io_wait_sentinel);
  lua_setfield(L, -2, "IO_WAIT");
}
