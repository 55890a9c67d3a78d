/* Verbose tracing of HTTP attempts on stderr (smartlua -v, -vv, -vvv): 1 one line per attempt,
 * 2 headers and rate-limiter state, 3 bodies. Everything written goes through redact(), and
 * bodies through trace_mask_body() first, so neither the key nor a password reaches the trace. */
#ifndef SMARTLUA_TRACE_H
#define SMARTLUA_TRACE_H

#include <stddef.h>

#include "buf.h"
#include "http.h"

#define TRACE_PREFIX "smartlua: "
#define TRACE_BODY_MAX 4096 /* bytes of a body shown at level 3 */
#define TRACE_MASK "\"********\""

/* Process-wide level, 0 (off) to 3. */
void trace_set_level(int level);
int trace_level(void);

/* One attempt as the engine saw it end. */
typedef struct {
  const char *method;
  const char *url;             /* the full URL, key included: masked here */
  const http_response_t *resp; /* the attempt's answer (headers captured at level >= 2) */
  const char *body;            /* request body or NULL */
  size_t body_len;
  int attempt;                 /* 1 for the first send */
  const char *retry_of;        /* outcome of the attempt before this one ("503"), or NULL */
  double retry_in;             /* seconds until it is sent again; < 0 when it is not */
  double ms;                   /* duration of the attempt */
  const char *cancelled;       /* NULL, or how it was cancelled ("in flight", "before it was sent") */
  const char *rate_state;      /* the limiter's state for level 2, or NULL */
} trace_attempt_t;

/* Writes the attempt's lines at the current level, all in one fputs. */
void trace_attempt(const trace_attempt_t *a);

/* A short name for how an attempt ended: "503", "timeout", "connection refused". */
void trace_outcome(const http_response_t *r, char *out, size_t n);

/* Appends s with the values of secret-looking JSON keys (password, token, api_key, secret)
 * replaced by "********", then every registered secret masked by redact(). */
void trace_mask_body(buf_t *out, const char *s, size_t len);

#endif
