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
#include "repl.h"
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
         "       %s mock [--port N] [--seed FILE.json] [--extra-accounts N] [--knobs FILE.json]\n"
         "       %s apply [--journal FILE] [--max-changes N] PLAN.json\n"
         "       %s undo [--journal FILE] JOURNAL\n"
         "       %s accounts list|get|update|add ...   (smartlua accounts --help)\n"
         "       %s campaigns attach|detach|accounts ...\n"
         "       %s api METHOD PATH [-q key=value ...] [-d JSON | -d @FILE]\n"
         "       %s config list | config set KEY VALUE\n"
         "Options:\n"
         "  -e CHUNK          run the Lua chunk\n"
         "  -l MODULE         require MODULE into a global of the same name\n"
         "  -i                enter the REPL after the script\n"
         "  -v, -vv, -vvv     trace requests on stderr: one line each; + headers and rate state; + bodies\n"
         "  --profile NAME    use the named profile of the config file (else $SMARTLUA_PROFILE)\n"
         "  --mock[=FILE]     start the mock SmartLead server in-process and make it the default target\n"
         "                    (FILE.json: seed it from FILE instead of the bundled fixtures)\n"
         "  --plan            send reads, record writes without sending them, print field: before -> after\n"
         "  --plan-out FILE   with --plan: also save the plan for `smartlua apply FILE`\n"
         "  --journal FILE    journal writes to FILE (default $XDG_STATE_HOME/smartlua/journal/)\n"
         "  --resume JOURNAL  run again, skipping the writes JOURNAL shows as done\n"
         "  --max-changes N   plan first; refuse (exit 3) a run that would change more than N accounts\n"
         "  --yes, -y         do not ask before applying a run that changes more than 25 accounts\n"
         "  --no-journal      send writes straight through: no journal, no question (tests, benchmarks)\n"
         "  --version         print the version\n"
         "  --help            print this help\n"
         "  --                stop handling options\n"
         "  -                 run stdin as the script\n"
         "The API key comes from SMARTLEAD_API_KEY or the config file, never from the command line.\n"
         "Writes are journaled. A script run on a terminal (or with --max-changes) runs as a plan first and the\n"
         "recorded writes are applied after it ends, so a script that uses what its own writes return (the id of a\n"
         "new account) needs --yes, or a run without a terminal.\n"
         "Exit codes: 0 ok, 1 error, 2 usage, 3 refused (--max-changes or declined), 4 some writes failed or were skipped.\n",
         progname, progname, progname, progname, progname, progname, progname, progname);
}

/* ---------------------------------------------------------------- options */

typedef struct {
  int script;         /* index of the script in argv, 0 when none */
  int interactive;    /* -i */
  int has_chunks;     /* -e or -l given */
  int mock;           /* --mock */
  const char *mock_seed;
  int plan, yes;      /* --plan, --yes */
  int no_journal;     /* --no-journal */
  const char *plan_out, *journal, *resume, *max_changes;
  const char *profile; /* --profile */
  int trace;           /* -v: 1, -vv: 2, -vvv: 3 */
} options_t;

/* "--name VALUE" or "--name=VALUE": 1 and *out set when argv[*i] is the option, 0 when it is
 * not, -1 when its value is missing. */
static int take_value(int argc, char **argv, int *i, const char *name, const char **out) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') return *out = a + n + 1, 1;
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) return -1;
  *out = argv[++*i];
  return 1;
}

/* The run-layer options (plan, journal, resume, limits): 1 taken, 0 not one of them, -1 usage error. */
static int parse_run_option(int argc, char **argv, int *i, options_t *o) {
  static const char *const names[] = {"--plan-out", "--journal", "--resume", "--max-changes"};
  const char **slots[] = {&o->plan_out, &o->journal, &o->resume, &o->max_changes};
  const char *a = argv[*i];
  if (strcmp(a, "--plan") == 0) return o->plan = 1, 1;
  if (strcmp(a, "--yes") == 0 || strcmp(a, "-y") == 0) return o->yes = 1, 1;
  if (strcmp(a, "--no-journal") == 0) return o->no_journal = 1, 1;
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    int r = take_value(argc, argv, i, names[k], slots[k]);
    if (r < 0) return fprintf(stderr, "%s: '%s' needs an argument\n", progname, names[k]), -1;
    if (r > 0) return 1;
  }
  return 0;
}

