#include "http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "version.h"

void http_response_init(http_response_t *r) {
  memset(r, 0, sizeof *r);
  buf_init(&r->body);
  r->retry_after = -1;
  r->rl_limit = r->rl_remaining = r->rl_reset = -1;
}

answer_pool_t *answer_pool_new(size_t cap) {
  answer_pool_t *p = calloc(1, sizeof *p);
  if (p) p->refs = 1, p->cap = cap;
  return p;
}

void answer_pool_release(answer_pool_t *p) {
  if (p && --p->refs == 0) free(p);
}

void http_response_free(http_response_t *r) {
  if (r->pool) r->pool->used -= r->body.len < r->pool->used ? r->body.len : r->pool->used;
  buf_free(&r->body);
  buf_free(&r->headers);
  if (r->req_headers.data) explicit_bzero(r->req_headers.data, r->req_headers.len); /* its URL holds the key */
  buf_free(&r->req_headers);
}

int http_may_have_acted(const http_response_t *r) {
  if (r->curl_code == CURLE_OK) return r->status >= 500 || (r->status >= 200 && r->status < 300);
  return r->curl_code != CURLE_COULDNT_CONNECT && r->curl_code != CURLE_COULDNT_RESOLVE_HOST;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
  http_response_t *r = userp;
  size_t n = size * nmemb, before = r->body.len;
  if (r->body.len + n > (size_t)HTTP_MAX_BODY) return r->too_large = 1, 0; /* aborts the transfer */
  if (r->pool && r->pool->used + n > r->pool->cap) return r->too_large = 2, 0;
  buf_append(&r->body, data, n);
  if (r->pool) r->pool->used += r->body.len - before;
  return r->body.failed ? 0 : n;
}

/* Copies the trimmed value of "Name: value" into out when the name matches. */
static int header_value(const char *line, size_t len, const char *name, char *out, size_t outsz) {
  size_t nlen = strlen(name);
  if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':') return 0;
  const char *v = line + nlen + 1, *end = line + len;
  while (v < end && isspace((unsigned char)*v)) v++;
  while (end > v && isspace((unsigned char)end[-1])) end--;
  size_t n = (size_t)(end - v) < outsz - 1 ? (size_t)(end - v) : outsz - 1;
  memcpy(out, v, n);
  out[n] = '\0';
  return 1;
}

/* A whole count, digits only ("10"); anything else ("1e99", "-5", "7 requests") is unknown. */
static long parse_count(const char *s) {
  size_t digits = strspn(s, "0123456789");
  if (digits == 0 || digits > 18 || s[digits] != '\0') return -1;
  return strtol(s, NULL, 10);
}

/* Retry-After is delta-seconds (digits; a fraction tolerated) or an HTTP date. strtod alone
 * would take "inf", "1e999" and hex, so the form is checked first (found by fuzz_headers). */
static int is_seconds(const char *s) {
  size_t digits = strspn(s, "0123456789");
  if (digits == 0 || digits > 9) return 0; /* more than 9 digits: over 30 years */
  if (s[digits] == '\0') return 1;
  return s[digits] == '.' && s[digits + 1 + strspn(s + digits + 1, "0123456789")] == '\0';
}

static double parse_retry_after(const char *s) {
  if (is_seconds(s)) return strtod(s, NULL);
  time_t when = curl_getdate(s, NULL);
  if (when < 0) return -1;
  double delta = difftime(when, time(NULL));
  return delta > 0 ? delta : 0;
}

void http_parse_header(http_response_t *r, const char *line, size_t len) {
  char v[128];
  if (header_value(line, len, "Retry-After", v, sizeof v)) r->retry_after = parse_retry_after(v);
  else if (header_value(line, len, "x-ratelimit-limit", v, sizeof v)) r->rl_limit = parse_count(v);
  else if (header_value(line, len, "x-ratelimit-remaining", v, sizeof v)) r->rl_remaining = parse_count(v);
  else if (header_value(line, len, "x-ratelimit-reset", v, sizeof v)) r->rl_reset = parse_count(v);
  else if (header_value(line, len, "Content-Type", v, sizeof v)) {
    memcpy(r->content_type, v, sizeof r->content_type);
    r->content_type[sizeof r->content_type - 1] = '\0';
  }
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp) {
  size_t n = size * nmemb;
  http_response_t *r = userp;
  /* A new status line (after a redirect or 100-continue) starts a fresh header set. */
  if (n > 5 && strncmp(data, "HTTP/", 5) == 0) {
    r->retry_after = -1;
    r->rl_limit = r->rl_remaining = r->rl_reset = -1;
    r->content_type[0] = '\0';
    buf_reset(&r->headers);
  }
  if (r->capture_headers) buf_append(&r->headers, data, n);
  http_parse_header(r, data, n);
  return n;
}

/* Only the request headers curl sends are kept; the rest of its debug stream is dropped. */
static int on_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *userp) {
  (void)easy;
  if (type == CURLINFO_HEADER_OUT) buf_append(&((http_response_t *)userp)->req_headers, data, size);
  return 0;
}

static void capture_headers(CURL *easy, http_response_t *resp) {
  resp->capture_headers = 1;
  curl_easy_setopt(easy, CURLOPT_DEBUGFUNCTION, on_debug);
  curl_easy_setopt(easy, CURLOPT_DEBUGDATA, resp);
  curl_easy_setopt(easy, CURLOPT_VERBOSE, 1L); /* the debug callback is called only when verbose */
}

static void set_method(CURL *easy, const http_request_t *req) {
  curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, NULL);
  if (strcmp(req->method, "GET") == 0) return;
  if (strcmp(req->method, "POST") == 0) curl_easy_setopt(easy, CURLOPT_POST, 1L);
  else curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body ? req->body : "");
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
}

struct curl_slist *http_setup(CURL *easy, const http_request_t *req, http_response_t *resp) {
  struct curl_slist *headers = NULL;
  headers = curl_slist_append(headers, "Accept: application/json");
  if (req->body) headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */

  curl_easy_setopt(easy, CURLOPT_URL, req->url);
  set_method(easy, req);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, SMARTLUA_USER_AGENT);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, req->timeout_ms);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  /* explicit, so no curl default or environment can turn verification off */
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, req->insecure_tls ? 0L : 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, req->insecure_tls ? 0L : 2L);
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, resp);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, resp->curl_error);
  resp->curl_error[0] = '\0';
  if (req->capture_headers) capture_headers(easy, resp);
  return headers;
}

void http_finish(CURL *easy, http_response_t *resp, CURLcode rc) {
  resp->curl_code = rc;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp->status);
  curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &resp->seconds);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
  if (rc != CURLE_OK && resp->curl_error[0] == '\0')
    snprintf(resp->curl_error, sizeof resp->curl_error, "%s", curl_easy_strerror(rc));
}
