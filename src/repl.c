/* The host's line editor for the REPL: libedit (readline interface) with persistent history,
 * completion answered by a Lua function, and Ctrl-C that cancels the running evaluation instead
 * of killing the process. Preloaded as "smartlead.readline" by the host only (core.so has no
 * terminal to edit). */
#include "repl.h"

#include <editline/readline.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"

#define COMPLETER_KEY "smartlead.readline.completer"
#define HISTORY_MAX 2000

static lua_State *completion_L;     /* set only while readline() runs */
static lua_State *evaluating_L;     /* set only while protect() runs: the state Ctrl-C stops */
static volatile sig_atomic_t got_sigint;
static long cancelled_before; /* engine_cancelled_count() when the evaluation began */
static int calls_returned;    /* a Ctrl-C already let the calls it aborted return their errors */
static long last_cancelled;   /* requests a Ctrl-C aborted during the last protect() */

/* ---------------------------------------------------------------- Ctrl-C */

/* Runs at the next instruction after a Ctrl-C. When it aborted requests, the first time the
 * calls waiting on them return their documented error objects (kind "cancelled", ambiguous for a
 * write in flight): `r, err = sl:update_email_account(...)` gets them. Otherwise (a runaway Lua
 * loop, a second Ctrl-C) the evaluation stops, as lua.c does, with a message that names no file. */
static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  if (engine_cancelled_count() > cancelled_before && !calls_returned) {
    calls_returned = 1;
    return;
  }
  lua_pushliteral(L, "interrupted by Ctrl-C");
  lua_error(L);
}

static void on_sigint(int sig) {
  (void)sig;
  got_sigint = 1;
  engine_request_interrupt(); /* aborts transfers the evaluation waits on */
  if (evaluating_L) lua_sethook(evaluating_L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void catch_sigint(struct sigaction *old) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, old); /* no SA_RESTART: a blocking read returns and sees the flag */
}

/* Error handler for protect(): {error value, traceback}; the REPL shows the traceback on request. */
static int traceback_handler(lua_State *L) {
  lua_createtable(L, 2, 0);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 1);
  luaL_traceback(L, L, NULL, 1);
  lua_rawseti(L, -2, 2);
  return 1;
}

/* readline.protect(fn, ...) -> true, results... | false, error, traceback
 * Runs fn with Ctrl-C armed: it stops pure Lua code and aborts the HTTP transfers fn waits on. */
static int l_protect(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  int nargs = lua_gettop(L) - 1;
  lua_pushcfunction(L, traceback_handler);
  lua_insert(L, 1);
  struct sigaction old;
  got_sigint = 0, calls_returned = 0;
  engine_clear_interrupt();
  cancelled_before = engine_cancelled_count();
  evaluating_L = L;
  catch_sigint(&old);
  int status = lua_pcall(L, nargs, LUA_MULTRET, 1);
  sigaction(SIGINT, &old, NULL);
  evaluating_L = NULL;
  lua_sethook(L, NULL, 0, 0); /* a Ctrl-C that came after the last instruction */
  last_cancelled = engine_cancelled_count() - cancelled_before;
  engine_clear_interrupt();
  if (status == LUA_OK) {
    lua_pushboolean(L, 1);
    lua_replace(L, 1);
    return lua_gettop(L);
  }
  lua_pushboolean(L, 0);
  lua_rawgeti(L, -2, 1);
  lua_rawgeti(L, -3, 2);
  return 3;
}

/* readline.cancelled() -> how many requests a Ctrl-C aborted during the last protect() */
static int l_cancelled(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)last_cancelled);
  return 1;
}

/* ---------------------------------------------------------------- completion */

static char **candidates;  /* this round's answers, handed out one by one */
static size_t n_candidates, next_candidate;

static void drop_candidates(void) {
  for (size_t i = next_candidate; i < n_candidates; i++) free(candidates[i]);
  free(candidates);
  candidates = NULL, n_candidates = next_candidate = 0;
}

