/* The engine as Lua sees it: one engine per lua_State, coroutines that yield while their
 * request is in flight, and the pump a Lua scheduler drives. */
#ifndef SMARTLUA_ENGINE_LUA_H
#define SMARTLUA_ENGINE_LUA_H

#include <lua.h>
#include <stddef.h>

#include "engine.h"

/* Sends t (whose user is a reply_t) and pushes its answer. In a coroutine registered with
 * core.schedule it yields core.IO_WAIT until the answer is there; elsewhere it pumps the
 * engine until then. Must be the caller's last step (see client_call). */
int engine_call(lua_State *L, transfer_t *t);

/* Pushes v as an integer when it is whole (10, not 10.0). */
void engine_lua_push_number(lua_State *L, double v);

/* The most answer bytes the state's engine holds at once (option max_buffered_mb). */
void engine_lua_set_answer_cap(lua_State *L, size_t bytes);
size_t engine_lua_answer_cap(lua_State *L);

/* The signal (SIGINT, SIGTERM) that asked a script or command run to stop; 0: none. */
int engine_lua_stop_signal(void);

/* core.engine_pump, core.schedule, core.IO_WAIT, core.engine_status, core.set_quiet,
 * core.request_interrupt, core.interrupt_pending, core.clear_interrupt, core.parse_rate,
 * core.catch_interrupts, core.stop_signal */
void engine_lua_register(lua_State *L);

#endif
