/* One HTTP exchange over a reused libcurl easy handle. Callbacks only fill C buffers; nothing
 * here touches a lua_State, so the engine can later move to the multi interface unchanged. */
#ifndef SMARTLUA_HTTP_H
#define SMARTLUA_HTTP_H

#include <curl/curl.h>

#include "buf.h"

#define HTTP_MAX_BODY (64L * 1024 * 1024) /* answers above this are cut off as an error */
#define HTTP_POOL_DEFAULT (256L * 1024 * 1024) /* answer bytes one engine holds at once, by default */

/* The answer bytes every transfer of one engine holds in memory, bounded as a whole (the
 * per-answer cap alone would allow concurrency x 64 MB). Refcounted: the engine and each of
 * its transfers hold it, so a transfer freed after its engine still finds it. */
typedef struct {
  int refs;
  size_t used, cap;
} answer_pool_t;

answer_pool_t *answer_pool_new(size_t cap);
void answer_pool_release(answer_pool_t *p);

typedef struct {
  const char *method;
  const char *url; /* carries the key: never print it unmasked */
  const char *body; /* NULL for none */
  size_t body_len;
  long timeout_ms;
  long connect_timeout_ms;
  int capture_headers; /* keep raw request and response header lines in the response */
  int insecure_tls;    /* skip certificate checks: only from an option named insecure */
} http_request_t;

typedef struct {
  long status;
  buf_t body;
  char content_type[128];
  double retry_after;   /* seconds; -1 when absent */
  long rl_limit, rl_remaining, rl_reset; /* x-ratelimit-*; -1 when absent */
  CURLcode curl_code;
  char curl_error[CURL_ERROR_SIZE];
  double seconds;       /* total time of the exchange */
  int capture_headers;  /* keep the raw header lines below (tracing at level 2 and up) */
  buf_t headers;        /* response header lines as received */
  buf_t req_headers;    /* request header lines as sent (the URL in them carries the key) */
  answer_pool_t *pool;  /* where the body's bytes are counted, or NULL (borrowed from the transfer) */
  int too_large;        /* the body was cut off: 1 over HTTP_MAX_BODY, 2 over the pool's cap */
} http_response_t;

void http_response_init(http_response_t *r);
void http_response_free(http_response_t *r);

/* Sets every option of one exchange on easy; returns the header list the caller frees after. */
struct curl_slist *http_setup(CURL *easy, const http_request_t *req, http_response_t *resp);

/* Reads status and timing into resp once the transfer ended with rc. */
void http_finish(CURL *easy, http_response_t *resp, CURLcode rc);

/* Whether the server may have acted on the request: a 2xx or 5xx answer, or a transport
 * failure after the connection was made. */
int http_may_have_acted(const http_response_t *r);

/* Parses one header line into resp (Retry-After, x-ratelimit-*, Content-Type). Exposed for tests. */
void http_parse_header(http_response_t *resp, const char *line, size_t len);

#endif
