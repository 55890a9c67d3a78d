/* What every fuzz target shares: a finding aborts (libFuzzer saves the input), one lua_State
 * per process with the embedded modules, and Lua-level edge coverage fed to libFuzzer. */
#ifndef SMARTLUA_FUZZ_HARNESS_H
#define SMARTLUA_FUZZ_HARNESS_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

/* Reports a broken invariant on stderr and aborts: libFuzzer keeps the input as a crash. */
void fuzz_bug(const char *target, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3), noreturn))
#endif
    ;

/* A fresh state: standard libraries, package.preload for every embedded module and
 * smartlead.core, a global fuzz_bug(msg) for Lua drivers; with coverage, a line hook that
 * turns each (chunk, line) -> (chunk, line) step into a libFuzzer feature. */
lua_State *fuzz_lua_new(const char *target, int coverage);

/* Compiles driver (a chunk returning one function) and keeps that function in the registry. */
int fuzz_lua_driver(lua_State *L, const char *target, const char *driver);

/* Calls the driver on the input as a Lua string under lua_pcall. A raised error is a finding
 * when it is a Lua runtime error (attempt to ..., bad argument, stack overflow, ...), which means
 * the reader failed on bad input instead of reporting it; an error raised on purpose is not. */
void fuzz_lua_run(lua_State *L, const char *target, int driver_ref, const uint8_t *data, size_t size);

/* True when a raised message is one of Lua's own runtime errors rather than a deliberate one. */
int fuzz_is_runtime_error(const char *msg);

/* Full collection every so many inputs keeps one long-lived state's memory bounded. */
void fuzz_lua_tick(lua_State *L);

#endif
