#include "redact.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SECRETS 256 /* an agency's workspaces and then some; each mask call scans them all */

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[MAX_SECRETS]; /* process-wide: a key once seen stays masked until exit */
static size_t n_secrets;

/* When core.so is unloaded (lua_close dlcloses it), the list goes with it: free what it owns. */
__attribute__((destructor)) static void forget_secrets(void) {
  for (size_t i = 0; i < n_secrets; i++) {
    explicit_bzero(secrets[i], strlen(secrets[i]));
    free(secrets[i]);
  }
  n_secrets = 0;
}

void redact_add_secret(const char *secret) {
  if (!secret || strlen(secret) < 4) return; /* too short to mask without wrecking text */
  pthread_mutex_lock(&secrets_lock);
  int known = 0;
  for (size_t i = 0; i < n_secrets; i++) known |= strcmp(secrets[i], secret) == 0;
  if (!known && n_secrets < MAX_SECRETS) {
    char *copy = strdup(secret);
    if (copy) secrets[n_secrets++] = copy;
  }
  pthread_mutex_unlock(&secrets_lock);
}

/* `api_key=` followed by its value up to the next separator. */
static size_t api_key_param(const char *p, const char *end) {
  static const char name[] = "api_key=";
  if ((size_t)(end - p) < sizeof name - 1 || strncasecmp(p, name, sizeof name - 1) != 0) return 0;
  const char *v = p + sizeof name - 1;
  while (v < end && !strchr("&#\"'),;<>", *v) && !isspace((unsigned char)*v)) v++;
  return v > p + sizeof name - 1 ? (size_t)(v - p) : 0; /* "api_key=" with no value hides nothing */
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* \uXXXX at p (with a surrogate pair: 12 bytes) as UTF-8 into u; returns its length in p, 0 when
 * p holds none. *ulen is the number of UTF-8 bytes. */
static size_t json_u_escape(const char *p, const char *end, unsigned char u[4], size_t *ulen) {
  if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return 0;
  unsigned cp = 0;
  for (int k = 2; k < 6; k++) {
    if (hex_digit(p[k]) < 0) return 0;
    cp = cp << 4 | (unsigned)hex_digit(p[k]);
  }
  size_t used = 6;
  if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate needs its low half */
    unsigned lo = 0;
    if (end - p < 12 || p[6] != '\\' || p[7] != 'u') return 0;
    for (int k = 8; k < 12; k++) {
      if (hex_digit(p[k]) < 0) return 0;
      lo = lo << 4 | (unsigned)hex_digit(p[k]);
    }
    if (lo < 0xDC00 || lo > 0xDFFF) return 0;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    used = 12;
  }
  if (cp < 0x80) u[0] = (unsigned char)cp, *ulen = 1;
  else if (cp < 0x800) u[0] = (unsigned char)(0xC0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 0x3F)), *ulen = 2;
  else if (cp < 0x10000)
    u[0] = (unsigned char)(0xE0 | cp >> 12), u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)),
    u[2] = (unsigned char)(0x80 | (cp & 0x3F)), *ulen = 3;
  else
    u[0] = (unsigned char)(0xF0 | cp >> 18), u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F)),
    u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)), u[3] = (unsigned char)(0x80 | (cp & 0x3F)), *ulen = 4;
  return used;
}

/* An HTML character reference at p (&amp; &lt; &gt; &quot; &apos; &#NN; &#xHH;) standing for one
 * ASCII byte, as pages echo a path (Express's "Cannot GET /..."): its length, the byte in *c. */
static size_t html_entity(const char *p, const char *end, unsigned char *c) {
  static const struct { const char *name; char c; } named[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  if (p >= end || *p != '&') return 0;
  for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
    size_t n = strlen(named[i].name);
    if ((size_t)(end - p) >= n && memcmp(p, named[i].name, n) == 0) return *c = (unsigned char)named[i].c, n;
  }
  if (end - p < 4 || p[1] != '#') return 0;
  int hex = p[2] == 'x' || p[2] == 'X';
  unsigned v = 0;
  const char *q = p + 2 + hex;
  for (; q < end && q - p < 8 && (hex ? hex_digit(*q) >= 0 : (*q >= '0' && *q <= '9')); q++)
    v = v * (hex ? 16 : 10) + (unsigned)(hex ? hex_digit(*q) : *q - '0');
  if (q == p + 2 + hex || q >= end || *q != ';' || v == 0 || v > 0x7F) return 0;
  *c = (unsigned char)v;
  return (size_t)(q + 1 - p);
}

/* The ways the key's byte i may be written at q: raw, percent-encoded (either case), '+' for a
 * space, JSON-escaped (\" \\ \/ or \uXXXX, which may stand for several UTF-8 bytes), or as an
 * HTML character reference.
 * Marks in next_row(k) every (key index k, text offset) reachable from (i, off). */
