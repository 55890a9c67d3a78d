/* fuzz_headers: http_parse_header (src/http.c) over arbitrary header lines, one per input line
 * as curl hands them over (with their line end). After every line: retry_after is -1 or a
 * finite number >= 0, each x-ratelimit-* count is -1 or >= 0, and content_type is a C string
 * inside its array (trimmed, unless the line that set it holds a NUL byte or it was cut to
 * fit). Each line is copied to a buffer of its exact size, so a read past
 * `len` is an AddressSanitizer report. */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "http.h"

#define T "fuzz_headers"

static void check(const http_response_t *r, const char *line, size_t len, int type_set) {
  if (!(r->retry_after == -1 || (r->retry_after >= 0 && isfinite(r->retry_after))))
    fuzz_bug(T, "retry_after = %g after the line \"%.*s\"", r->retry_after, (int)len, line);
  const long counts[] = {r->rl_limit, r->rl_remaining, r->rl_reset};
  for (int i = 0; i < 3; i++)
    if (counts[i] < -1) fuzz_bug(T, "an x-ratelimit count is %ld after \"%.*s\"", counts[i], (int)len, line);
  size_t n = strnlen(r->content_type, sizeof r->content_type);
  if (n == sizeof r->content_type) fuzz_bug(T, "content_type is not terminated");
  if (type_set && n > 0 && n < sizeof r->content_type - 1 && !memchr(line, '\0', len) && (isspace((unsigned char)r->content_type[0]) || isspace((unsigned char)r->content_type[n - 1])))
    fuzz_bug(T, "content_type \"%s\" is not trimmed", r->content_type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  http_response_t r;
  http_response_init(&r);
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
    char *line = malloc(len ? len : 1);
    if (!line) return 0;
    memcpy(line, p, len);
    char before[sizeof r.content_type];
    memcpy(before, r.content_type, sizeof before);
    http_parse_header(&r, line, len);
    check(&r, line, len, memcmp(before, r.content_type, sizeof before) != 0);
    free(line);
    p += len;
  }
  http_response_free(&r);
  return 0;
}
