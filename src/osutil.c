/* core.os: private files (O_NOFOLLOW, 0600) handed to Lua as ordinary file handles, private
 * directories (0700), the pid, and a line read with echo off. No shell anywhere. */
#include "osutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "engine_lua.h"

#define PRIVATE_FILE 0600
#define PRIVATE_DIR 0700
#define NOT_REGULAR (-1) /* an "errno" of our own: the path is there but is no regular file */
#define SECRET_MAX 4096  /* bytes of a secret line, its end included */

/* ---------------------------------------------------------------- paths and errors */

/* The path at arg, refused (raised) when empty or holding a NUL byte the OS would cut it at. */
static const char *check_path(lua_State *L, int arg) {
  size_t len;
  const char *path = luaL_checklstring(L, arg, &len);
  luaL_argcheck(L, len > 0, arg, "empty path");
  luaL_argcheck(L, strlen(path) == len, arg, "path contains a NUL byte");
  return path;
}

static int is_symlink(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

int osutil_push_open_error(lua_State *L, const char *path, int err, const char *verb) {
  luaL_pushfail(L);
  if ((err == ELOOP || err == EEXIST) && is_symlink(path))
    lua_pushfstring(L, "%s is a symbolic link; refusing to %s through it", path, verb);
  else if (err == NOT_REGULAR)
    lua_pushfstring(L, "%s: not a regular file", path);
  else
    lua_pushfstring(L, "%s: %s", path, strerror(err));
  return 2;
}

/* ---------------------------------------------------------------- private files */

typedef struct {
  int flags;      /* open(2) access and creation flags */
  int truncate;   /* "w": emptied once it is known to be a regular file */
  int writes;     /* any mode but plain "r" */
  char stdio[3];  /* the fdopen mode */
} open_mode_t;

/* Reads an fopen-like mode: r, w or a, then an optional +, b and (after w) x. 0 when invalid. */
static int parse_mode(const char *mode, open_mode_t *m) {
  char kind = *mode++;
  if (kind != 'r' && kind != 'w' && kind != 'a') return 0;
  int plus = *mode == '+';
  mode += plus;
  if (*mode == 'b') mode++;
  int excl = kind == 'w' && *mode == 'x';
  mode += excl;
  if (*mode != '\0') return 0;
  m->flags = (plus ? O_RDWR : kind == 'r' ? O_RDONLY : O_WRONLY) | (kind != 'r' ? O_CREAT : 0) |
             (kind == 'a' ? O_APPEND : 0) | (excl ? O_EXCL : 0);
  m->truncate = kind == 'w';
  m->writes = kind != 'r' || plus;
  m->stdio[0] = kind, m->stdio[1] = plus ? '+' : '\0', m->stdio[2] = '\0';
  return 1;
}

/* Checks the fd just opened: it must be a regular file. *found gets its mode when others could
 * use it (else 0); opened for writing, it is then brought to 0600. "w" empties it. 0 or an errno. */
static int settle_fd(int fd, const open_mode_t *m, mode_t *found) {
  struct stat st;
  if (fstat(fd, &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return NOT_REGULAR;
  mode_t bits = st.st_mode & 07777;
  *found = (bits & ~(mode_t)PRIVATE_FILE) ? bits : 0;
  if (m->writes && *found && fchmod(fd, PRIVATE_FILE) != 0) return errno;
  if (m->truncate && ftruncate(fd, 0) != 0) return errno;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) return errno;
  return 0;
}

/* Opens path without following a symbolic link in its last component; new files get 0600.
 * Returns the fd, or -1 with the reason in *err. O_NONBLOCK keeps a FIFO from hanging the open. */
static int open_private_fd(const char *path, const open_mode_t *m, mode_t *found, int *err) {
  int fd = open(path, m->flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, PRIVATE_FILE);
  if (fd < 0) return *err = errno == ENXIO ? NOT_REGULAR : errno, -1; /* ENXIO: a FIFO with no reader, a socket */
  if ((*err = settle_fd(fd, m, found)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* The __close of io's handles for our streams: liolib clears closef before calling it. */
static int close_stream(lua_State *L) {
  luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
  errno = 0;
  return luaL_fileresult(L, fclose(p->f) == 0, NULL);
}

/* A closed io file handle on the stack, made before any fd exists so an allocation error cannot
 * leak one (as liolib's newprefile). */
static luaL_Stream *new_stream(lua_State *L) {
  luaL_Stream *p = lua_newuserdatauv(L, sizeof *p, 0);
  p->f = NULL;
  p->closef = NULL;
  if (luaL_getmetatable(L, LUA_FILEHANDLE) != LUA_TTABLE) luaL_error(L, "core.os needs the io library");
  lua_setmetatable(L, -2);
  return p;
}

static void push_octal(lua_State *L, mode_t bits) {
  char octal[8]; /* lua_pushfstring has no %o */
  snprintf(octal, sizeof octal, "%04o", (unsigned)bits & 07777u);
  lua_pushstring(L, octal);
}

/* core.os.open_private(path, mode) -> file, widened | nil, err
 * mode as io.open's ("r", "w", "a", "r+", "w+", "a+", with "b"; "wx" fails if the file exists).
 * A new file is 0600; a symbolic link is refused. widened ("0644") is the mode an existing file
 * had beyond 0600: a file opened for writing is now 0600, one opened "r" is left as it was. */
static int l_open_private(lua_State *L) {
  const char *path = check_path(L, 1);
  open_mode_t m;
  luaL_argcheck(L, parse_mode(luaL_checkstring(L, 2), &m), 2, "invalid mode");
  luaL_Stream *p = new_stream(L);
  mode_t found = 0;
  int err = 0;
  int fd = open_private_fd(path, &m, &found, &err);
  if (fd < 0) return osutil_push_open_error(L, path, err, m.writes ? "write" : "read");
  p->f = fdopen(fd, m.stdio);
  if (!p->f) {
    err = errno;
    close(fd);
    return osutil_push_open_error(L, path, err, m.writes ? "write" : "read");
  }
  p->closef = close_stream; /* from here the handle owns the FILE and its fd */
  if (!found) return 1;
  push_octal(L, found);
  return 2;
}

/* core.os.is_symlink(path) -> boolean   (for messages: the opens refuse links by themselves) */
static int l_is_symlink(lua_State *L) {
  lua_pushboolean(L, is_symlink(check_path(L, 1)));
  return 1;
}

/* ---------------------------------------------------------------- private directories */

/* Makes dir 0700 unless it exists. 0 or an errno; an existing one must be a directory, and the
 * last one (last=1) not a symbolic link (ELOOP). */
static int make_dir(const char *dir, int last) {
  if (mkdir(dir, PRIVATE_DIR) == 0) return 0;
  int err = errno;
  struct stat st;
  if ((last ? lstat(dir, &st) : stat(dir, &st)) != 0) return err;
  if (last && S_ISLNK(st.st_mode)) return ELOOP;
  return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

static int push_mkdir_error(lua_State *L, const char *dir, int err) {
  luaL_pushfail(L);
  if (err == ELOOP) lua_pushfstring(L, "%s is a symbolic link; refusing to use it as a private directory", dir);
  else if (err == ENOTDIR) lua_pushfstring(L, "cannot create %s: it exists and is not a directory", dir);
  else lua_pushfstring(L, "cannot create %s: %s", dir, strerror(err));
  return 2;
}

/* core.os.mkdir_private(path) -> true | nil, err   (as mkdir -p; each directory it creates 0700) */
static int l_mkdir_private(lua_State *L) {
  const char *path = check_path(L, 1);
  size_t len = strlen(path);
  char *dir = lua_newuserdatauv(L, len + 1, 0); /* scratch the collector frees */
  memcpy(dir, path, len + 1);
  while (len > 1 && dir[len - 1] == '/') dir[--len] = '\0';
  for (size_t i = 1; i <= len; i++) {
    if (i < len && dir[i] != '/') continue;
    char c = dir[i];
    dir[i] = '\0';
    int err = make_dir(dir, i == len);
    if (err) return push_mkdir_error(L, dir, err);
    dir[i] = c;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* core.os.list_dir(path) -> {name, ...} (in no order, without . and ..), {name -> mtime in
 * seconds, with a fraction} | nil, err. mtime orders journals written within one second. */
static int l_list_dir(lua_State *L) {
  const char *path = check_path(L, 1);
  DIR *d = opendir(path);
  if (!d) return osutil_push_open_error(L, path, errno, "list");
  int fd = dirfd(d);
  lua_newtable(L);
  lua_newtable(L);
  lua_Integer n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    lua_pushstring(L, e->d_name);
    lua_rawseti(L, -3, ++n);
    struct stat st;
    if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec + (lua_Number)st.st_mtim.tv_nsec / 1e9);
      lua_setfield(L, -2, e->d_name);
    }
  }
  closedir(d);
  return 2;
}

/* ---------------------------------------------------------------- the process */

/* core.os.getpid() -> integer */
static int l_getpid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

/* ---------------------------------------------------------------- secrets */

typedef enum { LINE_OK, LINE_EOF, LINE_SIGNAL, LINE_LONG, LINE_ERROR } line_status_t;

static volatile sig_atomic_t secret_signal;
static const int SECRET_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define N_SECRET_SIGNALS (sizeof SECRET_SIGNALS / sizeof SECRET_SIGNALS[0])

static void on_secret_signal(int sig) { secret_signal = sig; }

/* Catches the signals that end a prompt (those not ignored), without SA_RESTART so that the
 * blocking read returns; old[] keeps what was there. */
static void catch_signals(struct sigaction old[]) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_secret_signal;
  sigemptyset(&sa.sa_mask);
  secret_signal = 0;
  for (size_t i = 0; i < N_SECRET_SIGNALS; i++) {
    sigaction(SECRET_SIGNALS[i], NULL, &old[i]);
    if ((old[i].sa_flags & SA_SIGINFO) || old[i].sa_handler != SIG_IGN) sigaction(SECRET_SIGNALS[i], &sa, NULL);
  }
}

static void restore_signals(const struct sigaction old[]) {
  for (size_t i = 0; i < N_SECRET_SIGNALS; i++) sigaction(SECRET_SIGNALS[i], &old[i], NULL);
}

/* Reads one line of stdin into line (at most cap - 1 bytes kept, the rest of a longer line
 * consumed), without its "\n" or "\r\n". A caught signal stops it. */
static line_status_t read_line(char *line, size_t cap, size_t *len) {
  size_t n = 0;
  int c, too_long = 0;
  clearerr(stdin);
  for (;;) {
    if (secret_signal) return LINE_SIGNAL;
    errno = 0;
    if ((c = getc(stdin)) == EOF) {
      if (!ferror(stdin)) break;
      if (errno != EINTR) return LINE_ERROR;
      clearerr(stdin);
      continue;
    }
    if (c == '\n') break;
    if (n + 1 < cap) line[n++] = (char)c;
    else too_long = 1;
  }
  if (c == EOF && n == 0) return LINE_EOF;
  if (too_long) return LINE_LONG;
  if (n > 0 && line[n - 1] == '\r') n--;
  *len = n;
  return LINE_OK;
}

/* The terminal on stdin with echo off for one line; restored before returning, then a signal
 * that stopped the line is raised again under the handlers that were there before. */
static line_status_t read_echo_off(const char *prompt, char *line, size_t cap, size_t *len, int *err) {
  struct termios saved, quiet;
  if (tcgetattr(STDIN_FILENO, &saved) != 0) return *err = errno, LINE_ERROR;
  quiet = saved;
  quiet.c_lflag &= ~(tcflag_t)ECHO;
  struct sigaction old[N_SECRET_SIGNALS];
  catch_signals(old);
  if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
    *err = errno;
    restore_signals(old);
    return LINE_ERROR;
  }
  fputs(prompt, stderr);
  fflush(stderr);
  line_status_t st = read_line(line, cap, len);
  *err = errno;
  tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  fputc('\n', stderr); /* the Enter that was not echoed */
  restore_signals(old);
  clearerr(stdin); /* a Ctrl-D here does not end later reads of the terminal */
  if (st == LINE_SIGNAL) raise(secret_signal);
  return st;
}

static int push_secret(lua_State *L, line_status_t st, const char *line, size_t len, int err) {
  if (st == LINE_OK) {
    lua_pushlstring(L, line, len);
    return 1;
  }
  luaL_pushfail(L);
  if (st == LINE_EOF) lua_pushliteral(L, "end of input");
  else if (st == LINE_SIGNAL && engine_lua_stop_signal()) /* the run stops: the script goes no further */
    return luaL_error(L, "interrupted at the prompt: the run stops");
  else if (st == LINE_SIGNAL) lua_pushliteral(L, "interrupted");
  else if (st == LINE_LONG) lua_pushfstring(L, "the line is longer than %d bytes", SECRET_MAX - 1);
  else lua_pushfstring(L, "cannot read the line: %s", strerror(err));
  return 2;
}

/* core.os.read_secret(prompt) -> line | nil, err
 * stdin a terminal: prompt on stderr, echo off while the line is typed, the terminal restored on
 * every path (Ctrl-C ends the prompt, then acts as it would have). Otherwise: one line of stdin,
 * no prompt, the terminal settings untouched. */
static int l_read_secret(lua_State *L) {
  const char *prompt = luaL_checkstring(L, 1);
  char line[SECRET_MAX];
  size_t len = 0;
  int err = 0;
  line_status_t st;
  if (isatty(STDIN_FILENO)) {
    st = read_echo_off(prompt, line, sizeof line, &len, &err);
  } else {
    secret_signal = 0;
    st = read_line(line, sizeof line, &len);
    err = errno;
  }
  int n = push_secret(L, st, line, len, err);
  explicit_bzero(line, sizeof line);
  return n;
}

void osutil_register(lua_State *L) {
  static const luaL_Reg fns[] = {{"open_private", l_open_private}, {"mkdir_private", l_mkdir_private},
                                 {"is_symlink", l_is_symlink}, {"list_dir", l_list_dir},
                                 {"getpid", l_getpid}, {"read_secret", l_read_secret},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_setfield(L, -2, "os");
}
