#include "redact.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SECRETS 64

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[MAX_SECRETS]; /* process-wide, never freed: a key once seen stays masked */
static size_t n_secrets;

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

static int starts_with(const char *p, const char *end, const char *lit, size_t n) {
  return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

/* `api_key=` followed by its value up to the next separator. */
static size_t api_key_param(const char *p, const char *end) {
  static const char name[] = "api_key=";
  if (!starts_with(p, end, name, sizeof name - 1)) return 0;
  const char *v = p + sizeof name - 1;
  while (v < end && *v != '&' && *v != '#' && *v != '"' && *v != '\'' && !isspace((unsigned char)*v)) v++;
  return (size_t)(v - p);
}

/* Masks one secret (raw and percent-encoded) in src, writing to dst. */
static void mask_one(buf_t *dst, const char *src, size_t len, const char *key) {
  size_t klen = strlen(key);
  buf_t esc;
  buf_init(&esc);
  buf_percent_encode(&esc, key, klen); /* as it stands in a URL */
  const char *p = src, *end = src + len;
  while (p < end) {
    if (starts_with(p, end, key, klen)) {
      buf_puts(dst, REDACTED);
      p += klen;
    } else if (esc.len != klen && starts_with(p, end, esc.data, esc.len)) {
      buf_puts(dst, REDACTED);
      p += esc.len;
    } else {
      const char *next = p + 1;
      while (next < end && *next != key[0] && *next != esc.data[0]) next++;
      buf_append(dst, p, (size_t)(next - p));
      p = next;
    }
  }
  buf_free(&esc);
}

static void mask_api_key_params(buf_t *dst, const char *s, size_t len) {
  const char *p = s, *end = s + len;
  while (p < end) {
    size_t n = api_key_param(p, end);
    if (n > 0) {
      buf_puts(dst, "api_key=" REDACTED);
      p += n;
    } else {
      buf_putc(dst, *p++);
    }
  }
}

void redact(buf_t *out, const char *s, size_t len, const char *key) {
  buf_t a, b;
  buf_init(&a);
  buf_init(&b);
  mask_api_key_params(&a, s, len);
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
  buf_append(out, a.data ? a.data : "", a.len);
  buf_free(&a);
  buf_free(&b);
}