/* -v, -vv, -vvv: the trace level, or 0 when a is not one of them. */
static int verbosity(const char *a) {
  if (a[0] != '-' || a[1] != 'v') return 0;
  size_t n = strspn(a + 1, "v");
  return a[1 + n] == '\0' && n <= 3 ? (int)n : 0;
}

/* Returns 0 on success, -1 for bad usage (exit 2), 1 when the run is over (--help, --version). */
static int parse_options(int argc, char **argv, options_t *o) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int run = parse_run_option(argc, argv, &i, o);
    if (run < 0) return run;
    if (run > 0) continue;
    if (strcmp(a, "--") == 0) return o->script = i + 1 < argc ? i + 1 : 0, 0;
    if (a[0] != '-' || strcmp(a, "-") == 0) return o->script = i, 0;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return print_usage(), 1;
    if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) return printf("smartlua %s (%s)\n", SMARTLUA_VERSION, LUA_RELEASE), 1;
    if (strcmp(a, "-i") == 0) o->interactive = 1;
    else if (verbosity(a)) o->trace = verbosity(a);
    else if (take_value(argc, argv, &i, "--profile", &o->profile)) {
      if (!o->profile) return fprintf(stderr, "%s: '--profile' needs a name\n", progname), -1;
    }
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

/* Calls require("smartlead.host")[fn] with the nargs values on top of the stack. Returns an exit
 * code: 0 when it returns nil or true, 1 for false or an error, else the integer it returns. */
static int call_host_values(lua_State *L, const char *fn, int nargs) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "smartlead.host");
  if (!report(L, docall(L, 1, 1))) return lua_pop(L, nargs), 1;
  lua_getfield(L, -1, fn);
  lua_remove(L, -2);
  lua_insert(L, -1 - nargs);
  if (!report(L, docall(L, nargs, 1))) return 1;
  int code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : (lua_isnil(L, -1) || lua_toboolean(L, -1)) ? 0 : 1;
  lua_pop(L, 1);
  return code;
}

/* Calls require("smartlead.host")[fn](...) with string arguments; returns success. */
static int call_host(lua_State *L, const char *fn, int nargs, const char **args) {
  for (int i = 0; i < nargs; i++) args[i] ? (void)lua_pushstring(L, args[i]) : lua_pushnil(L);
  return call_host_values(L, fn, nargs) == 0;
}

static void set_string_field(lua_State *L, const char *name, const char *value) {
  if (!value) return;
  lua_pushstring(L, value);
  lua_setfield(L, -2, name);
}

/* The options the run layer reads, as a table: flags, tty (stdin and stderr are terminals),
 * repl, the option values, script (the file, for apply and undo) and nargs after it. */