static void step_from(const char *p, const char *end, const char *key, size_t klen, size_t i, size_t off,
                      unsigned char *reach, size_t width) {
  const char *q = p + off;
  unsigned char c = (unsigned char)key[i];
#define MARK(k, o) do { if ((o) < width) reach[(k) * width + (o)] = 1; } while (0)
  if (q < end && (unsigned char)*q == c) MARK(i + 1, off + 1);
  if (end - q >= 3 && q[0] == '%' && hex_digit(q[1]) >= 0 && hex_digit(q[2]) >= 0 &&
      (hex_digit(q[1]) << 4 | hex_digit(q[2])) == c)
    MARK(i + 1, off + 3);
  if (q < end && *q == '+' && c == ' ') MARK(i + 1, off + 1);
  if (end - q >= 2 && q[0] == '\\' && (q[1] == '"' || q[1] == '\\' || q[1] == '/') && (unsigned char)q[1] == c)
    MARK(i + 1, off + 2);
  unsigned char u[4], h;
  size_t ulen, used = json_u_escape(q, end, u, &ulen);
  if (used && i + ulen <= klen && memcmp(u, key + i, ulen) == 0) MARK(i + ulen, off + used);
  used = html_entity(q, end, &h);
  if (used && h == c) MARK(i + 1, off + used);
#undef MARK
}

/* Length of the longest writing of the key that starts at p (each byte in any of the forms
 * step_from knows, any mix: encoders differ on which bytes they escape), or 0 when none does.
 * Every choice is tried (a '%' of the key may stand raw or as %25), over a table of
 * (key index, text offset) pairs, so no text makes it slow. */
static size_t key_at(const char *p, const char *end, const char *key, size_t klen) {
  size_t width = 12 * klen + 1; /* no form takes more than 12 bytes per key byte */
  if (width > (size_t)(end - p) + 1) width = (size_t)(end - p) + 1;
  unsigned char small[4096];
  size_t cells = (klen + 1) * width;
  unsigned char *reach = cells <= sizeof small ? small : calloc(cells, 1);
  if (!reach) return 0;
  memset(reach, 0, cells);
  reach[0] = 1;
  for (size_t i = 0; i < klen; i++)
    for (size_t off = 0; off < width; off++)
      if (reach[i * width + off]) step_from(p, end, key, klen, i, off, reach, width);
  size_t best = 0;
  for (size_t off = width; off-- > 0;)
    if (reach[klen * width + off]) {
      best = off;
      break;
    }
  if (reach != small) free(reach);
  return best;
}

/* Masks one secret (raw, percent-encoded or partly so) in src, writing to dst. */
static void mask_one(buf_t *dst, const char *src, size_t len, const char *key) {
  size_t klen = strlen(key);
  const char *p = src, *end = src + len;
  while (p < end) {
    size_t n = key_at(p, end, key, klen);
    if (n > 0) {
      buf_puts(dst, REDACTED);
      p += n;
    } else {
      const char *next = p + 1; /* skip to the next byte that can start the key */
      while (next < end && *next != key[0] && *next != '%' && *next != '+' && *next != '\\' && *next != '&') next++;
      buf_append(dst, p, (size_t)(next - p));
      p = next;
    }
  }
}

static void mask_api_key_params(buf_t *dst, const char *s, size_t len) {
  const char *p = s, *end = s + len;
  while (p < end) {
    size_t n = api_key_param(p, end);
    if (n > 0) {
      buf_append(dst, p, 8); /* "api_key=" as written, any case */
      buf_puts(dst, REDACTED);
      p += n;
    } else {
      buf_putc(dst, *p++);
    }
  }
}

/* Known keys first, whole (a key may hold '&', where the api_key= rule below would stop), then
 * any api_key= value left, which catches keys the process was never told about. */
void redact(buf_t *out, const char *s, size_t len, const char *key) {
  buf_t a, b;
  buf_init(&a);
  buf_init(&b);
  buf_append(&a, s, len);
  if (key && strlen(key) >= 4) {
    mask_one(&b, a.data ? a.data : "", a.len, key);
    buf_t t = a; a = b; b = t;
    buf_reset(&b);
  }
  pthread_mutex_lock(&secrets_lock);
  for (size_t i = 0; i < n_secrets; i++) {
    mask_one(&b, a.data ? a.data : "", a.len, secrets[i]);
    buf_t t = a; a = b; b = t;
    buf_reset(&b);
  }
  pthread_mutex_unlock(&secrets_lock);
  mask_api_key_params(out, a.data ? a.data : "", a.len);
  buf_free(&a);
  buf_free(&b);
}