/* Asks the Lua completer for the words that can replace `word` in the line. */
static void ask_completer(lua_State *L, const char *word) {
  drop_candidates();
  if (lua_getfield(L, LUA_REGISTRYINDEX, COMPLETER_KEY) != LUA_TFUNCTION) return (void)lua_pop(L, 1);
  lua_pushstring(L, word);
  lua_pushstring(L, rl_line_buffer ? rl_line_buffer : "");
  if (lua_pcall(L, 2, 1, 0) != LUA_OK || !lua_istable(L, -1)) return (void)lua_pop(L, 1);
  size_t n = lua_rawlen(L, -1);
  candidates = calloc(n ? n : 1, sizeof *candidates);
  for (size_t i = 1; candidates && i <= n; i++) {
    lua_rawgeti(L, -1, (lua_Integer)i);
    const char *s = lua_tostring(L, -1);
    if (s && (candidates[n_candidates] = strdup(s))) n_candidates++;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* libedit's generator protocol: state 0 starts a round; each call returns one malloc'd word
 * that libedit frees. */
static char *next_completion(const char *word, int state) {
  if (!completion_L) return NULL;
  if (state == 0) ask_completer(completion_L, word);
  if (next_candidate < n_candidates) return candidates[next_candidate++];
  drop_candidates();
  return NULL;
}

static char **complete(const char *word, int start, int end) {
  (void)start, (void)end;
  rl_attempted_completion_over = 1; /* never fall back to file names */
  return rl_completion_matches(word, next_completion);
}

/* readline.set_completer(fn) -- fn(word, line) -> {candidate, ...}, each a whole word */
static int l_set_completer(lua_State *L) {
  if (!lua_isnil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, COMPLETER_KEY);
  return 0;
}

/* ---------------------------------------------------------------- reading lines */

/* readline.readline(prompt) -> line | nil, "eof" | nil, "interrupted" */
static int l_readline(lua_State *L) {
  const char *prompt = luaL_checkstring(L, 1);
  struct sigaction old;
  got_sigint = 0;
  catch_sigint(&old);
  completion_L = L;
  char *line = readline(prompt);
  completion_L = NULL;
  sigaction(SIGINT, &old, NULL);
  drop_candidates();
  if (line) {
    lua_pushstring(L, line);
    free(line);
    return 1;
  }
  lua_pushnil(L);
  lua_pushstring(L, got_sigint ? "interrupted" : "eof");
  return 2;
}

/* readline.add_history(line) -- the caller masks secrets first */
static int l_add_history(lua_State *L) {
  add_history(luaL_checkstring(L, 1));
  return 0;
}

/* readline.load_history(path) -> true | nil, err */
static int l_load_history(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (access(path, F_OK) != 0) return lua_pushboolean(L, 1), 1;
  if (read_history(path) != 0) return luaL_fileresult(L, 0, path);
  return lua_pushboolean(L, 1), 1;
}

/* mkdir -p of path's parent, each level created 0700 (history is private). */
static int make_parent_dirs(const char *path) {
  char *dir = strdup(path);
  if (!dir) return 0;
  int ok = 1;
  for (char *p = dir + 1; ok && (p = strchr(p, '/')); p++) {
    *p = '\0';
    ok = mkdir(dir, 0700) == 0 || errno == EEXIST;
    *p = '/';
  }
  free(dir);
  return ok;
}

/* readline.save_history(path) -> true | nil, err; the file is created 0600 (it holds what was
 * typed, which may name accounts and campaigns) */
static int l_save_history(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (!make_parent_dirs(path)) return luaL_fileresult(L, 0, path);
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return luaL_fileresult(L, 0, path);
  int mode_ok = fchmod(fd, 0600) == 0;
  close(fd);
  if (!mode_ok) return luaL_fileresult(L, 0, path);
  stifle_history(HISTORY_MAX);
  if (write_history(path) != 0) return luaL_fileresult(L, 0, path);
  return lua_pushboolean(L, 1), 1;
}

static int open_readline(lua_State *L) {
  static const luaL_Reg fns[] = {{"readline", l_readline},         {"add_history", l_add_history},
                                 {"load_history", l_load_history}, {"save_history", l_save_history},
                                 {"set_completer", l_set_completer}, {"protect", l_protect},
                                 {"cancelled", l_cancelled},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}

void repl_install_preload(lua_State *L) {
  /* '.' and ':' stay inside a word, so `sl:get_e` and `a.warmup_details.` complete whole */
  rl_basic_word_break_characters = " \t\n\"'`@$><=;|&{(,+-*/%^~#[]";
  rl_attempted_completion_function = complete;
  rl_completion_append_character = '\0';
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open_readline);
  lua_setfield(L, -2, "smartlead.readline");
  lua_pop(L, 1);
}
