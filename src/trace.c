#include "trace.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "redact.h"

static int level; /* set by the host before any request; read by the engine's thread only */

void trace_set_level(int l) { level = l < 0 ? 0 : l > 3 ? 3 : l; }

int trace_level(void) { return level; }

/* ---------------------------------------------------------------- masking bodies */

static int contains_ci(const char *s, size_t n, const char *word) {
  size_t w = strlen(word);
  for (size_t i = 0; i + w <= n; i++)
    if (strncasecmp(s + i, word, w) == 0) return 1;
  return 0;
}

static int secret_key(const char *k, size_t n) {
  return contains_ci(k, n, "password") || contains_ci(k, n, "token") || contains_ci(k, n, "secret") ||
         contains_ci(k, n, "api_key") || contains_ci(k, n, "apikey");
}

/* Index just past the JSON string opening at s[i], or len when it is not closed. */
static size_t string_end(const char *s, size_t len, size_t i) {
  size_t j = i + 1;
  while (j < len && s[j] != '"') j += s[j] == '\\' ? 2 : 1;
  return j < len ? j + 1 : len;
}

static size_t skip_ws(const char *s, size_t len, size_t i) {
  while (i < len && isspace((unsigned char)s[i])) i++;
  return i;
}

/* Index just past the value at s[i] when it is a string or a number, else i (objects, arrays
 * and literals are kept: their insides are scanned like the rest). */
static size_t maskable_end(const char *s, size_t len, size_t i) {
  if (i >= len) return i;
  if (s[i] == '"') return string_end(s, len, i);
  if (s[i] != '-' && !isdigit((unsigned char)s[i])) return i;
  while (i < len && s[i] && strchr("+-.eE0123456789", s[i])) i++;
  return i;
}

/* After a string token at [i, end): when it is a secret key, copies ": " and masks its value.
 * Returns where scanning goes on. */
static size_t mask_value_of(buf_t *out, const char *s, size_t len, size_t i, size_t end) {
  size_t colon = skip_ws(s, len, end);
  if (colon >= len || s[colon] != ':' || end - i < 2 || !secret_key(s + i + 1, end - i - 2)) return end;
  size_t v = skip_ws(s, len, colon + 1);
  size_t vend = maskable_end(s, len, v);
  if (vend == v) return end;
  buf_append(out, s + end, v - end);
  buf_puts(out, TRACE_MASK);
  return vend;
}

static void mask_json(buf_t *out, const char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    size_t q = i;
    while (q < len && s[q] != '"') q++;
    buf_append(out, s + i, q - i);
    if (q == len) break;
    size_t end = string_end(s, len, q);
    buf_append(out, s + q, end - q);
    i = mask_value_of(out, s, len, q, end);
  }
}

void trace_mask_body(buf_t *out, const char *s, size_t len) {
  buf_t tmp;
  buf_init(&tmp);
  mask_json(&tmp, s, len);
  redact(out, tmp.data ? tmp.data : "", tmp.len, NULL);
  buf_free(&tmp);
}

/* ---------------------------------------------------------------- lines */

void trace_outcome(const http_response_t *r, char *out, size_t n) {
  switch (r->curl_code) {
    case CURLE_OK: snprintf(out, n, "%ld", r->status); break;
    case CURLE_OPERATION_TIMEDOUT: snprintf(out, n, "timeout"); break;
    case CURLE_COULDNT_CONNECT: snprintf(out, n, "connection refused"); break;
    case CURLE_GOT_NOTHING: snprintf(out, n, "empty reply"); break;
    default: snprintf(out, n, "network error"); break;
  }
}

/* The URL without scheme and host: path and query. */
static const char *path_of(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  p += strcspn(p, "/?#");
  return *p ? p : "/";
}

/* Appends text line by line, each under the prefix and mark; blank lines and \r dropped. */
static void append_lines(buf_t *b, const char *mark, const char *text, size_t len) {
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl : end;
    const char *e = stop;
    while (e > p && e[-1] == '\r') e--;
    if (e > p) {
      buf_printf(b, TRACE_PREFIX "  %s ", mark);
      buf_append(b, p, (size_t)(e - p));
      buf_putc(b, '\n');
    }
    p = nl ? nl + 1 : end;
  }
}

static void append_body(buf_t *b, const char *mark, const char *body, size_t len) {
  if (!body || len == 0) return;
  buf_t masked;
  buf_init(&masked);
  trace_mask_body(&masked, body, len);
  size_t shown = masked.len > TRACE_BODY_MAX ? TRACE_BODY_MAX : masked.len;
  append_lines(b, mark, masked.data ? masked.data : "", shown);
  if (shown < masked.len)
    buf_printf(b, TRACE_PREFIX "  %s [... %zu more bytes not shown]\n", mark, masked.len - shown);
  buf_free(&masked);
}

static void head_line(buf_t *b, const trace_attempt_t *a) {
  const http_response_t *r = a->resp;
  buf_printf(b, TRACE_PREFIX "%s %s -> ", a->method, path_of(a->url));
  if (a->cancelled) buf_printf(b, "cancelled by Ctrl-C %s", a->cancelled);
  else if (r->curl_code == CURLE_OK) buf_printf(b, "%ld", r->status);
  else buf_printf(b, "failed: %s", r->curl_error[0] ? r->curl_error : curl_easy_strerror(r->curl_code));
  if (a->ms >= 0) buf_printf(b, a->cancelled ? " after %.0f ms" : " in %.0f ms", a->ms);
  if (a->retry_of) buf_printf(b, " (attempt %d, retry after %s)", a->attempt, a->retry_of);
  if (a->retry_in >= 0) buf_printf(b, "; retrying in %.1f s", a->retry_in);
  buf_putc(b, '\n');
}

void trace_attempt(const trace_attempt_t *a) {
  if (level < 1) return;
  buf_t b;
  buf_init(&b);
  head_line(&b, a);
  const http_response_t *r = a->resp;
  if (level >= 2 && a->attempt > 0) append_lines(&b, ">", r->req_headers.data, r->req_headers.len);
  if (level >= 3) append_body(&b, ">", a->body, a->body_len);
  if (level >= 2 && !a->cancelled) append_lines(&b, "<", r->headers.data, r->headers.len);
  if (level >= 3 && !a->cancelled) append_body(&b, "<", r->body.data, r->body.len);
  if (level >= 2 && a->rate_state) buf_printf(&b, TRACE_PREFIX "  rate: %s\n", a->rate_state);
  buf_t masked; /* the whole block once more: nothing unmasked gets out */
  buf_init(&masked);
  redact(&masked, b.data ? b.data : "", b.len, NULL);
  if (masked.data) {
    fputs(masked.data, stderr);
    fflush(stderr);
  }
  buf_free(&masked);
  buf_free(&b);
}
