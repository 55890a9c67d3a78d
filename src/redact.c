#include "redact.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SECRETS 64

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

/* Length of the key as it stands at p, each byte raw or percent-encoded (either case, any mix:
 * encoders differ on which bytes they escape), or 0 when the key does not start at p. */
static size_t key_at(const char *p, const char *end, const char *key, size_t klen) {
  const char *q = p;
  for (size_t i = 0; i < klen; i++) {
    if (q < end && *q == key[i]) {
      q++;
    } else if (end - q >= 3 && q[0] == '%' && hex_digit(q[1]) >= 0 && hex_digit(q[2]) >= 0 &&
               (hex_digit(q[1]) << 4 | hex_digit(q[2])) == (unsigned char)key[i]) {
      q += 3;
    } else if (q < end && *q == '+' && key[i] == ' ') { /* form encoding */
      q++;
    } else {
      return 0;
    }
  }
  return (size_t)(q - p);
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
      while (next < end && *next != key[0] && *next != '%' && *next != '+') next++;
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
