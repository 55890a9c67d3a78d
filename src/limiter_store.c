#include "limiter_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"

#define FILE_MAX 4096 /* a lessons file is a few lines; anything bigger is not ours */
#define MAX_LESSONS 16

/* ---------------------------------------------------------------- SHA-256 (FIPS 180-4) */

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(uint32_t h[8], const unsigned char *p) {
  uint32_t w[64], v[8];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  memcpy(v, h, sizeof v);
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = v[7] + (ror(v[4], 6) ^ ror(v[4], 11) ^ ror(v[4], 25)) + ((v[4] & v[5]) ^ (~v[4] & v[6])) + K[i] + w[i];
    uint32_t t2 = (ror(v[0], 2) ^ ror(v[0], 13) ^ ror(v[0], 22)) + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
    memmove(v + 1, v, 7 * sizeof *v);
    v[4] += t1;
    v[0] = t1 + t2;
  }
  for (int i = 0; i < 8; i++) h[i] += v[i];
}

void sha256_hex(const void *data, size_t len, char out[LIMITS_ID_LEN + 1]) {
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  const unsigned char *p = data;
  size_t left = len;
  for (; left >= 64; left -= 64, p += 64) sha256_block(h, p);
  unsigned char tail[128] = {0}; /* the rest, 0x80, zeros, the length in bits (big-endian) */
  memcpy(tail, p, left);
  tail[left] = 0x80;
  size_t blocks = left + 9 > 64 ? 2 : 1;
  uint64_t bits = (uint64_t)len * 8;
  for (int i = 0; i < 8; i++) tail[blocks * 64 - 1 - i] = (unsigned char)(bits >> (8 * i));
  for (size_t b = 0; b < blocks; b++) sha256_block(h, tail + 64 * b);
  for (int i = 0; i < 8; i++) snprintf(out + 8 * i, 9, "%08x", (unsigned)h[i]);
}

void limits_key_id(const char *key, char out[LIMITS_ID_LEN + 1]) {
  sha256_hex(key ? key : "", key ? strlen(key) : 0, out);
}

/* ---------------------------------------------------------------- the directory */

/* Opens the child directory `name` of dirfd without following a link, making it 0700 first
 * when it is missing and `create` is set. Closes dirfd. */
static int open_child_dir(int dirfd, const char *name, int create) {
  if (dirfd < 0) return -1;
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && create && (mkdirat(dirfd, name, 0700) == 0 || errno == EEXIST))
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  close(dirfd);
  return fd;
}

/* $XDG_STATE_HOME/smartlua/limits (an absolute XDG_STATE_HOME only, as the XDG spec says),
 * else $HOME/.local/state/smartlua/limits, as a directory descriptor; -1 when there is none. */
static int open_limits_dir(int create) {
  const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
  int fd;
  if (xdg && xdg[0] == '/') {
    fd = open(xdg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create && mkdir(xdg, 0700) == 0) fd = open(xdg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } else if (home && home[0] == '/') {
    fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fd = open_child_dir(fd, ".local", create);
    fd = open_child_dir(fd, "state", create);
  } else {
    return -1;
  }
  fd = open_child_dir(fd, "smartlua", create);
  return open_child_dir(fd, "limits", create);
}

/* ---------------------------------------------------------------- reading and writing */

static int parse_lessons(const char *text, stored_lesson_t *out, int max, double wall) {
  int n = 0;
  char err[80];
  for (const char *line = text; line && *line && n < max; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
    double requests, per, at;
    if (sscanf(line, "window %lf %lf %lf", &requests, &per, &at) != 3) continue;
    if (!rate_window_ok(requests, per, err, sizeof err) || at > wall + 60 || at < wall - RATE_LEARNED_TTL) continue;
    out[n++] = (stored_lesson_t){{(double)(long)requests, per}, at};
  }
  return n;
}

/* The file's text when it is a regular file of ours and small; NULL otherwise. */
static char *read_ours(int dirfd, const char *id) {
  int fd = openat(dirfd, id, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  char *text = NULL;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_size < FILE_MAX &&
      (text = calloc(1, (size_t)st.st_size + 1))) {
    ssize_t got = read(fd, text, (size_t)st.st_size);
    if (got < 0) got = 0;
    text[got] = '\0';
  }
  close(fd);
  return text;
}

int limits_load(const char *id, stored_lesson_t *out, int max, double wall) {
  int dir = open_limits_dir(0);
  if (dir < 0) return 0;
  char *text = read_ours(dir, id);
  close(dir);
  int n = text ? parse_lessons(text, out, max, wall) : 0;
  free(text);
  return n;
}

/* Adds the lessons of `more` that `all` lacks; for a window length in both, the fewer requests. */
static int merge(stored_lesson_t *all, int n, const stored_lesson_t *more, int m) {
  for (int j = 0; j < m; j++) {
    int i = 0;
    while (i < n && all[i].w.per != more[j].w.per) i++;
    if (i == n && n < MAX_LESSONS) all[n++] = more[j];
    else if (i < n && more[j].w.requests < all[i].w.requests) all[i] = more[j];
  }
  return n;
}

static int write_all(int fd, const char *s, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, s, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return 0;
    s += w, len -= (size_t)w;
  }
  return 1;
}

/* Writes text to a fresh 0600 file next to the target, then renames it over the target, so a
 * reader never sees half a file and a link planted at the target is replaced, not followed. */
static int replace_file(int dir, const char *id, const char *text, size_t len) {
  char tmp[LIMITS_ID_LEN + 32];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", id, (long)getpid());
  int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST && unlinkat(dir, tmp, 0) == 0)
    fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  int ok = write_all(fd, text, len);
  ok = close(fd) == 0 && ok;
  if (ok && renameat(dir, tmp, dir, id) == 0) return 1;
  unlinkat(dir, tmp, 0);
  return 0;
}

int limits_save(const char *id, const stored_lesson_t *lessons, int n, double wall) {
  int dir = open_limits_dir(1);
  if (dir < 0) return 0;
  stored_lesson_t all[MAX_LESSONS];
  char *old = read_ours(dir, id);
  int count = old ? parse_lessons(old, all, MAX_LESSONS, wall) : 0;
  free(old);
  count = merge(all, count, lessons, n);
  buf_t b;
  buf_init(&b);
  buf_puts(&b, "# smartlua: rate limits one API key met in 429s its headers did not foresee; the file is\n"
               "# named by the key's SHA-256, the key is not stored. Lines: window REQUESTS PER_SECONDS LEARNED_AT\n");
  for (int i = 0; i < count; i++) buf_printf(&b, "window %.0f %g %.0f\n", all[i].w.requests, all[i].w.per, all[i].learned_at);
  int ok = !b.failed && replace_file(dir, id, b.data, b.len);
  buf_free(&b);
  close(dir);
  return ok;
}

void limits_forget(const char *id) {
  int dir = open_limits_dir(0);
  if (dir < 0) return;
  unlinkat(dir, id, 0);
  close(dir);
}
