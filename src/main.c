/* smartlua: a Lua 5.4 host with the smartlead module preloaded. Modelled on lua.c: every chunk
 * runs under lua_pcall with a traceback handler, and no path aborts the process. Everything
 * beyond running chunks (subcommands, the REPL, --mock) is Lua in lua/smartlead/. */
#include <curl/curl.h>
#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "embedded.h"
#include "redact.h"
#include "version.h"

static const char *progname = "smartlua";

static void print_masked(FILE *out, const char *msg) {
  buf_t b;
  buf_init(&b);
  redact(&b, msg, strlen(msg), NULL);
  fprintf(out, "%s\n", b.data ? b.data : "");
  fflush(out);
  buf_free(&b);
}

static void report_error(const char *msg) {
  fprintf(stderr, "%s: ", progname);
  print_masked(stderr, msg ? msg : "(error object is not a string)");
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

static void print_usage(void) {
  printf("usage: %s [options] [script [args]]\n"
         "       %s mock [--port N] [--seed FILE.json]\n"
         "Options:\n"
         "  -e CHUNK          run the Lua chunk\n"
         "  -l MODULE         require MODULE into a global of the same name\n"
         "  -i                enter the REPL after the script\n"
         "  --mock[=FILE]     start the mock SmartLead server in-process and make it the default target\n"
         "                    (FILE.json: seed it from FILE instead of the bundled fixtures)\n"
         "  --version         print the version\n"
         "  --help            print this help\n"
         "  --                stop handling options\n"
         "  -                 run stdin as the script\n"
         "The API key comes from SMARTLEAD_API_KEY or the config file, never from the command line.\n",
         progname, progname);
}

/* ---------------------------------------------------------------- options */

typedef struct {
  int script;         /* index of the script in argv, 0 when none */
  int interactive;    /* -i */
  int has_chunks;     /* -e or -l given */
  int mock;           /* --mock */
  const char *mock_seed;
} options_t;

/* Returns 0 on success, -1 for bad usage, 1 when the run is over (--help, --version). */
static int parse_options(int argc, char **argv, options_t *o) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) return o->script = i + 1 < argc ? i + 1 : 0, 0;
    if (a[0] != '-' || strcmp(a, "-") == 0) return o->script = i, 0;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return print_usage(), 1;
    if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) return printf("smartlua %s (%s)\n", SMARTLUA_VERSION, LUA_RELEASE), 1;
    if (strcmp(a, "-i") == 0) o->interactive = 1;
    else if (strcmp(a, "--mock") == 0) {
      o->mock = 1;
      size_t n = i + 1 < argc ? strlen(argv[i + 1]) : 0;
      if (n > 5 && strcmp(argv[i + 1] + n - 5, ".json") == 0) o->mock_seed = argv[++i];
    } else if (strncmp(a, "--mock=", 7) == 0) o->mock = 1, o->mock_seed = a + 7;
    else if (strcmp(a, "-e") == 0 || strcmp(a, "-l") == 0) {
      if (++i >= argc) return fprintf(stderr, "%s: '%s' needs an argument\n", progname, a), -1;
      o->has_chunks = 1;
    } else return fprintf(stderr, "%s: unrecognized option '%s' (try --help)\n", progname, a), -1;
  }
  return 0;
}

/* arg table as lua.c builds it: script at 0, its arguments at 1.., the rest negative. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  int base = script ? script : argc;
  lua_createtable(L, argc - base, base + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - base);
  }
  lua_setglobal(L, "arg");
}

/* ---------------------------------------------------------------- running */

/* Prints the error on top of the stack when status says there is one; returns success. */
static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    report_error(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  return status == LUA_OK;
}

static int run_string(lua_State *L, const char *chunk) {
  int status = luaL_loadbufferx(L, chunk, strlen(chunk), "=(command line)", "t");
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

/* -l NAME: require NAME into the global NAME, as lua.c does. */
static int run_require(lua_State *L, const char *name) {
  lua_getglobal(L, "require");
  lua_pushstring(L, name);
  int status = docall(L, 1, 1);
  if (status == LUA_OK) lua_setglobal(L, name);
  return report(L, status);
}

static int run_early_chunks(lua_State *L, char **argv, int upto) {
  for (int i = 1; i < upto; i++) {
    if (strcmp(argv[i], "-e") == 0 && !run_string(L, argv[++i])) return 0;
    if (strcmp(argv[i], "-l") == 0 && !run_require(L, argv[++i])) return 0;
  }
  return 1;
}

/* Calls require("smartlead.host")[fn](...) with string arguments. */
static int call_host(lua_State *L, const char *fn, int nargs, const char **args) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "smartlead.host");
  if (!report(L, docall(L, 1, 1))) return 0;
  lua_getfield(L, -1, fn);
  lua_remove(L, -2);
  for (int i = 0; i < nargs; i++) args[i] ? (void)lua_pushstring(L, args[i]) : lua_pushnil(L);
  if (!report(L, docall(L, nargs, 1))) return 0;
  int ok = lua_isnil(L, -1) || lua_toboolean(L, -1);
  lua_pop(L, 1);
  return ok;
}

static int run_script(lua_State *L, char **argv, int argc, int script) {
  const char *name = argv[script];
  if (strcmp(name, "-") == 0 && strcmp(argv[script - 1], "--") != 0) name = NULL; /* stdin */
  int status = luaL_loadfilex(L, name, "t");
  if (status != LUA_OK) return report(L, status);
  int n = argc - script - 1;
  luaL_checkstack(L, n + 3, "too many arguments to script");
  for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
  return report(L, docall(L, n, 0));
}

/* Runs everything inside a protected call, so even an allocation failure cannot abort us. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  if (argc > 1 && strcmp(argv[1], "mock") == 0) { /* smartlua mock [--port N] [--seed FILE] */
    luaL_openlibs(L);
    embedded_install_preloads(L);
    create_arg_table(L, argv, argc, 1);
    lua_pushboolean(L, call_host(L, "mock_command", 0, NULL));
    return 1;
  }
  options_t o = {0};
  int parsed = parse_options(argc, argv, &o);
  if (parsed != 0) return lua_pushboolean(L, parsed > 0), 1;
  luaL_openlibs(L);
  embedded_install_preloads(L);
  create_arg_table(L, argv, argc, o.script);
  const char *mock_args[] = {o.mock_seed};
  if (o.mock && !call_host(L, "start_mock", 1, mock_args)) return lua_pushboolean(L, 0), 1;
  int ok = run_early_chunks(L, argv, o.script ? o.script : argc);
  if (ok && o.script) ok = run_script(L, argv, argc, o.script);
  if (ok && (o.interactive || (!o.script && !o.has_chunks))) {
    const char *repl_args[] = {isatty(0) ? "tty" : NULL};
    ok = call_host(L, "repl", 1, repl_args);
  }
  lua_pushboolean(L, ok);
  return 1;
}

static int run_lua(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (!L) return fprintf(stderr, "%s: cannot create the Lua state: out of memory\n", progname), 1;
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 0);
  int ok = status == LUA_OK && lua_toboolean(L, -1);
  if (status != LUA_OK) report_error(lua_tostring(L, -1));
  lua_close(L);
  return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN); /* a closed peer is an error to report, not a reason to die */
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return fprintf(stderr, "%s: libcurl failed to start\n", progname), 1;
  redact_add_secret(getenv("SMARTLEAD_API_KEY"));
  int status = run_lua(argc, argv);
  curl_global_cleanup();
  return status;
}