static void push_run_options(lua_State *L, const options_t *o, char **argv, int argc) {
  lua_createtable(L, 0, 12);
  lua_pushboolean(L, o->plan), lua_setfield(L, -2, "plan");
  lua_pushboolean(L, o->yes), lua_setfield(L, -2, "yes");
  lua_pushboolean(L, o->no_journal), lua_setfield(L, -2, "no_journal");
  lua_pushboolean(L, isatty(0) && isatty(2)), lua_setfield(L, -2, "tty");
  lua_pushboolean(L, o->interactive || o->has_chunks), lua_setfield(L, -2, "chunks");
  lua_pushboolean(L, o->interactive || (!o->script && !o->has_chunks)), lua_setfield(L, -2, "repl");
  set_string_field(L, "plan_out", o->plan_out);
  set_string_field(L, "journal", o->journal);
  set_string_field(L, "resume", o->resume);
  set_string_field(L, "max_changes", o->max_changes);
  if (o->script) set_string_field(L, "script", argv[o->script]);
  lua_pushinteger(L, o->script ? argc - o->script - 1 : 0), lua_setfield(L, -2, "nargs");
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

static int is_cli_command(const char *word) {
  static const char *const names[] = {"accounts", "campaigns", "api", "config"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(word, names[i]) == 0) return 1;
  return 0;
}

static void open_state(lua_State *L) {
  luaL_openlibs(L);
  embedded_install_preloads(L);
  repl_install_preload(L);
}

/* --profile and -v go to the Lua side before anything runs; returns success. */
static int apply_settings(lua_State *L, const options_t *o) {
  if (!o->profile && !o->trace) return 1;
  lua_createtable(L, 0, 2);
  set_string_field(L, "profile", o->profile);
  lua_pushinteger(L, o->trace), lua_setfield(L, -2, "trace");
  return call_host_values(L, "apply_settings", 1) == 0;
}

/* smartlua apply|undo [options] FILE: options as for a script run, FILE where the script goes. */
static int run_subcommand(lua_State *L, int argc, char **argv) {
  options_t o = {0};
  int parsed = parse_options(argc - 1, argv + 1, &o);
  if (parsed != 0) return parsed > 0 ? 0 : 2;
  if (o.script) o.script += 1; /* index into argv, not argv + 1 */
  open_state(L);
  create_arg_table(L, argv, argc, 1);
  if (!apply_settings(L, &o)) return 2;
  const char *mock_args[] = {o.mock_seed};
  if (o.mock && !call_host(L, "start_mock", 1, mock_args)) return 1;
  push_run_options(L, &o, argv, argc);
  return call_host_values(L, strcmp(argv[1], "apply") == 0 ? "apply_command" : "undo_command", 1);
}

/* Runs the chunks, the script and the REPL between run_begin and run_end (plan, journal, resume). */
static int run_main(lua_State *L, int argc, char **argv, const options_t *o) {
  push_run_options(L, o, argv, argc);
  int code = call_host_values(L, "run_begin", 1);
  if (code != 0) return code;
  int ok = run_early_chunks(L, argv, o->script ? o->script : argc);
  if (ok && o->script) ok = run_script(L, argv, argc, o->script);
  if (ok && (o->interactive || (!o->script && !o->has_chunks))) {
    const char *repl_args[] = {isatty(0) ? "tty" : NULL};
    ok = call_host(L, "repl", 1, repl_args);
  }
  lua_pushboolean(L, ok);
  return call_host_values(L, "run_end", 1);
}

/* Runs everything inside a protected call, so even an allocation failure cannot abort us.
 * Returns the exit code. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  if (argc > 1 && is_cli_command(argv[1])) { /* smartlua accounts list ..., parsed in Lua */
    open_state(L);
    create_arg_table(L, argv, argc, 1);
    lua_pushinteger(L, call_host_values(L, "cli_command", 0));
    return 1;
  }
  if (argc > 1 && strcmp(argv[1], "mock") == 0) { /* smartlua mock [--port N] [--seed FILE] */
    open_state(L);
    create_arg_table(L, argv, argc, 1);
    lua_pushinteger(L, call_host_values(L, "mock_command", 0));
    return 1;
  }
  if (argc > 1 && (strcmp(argv[1], "apply") == 0 || strcmp(argv[1], "undo") == 0)) {
    lua_pushinteger(L, run_subcommand(L, argc, argv));
    return 1;
  }
  options_t o = {0};
  int parsed = parse_options(argc, argv, &o);
  if (parsed != 0) return lua_pushinteger(L, parsed > 0 ? 0 : 2), 1;
  open_state(L);
  create_arg_table(L, argv, argc, o.script);
  if (!apply_settings(L, &o)) return lua_pushinteger(L, 2), 1;
  const char *mock_args[] = {o.mock_seed};
  if (o.mock && !call_host(L, "start_mock", 1, mock_args)) return lua_pushinteger(L, 1), 1;
  lua_pushinteger(L, run_main(L, argc, argv, &o));
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
