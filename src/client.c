#include "client.h"

#include <ctype.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine_lua.h"
#include "http.h"
#include "json.h"
#include "redact.h"

#define DEFAULT_BASE_URL "https://server.smartlead.ai/api/v1"
#define ERROR_BODY_KEEP 4096 /* bytes of a failed answer kept in err.body */

/* ---------------------------------------------------------------- errors */

static void set_masked(lua_State *L, const client_t *c, const char *field, const char *s, size_t len) {
  if (!s) return;
  buf_t b;
  buf_init(&b);
  redact(&b, s, len, c ? c->api_key : NULL);
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  buf_free(&b);
  lua_setfield(L, -2, field);
}

static void set_string(lua_State *L, const client_t *c, const char *field, const char *s) {
  if (s) set_masked(L, c, field, s, strlen(s));
}

void push_api_error(lua_State *L, const client_t *c, const api_error_t *e) {
  lua_createtable(L, 0, 10);
  set_string(L, c, "kind", e->kind);
  if (e->status > 0) {
    lua_pushinteger(L, e->status);
    lua_setfield(L, -2, "status");
  }
  set_string(L, c, "code", e->code);
  set_string(L, c, "message", e->message ? e->message : "unknown error");
  set_string(L, c, "method", e->method);
  set_string(L, c, "path", e->path);
  if (e->body) set_masked(L, c, "body", e->body, e->body_len > ERROR_BODY_KEEP ? ERROR_BODY_KEEP : e->body_len);
  if (e->retry_after >= 0) {
    lua_pushnumber(L, e->retry_after);
    lua_setfield(L, -2, "retry_after");
  }
  set_string(L, c, "field", e->field);
  luaL_setmetatable(L, ERROR_MT);
}

int push_validation_error(lua_State *L, const char *method, const char *path, const char *field, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  api_error_t e = {.kind = "validation", .message = msg, .method = method, .path = path, .field = field,
                   .retry_after = -1, .code = "INVALID_ARGUMENT"};
  luaL_pushfail(L);
  push_api_error(L, NULL, &e);
  return 2;
}

/* tostring(err): one line, e.g. "http 404 NOT_FOUND error: Campaign not found (GET /campaigns/9/email-accounts)" */
static int error_tostring(lua_State *L) {
  static const char *const names[] = {"kind", "status", "code", "message", "method", "path"};
  lua_settop(L, 1);
  for (int i = 0; i < 6; i++) lua_getfield(L, 1, names[i]); /* slots 2..7 */
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 2; i <= 4; i++) {
    if (lua_isnil(L, i)) continue;
    if (i > 2) luaL_addchar(&b, ' ');
    luaL_addstring(&b, lua_tostring(L, i));
  }
  luaL_addstring(&b, " error: ");
  luaL_addstring(&b, lua_isstring(L, 5) ? lua_tostring(L, 5) : "unknown error");
  if (lua_isstring(L, 6) && lua_isstring(L, 7)) {
    luaL_addstring(&b, " (");
    luaL_addstring(&b, lua_tostring(L, 6));
    luaL_addchar(&b, ' ');
    luaL_addstring(&b, lua_tostring(L, 7));
    luaL_addchar(&b, ')');
  }
  luaL_pushresult(&b);
  /* one line: a server message with newlines must not break log lines */
  luaL_gsub(L, lua_tostring(L, -1), "\n", " ");
  return 1;
}

/* ---------------------------------------------------------------- answers */

static const char *code_for_status(long status, const char *message) {
  switch (status) {
    case 401: return "UNAUTHORIZED";
    case 403: return "FORBIDDEN";
    case 404: return "NOT_FOUND";
    case 406: return "NOT_ACCEPTABLE";
    case 422: return "UNPROCESSABLE";
    case 429: return "RATE_LIMIT_EXCEEDED";
    case 400: return (message && strstr(message, "Permission Error")) ? "PERMISSION_DENIED" : "BAD_REQUEST";
    default: return status >= 500 ? "SERVER_ERROR" : "HTTP_ERROR";
  }
}

static const char *string_field(lua_State *L, int t, const char *name) {
  lua_getfield(L, t, name);
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1); /* the string stays anchored in t */
  return s;
}

/* What the body says beyond the envelope: the foreign duplicate (emailAccountId null), the
 * account a failed save still created. */
typedef struct {
  lua_Integer account_id; /* emailAccountId, 0 when absent or null */
  int other_user;         /* ACCOUNT_ALREADY_EXIST with no id: another user holds the address */
} error_extra_t;

static int contains_nocase(const char *s, const char *needle) {
  size_t n = strlen(needle);
  for (; s && *s; s++)
    if (strncasecmp(s, needle, n) == 0) return 1;
  return 0;
}

/* {"ok":false,"message":"SMTP connection failed","error":"Invalid credentials"}: both halves say
 * something, so the message is "SMTP connection failed: Invalid credentials" (left on the stack). */
static void join_detail(lua_State *L, int t, api_error_t *e, const char *detail) {
  lua_getfield(L, t, "ok");
  int not_ok = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (!not_ok || !e->message || !detail || strcmp(e->message, detail) == 0) return;
  e->message = lua_pushfstring(L, "%s: %s", e->message, detail);
  /* the newest docs' connection failure has no errorCode: it is the same failure */
  if (!e->code && contains_nocase(e->message, "connection failed")) e->code = "ACCOUNT_VERIFICATION_FAILED";
}

/* Reads whichever documented error envelope the body at t uses (see smartlead-api.md).
 * Strings stay valid because the tables they live in stay on the stack. */
static void read_error_body(lua_State *L, int t, api_error_t *e, error_extra_t *x) {
  e->message = string_field(L, t, "message");
  e->code = string_field(L, t, "errorCode");
  if (lua_getfield(L, t, "validation") == LUA_TTABLE) e->code = "VALIDATION_ERROR";
  lua_pop(L, 1);
  int type = lua_getfield(L, t, "error"); /* stays pushed: anchors the inner table */
  const char *detail = type == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  if (type == LUA_TSTRING && !e->message) {
    e->message = detail; /* {"error":"Campaign not found ..."} */
  } else if (type == LUA_TTABLE) {      /* {"error":{"code","message","retry_after"}} */
    int inner = lua_gettop(L);
    e->code = string_field(L, inner, "code");
    if (!e->message) e->message = string_field(L, inner, "message");
    if (lua_getfield(L, inner, "retry_after") == LUA_TNUMBER && e->retry_after < 0) e->retry_after = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  join_detail(L, t, e, detail);
  lua_getfield(L, t, "emailAccountId");
  if (lua_isinteger(L, -1)) x->account_id = lua_tointeger(L, -1);
  lua_pop(L, 1);
  x->other_user = e->code && strcmp(e->code, "ACCOUNT_ALREADY_EXIST") == 0 && x->account_id <= 0;
}

/* Express's page for a route it does not know: "<pre>Cannot POST /api/v1/x</pre>". */
static const char *express_cannot(lua_State *L, const http_response_t *r) {
  const char *p = r->body.data ? strstr(r->body.data, "<pre>Cannot ") : NULL;
  if (!p) return NULL;
  p += 5;
  const char *end = strstr(p, "</pre>");
  size_t n = end ? (size_t)(end - p) : 0;
  return n > 0 && n < 300 ? lua_pushlstring(L, p, n) : NULL;
}

static int looks_like_html(const http_response_t *r) {
  const char *p = r->body.data;
  while (p && isspace((unsigned char)*p)) p++;
  return strstr(r->content_type, "html") != NULL || (p && *p == '<');
}

/* err.data: the decoded body, decoded again from the masked err.body so no key can hide in it. */
static void attach_masked_data(lua_State *L) {
  char ignored[128];
  size_t len;
  lua_getfield(L, -1, "body");
  const char *masked = lua_tolstring(L, -1, &len);
  if (masked && json_decode(L, masked, len, ignored, sizeof ignored)) lua_setfield(L, -3, "data");
  lua_pop(L, 1);
}

/* Pushes nil, err for a non-2xx answer (or 2xx with ok:false); decoded is the body's index or 0. */
static int push_http_error(lua_State *L, const client_t *c, const reply_t *call, const char *masked_path, http_response_t *r, int decoded) {
  api_error_t e = {.kind = "http", .status = r->status, .method = call->method, .path = masked_path,
                   .body = r->body.data, .body_len = r->body.len, .retry_after = r->retry_after};
  error_extra_t x = {0, 0};
  char msg[160];
  if (decoded && lua_type(L, decoded) == LUA_TTABLE) {
    read_error_body(L, decoded, &e, &x);
  } else if ((e.message = express_cannot(L, r)) != NULL) {
    e.code = "UNKNOWN_ENDPOINT"; /* the server has no such route: an invented endpoint, or a typo */
  } else if (looks_like_html(r)) {
    snprintf(msg, sizeof msg, "HTTP %ld with an HTML page instead of JSON (a proxy or gateway error)", r->status);
    e.message = msg;
  } else if (r->body.len == 0) {
    snprintf(msg, sizeof msg, "HTTP %ld with an empty body", r->status);
    e.message = msg;
  } else {
    e.message = r->body.data;
  }
  if (!e.code) e.code = code_for_status(r->status, e.message);
  luaL_pushfail(L);
  push_api_error(L, c, &e);
  if (x.account_id > 0) {
    lua_pushinteger(L, x.account_id);
    lua_setfield(L, -2, "email_account_id");
  }
  if (x.other_user) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "other_user");
  }
  if (decoded) attach_masked_data(L);
  return 2; /* Lua takes the top two; what lies below is dropped */
}

static void normalise_save(lua_State *L, int t) {
  lua_getfield(L, t, "emailAccountId");
  if (!lua_isinteger(L, -1)) {
    lua_pop(L, 1);
    if (lua_getfield(L, t, "data") == LUA_TTABLE) lua_getfield(L, -1, "id");
    else lua_pushnil(L);
    lua_remove(L, -2);
  }
  if (lua_isinteger(L, -1)) lua_setfield(L, t, "email_account_id");
  else lua_pop(L, 1);
}

/* Counts that arrive as strings ("5") become integers; anything unparsable stays as sent. */
static void integer_strings(lua_State *L, int t, const char *const *names) {
  for (; *names; names++) {
    if (lua_getfield(L, t, *names) == LUA_TSTRING) {
      if (lua_stringtonumber(L, lua_tostring(L, -1)) && lua_isinteger(L, -1)) lua_setfield(L, t, *names);
      else lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
}

static void normalise_warmup_stats(lua_State *L, int t) {
  static const char *const top_counts[] = {"sent_count", "spam_count", "inbox_count", "warmup_email_received_count", NULL};
  static const char *const day_counts[] = {"sent_count", "reply_count", "save_from_spam_count", "spam_count", NULL};
  integer_strings(L, t, top_counts);
  if (lua_getfield(L, t, "stats_by_date") == LUA_TTABLE) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
      if (lua_rawgeti(L, -1, i) == LUA_TTABLE) integer_strings(L, lua_gettop(L), day_counts);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

/* Mailbox statistics: counts seen live as strings ("12") become integers. */
static void normalise_stats(lua_State *L, int t) {
  static const char *const counts[] = {"sent_count", "open_count", "unique_open_count", "click_count",
                                       "unique_click_count", "reply_count", "bounce_count", "unsubscribed_count",
                                       "email_account_id", NULL};
  for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, t); i <= n; i++) {
    if (lua_rawgeti(L, t, i) == LUA_TTABLE) integer_strings(L, lua_gettop(L), counts);
    lua_pop(L, 1);
  }
}

/* A detach: result = N is how many were attached and are now removed; detached = N says so. */
static void normalise_detach(lua_State *L, int t) {
  static const char *const result[] = {"result", NULL};
  integer_strings(L, t, result);
  if (lua_getfield(L, t, "result") == LUA_TNUMBER && lua_isinteger(L, -1)) lua_setfield(L, t, "detached");
  else lua_pop(L, 1);
}

/* A 2xx answer that is not JSON: plain-text "success" from a write is a success. */
static int push_text_answer(lua_State *L, const client_t *c, const reply_t *call, const char *masked_path, http_response_t *r) {
  const char *p = r->body.data ? r->body.data : "";
  while (isspace((unsigned char)*p)) p++;
  int is_write = strcmp(call->method, "GET") != 0;
  if (is_write && (r->body.len == 0 || strncasecmp(p, "success", 7) == 0)) {
    lua_createtable(L, 0, 2);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "ok");
    lua_pushstring(L, *p ? p : "success");
    lua_setfield(L, -2, "message");
    return 1;
  }
  char msg[200];
  if (r->body.len == 0) snprintf(msg, sizeof msg, "HTTP %ld with an empty body (the resource may be gone)", r->status);
  else if (looks_like_html(r)) snprintf(msg, sizeof msg, "HTTP %ld with an HTML page instead of JSON", r->status);
  else snprintf(msg, sizeof msg, "HTTP %ld answer is not JSON", r->status);
  api_error_t e = {.kind = r->body.len == 0 ? "http" : "json", .status = r->status, .method = call->method,
                   .path = masked_path, .body = r->body.data, .body_len = r->body.len, .retry_after = -1,
                   .code = r->body.len == 0 ? "EMPTY_ANSWER" : "NOT_JSON", .message = msg};
  luaL_pushfail(L);
  push_api_error(L, c, &e);
  return 2;
}

/* True when the table at t says ok:false or success:false: a 200 that is a failure. */
static int says_failed(lua_State *L, int t) {
  int failed = 0;
  for (const char *const *k = (const char *const[]){"ok", "success", NULL}; *k && !failed; k++) {
    lua_getfield(L, t, *k);
    failed = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  return failed;
}

/* What the value at idx is, in the words of a shape error. */
static const char *shape_name(lua_State *L, int idx) {
  if (json_is_null(L, idx)) return "null";
  if (lua_type(L, idx) != LUA_TTABLE) return lua_typename(L, lua_type(L, idx));
  if (lua_getmetatable(L, idx)) {
    lua_pop(L, 1);
    return lua_rawlen(L, idx) == 0 ? "an empty list" : "a list";
  }
  return lua_rawlen(L, idx) > 0 ? "a list" : "an object";
}

static int is_object(lua_State *L, int idx) { return strcmp(shape_name(L, idx), "an object") == 0; }
static int is_list(lua_State *L, int idx) { return strstr(shape_name(L, idx), "list") != NULL; }

/* True when the object at idx says success:true or ok:true: an envelope, not data. */
static int flagged_envelope(lua_State *L, int idx) {
  if (!is_object(L, idx)) return 0;
  lua_getfield(L, idx, "success");
  lua_getfield(L, idx, "ok");
  int flagged = lua_toboolean(L, -1) || lua_toboolean(L, -2);
  lua_pop(L, 2);
  return flagged;
}

/* The newer envelope {"success": true, "data": X} (or "ok"): X replaces the answer at idx. */
static void unwrap_envelope(lua_State *L, int idx) {
  if (!flagged_envelope(L, idx)) return;
  if (lua_getfield(L, idx, "data") == LUA_TTABLE && !json_is_null(L, -1)) lua_replace(L, idx);
  else lua_pop(L, 1);
}

/* A list in an envelope: {ok|success, data = [...]}, or {success, campaigns = [...]} as the
 * campaign list's field table documents it; a bare array stays as it is, and {"data": [...]}
 * without the flag is no envelope (where a bare array is documented it is the wrong shape). */
static void unwrap_list(lua_State *L, int idx) {
  if (!flagged_envelope(L, idx)) return;
  static const char *const keys[] = {"data", "campaigns", NULL};
  for (const char *const *k = keys; *k; k++) {
    lua_getfield(L, idx, *k);
    if (is_list(L, lua_gettop(L))) {
      lua_replace(L, idx);
      return;
    }
    lua_pop(L, 1);
  }
}

static const char *list_problem(lua_State *L, int idx) {
  unwrap_list(L, idx);
  if (!is_list(L, idx)) return "a list";
  for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, idx); i <= n; i++) {
    int t = lua_rawgeti(L, idx, i);
    int bad = t != LUA_TTABLE || !is_object(L, lua_gettop(L));
    lua_pop(L, 1);
    if (bad) return "a list of objects";
  }
  return NULL;
}

/* NULL when the answer at idx has the row's shape, else what it expected. */
static const char *shape_problem(lua_State *L, answer_kind_t want, int idx) {
  switch (want) {
    case ANSWER_JSON: return NULL;
    case ANSWER_LIST:
    case ANSWER_STATS: return list_problem(L, idx);
    case ANSWER_ACCOUNT:
    case ANSWER_RECORD: {
      unwrap_envelope(L, idx);
      const char *what = want == ANSWER_ACCOUNT ? "an account object" : "an object";
      if (!is_object(L, idx)) return what;
      lua_getfield(L, idx, "id");
      int has_id = lua_isinteger(L, -1);
      lua_pop(L, 1);
      return has_id ? NULL : want == ANSWER_ACCOUNT ? "an account object with an id" : "an object with an id";
    }
    default: return is_object(L, idx) ? NULL : "an object";
  }
}

/* nil, err of kind "shape": the answer is not what the operation documents, so it is no data. */
static int push_shape_error(lua_State *L, const client_t *c, const reply_t *call, const char *masked_path,
                            http_response_t *r, const char *expected) {
  char msg[200];
  snprintf(msg, sizeof msg, "%s: expected %s, got %s", call->op[0] ? call->op : call->method, expected,
           shape_name(L, lua_gettop(L)));
  api_error_t e = {.kind = "shape", .status = r->status, .code = "UNEXPECTED_SHAPE", .method = call->method,
                   .path = masked_path, .body = r->body.data, .body_len = r->body.len, .retry_after = -1,
                   .message = msg};
  luaL_pushfail(L);
  push_api_error(L, c, &e);
  return 2;
}

static int push_answer(lua_State *L, const client_t *c, const reply_t *call, const char *masked_path, http_response_t *r) {
  char err[128];
  int decoded = r->body.len > 0 && json_decode(L, r->body.data, r->body.len, err, sizeof err);
  int failed = decoded && lua_type(L, -1) == LUA_TTABLE && says_failed(L, lua_gettop(L));
  if (r->status < 200 || r->status > 299 || failed)
    return push_http_error(L, c, call, masked_path, r, decoded ? lua_gettop(L) : 0);
  if (!decoded) return push_text_answer(L, c, call, masked_path, r);
  const char *problem = shape_problem(L, call->answer, lua_gettop(L));
  if (problem) return push_shape_error(L, c, call, masked_path, r, problem);
  if (call->answer == ANSWER_SAVE) normalise_save(L, lua_gettop(L));
  if (call->answer == ANSWER_WARMUP_STATS) normalise_warmup_stats(L, lua_gettop(L));
  if (call->answer == ANSWER_STATS) normalise_stats(L, lua_gettop(L));
  if (call->answer == ANSWER_DETACH) normalise_detach(L, lua_gettop(L));
  return 1;
}

static const char *network_code(CURLcode rc) {
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return "TIMEOUT";
    case CURLE_COULDNT_CONNECT: return "COULDNT_CONNECT";
    case CURLE_COULDNT_RESOLVE_HOST: return "COULDNT_RESOLVE_HOST";
    case CURLE_PARTIAL_FILE: return "TRUNCATED_ANSWER";
    case CURLE_GOT_NOTHING: return "EMPTY_REPLY";
    case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: return "CONNECTION_RESET";
    case CURLE_WRITE_ERROR: return "ANSWER_TOO_LARGE";
    case CURLE_ABORTED_BY_CALLBACK: return "CANCELLED";
    default: return "NETWORK_ERROR";
  }
}

static int push_network_error(lua_State *L, const client_t *c, const reply_t *call, const char *masked_path, http_response_t *r) {
  int timeout = r->curl_code == CURLE_OPERATION_TIMEDOUT;
  api_error_t e = {.kind = timeout ? "timeout" : "network", .method = call->method, .path = masked_path,
                   .message = r->curl_error, .code = network_code(r->curl_code), .retry_after = -1};
  char msg[200];
  if (r->curl_code == CURLE_WRITE_ERROR && r->too_large == 1) {
    snprintf(msg, sizeof msg, "the answer is larger than %ld MB, the most one answer may hold", HTTP_MAX_BODY >> 20);
    e.message = msg;
  } else if (r->curl_code == CURLE_WRITE_ERROR && r->too_large == 2 && r->pool) {
    snprintf(msg, sizeof msg, "answers held in memory at once would exceed %.0f MB (max_buffered_mb); fewer at once "
             "(concurrency) or a higher max_buffered_mb", r->pool->cap / 1048576.0);
    e.message = msg, e.code = "ANSWERS_TOO_LARGE";
  }
  luaL_pushfail(L);
  push_api_error(L, c, &e);
  return 2;
}

/* ---------------------------------------------------------------- sending */

static void build_url(buf_t *url, const client_t *c, const call_t *call) {
  buf_puts(url, c->base_url);
  buf_puts(url, call->path);
  buf_puts(url, "?api_key=");
  if (c->api_key) buf_percent_encode(url, c->api_key, strlen(c->api_key));
  if (call->query && call->query->len) {
    buf_putc(url, '&');
    buf_append(url, call->query->data, call->query->len);
  }
}

/* The path as errors show it: API path plus query, with the key masked. */
static void build_masked_path(buf_t *out, const client_t *c, const call_t *call) {
  buf_t raw;
  buf_init(&raw);
  buf_puts(&raw, call->path);
  if (call->query && call->query->len) {
    buf_putc(&raw, '?');
    buf_append(&raw, call->query->data, call->query->len);
  }
  redact(out, raw.data, raw.len, c->api_key);
  buf_free(&raw);
}

/* Marks errors a write may have survived: the caller must check before sending it again. */
static void mark_ambiguous(lua_State *L, const reply_t *rp, int maybe_done) {
  if (!rp->write || !maybe_done || lua_type(L, -1) != LUA_TTABLE) return;
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "ambiguous");
}

/* nil, err for a call the server asked to wait longer than its max_wait allows: kind
 * "rate_limit", retry_after the seconds the server asked for (before any ceiling). */
static int push_rate_limited(lua_State *L, const reply_t *rp, transfer_t *t) {
  http_response_t *r = &t->resp;
  int answered = t->attempts > 0 && r->curl_code == CURLE_OK && r->status == 429;
  char msg[300];
  snprintf(msg, sizeof msg, "rate limited: the server asks to wait %.0fs (%s), more than max_wait (%.0fs) allows; %s",
           t->rate_asked, t->rate_why ? t->rate_why : "429", t->max_wait,
           answered ? "not sent again" : t->attempts ? "not sent again after the server's last answer" : "not sent");
  api_error_t e = {.kind = "rate_limit", .code = "RATE_LIMIT_EXCEEDED", .method = rp->method, .path = rp->masked_path,
                   .message = msg, .retry_after = t->rate_asked, .status = answered ? r->status : 0,
                   .body = answered ? r->body.data : NULL, .body_len = answered ? r->body.len : 0};
  luaL_pushfail(L);
  push_api_error(L, NULL, &e);
  return 2;
}

/* nil, err for a transfer a Ctrl-C cancelled; tostring(err) adds method and path. */
static int push_cancelled(lua_State *L, const reply_t *rp, const transfer_t *t) {
  const char *msg = t->cancelled == CANCELLED_UNSENT ? "cancelled by Ctrl-C; the request was not sent"
                    : rp->write ? "cancelled by Ctrl-C; the request was aborted in flight and may have been applied"
                                : "cancelled by Ctrl-C; the request was aborted";
  api_error_t e = {.kind = "cancelled", .code = "CANCELLED", .method = rp->method, .path = rp->masked_path,
                   .message = msg, .retry_after = -1};
  luaL_pushfail(L);
  push_api_error(L, NULL, &e);
  return 2;
}

int push_reply(lua_State *L, const reply_t *rp, transfer_t *t) {
  http_response_t *r = &t->resp;
  int n, maybe_done;
  if (t->cancelled) { /* in flight: the server may have it; unsent: only an earlier attempt may */
    n = push_cancelled(L, rp, t);
    maybe_done = t->cancelled == CANCELLED_IN_FLIGHT || t->maybe_acted;
  } else if (t->rate_asked >= 0) { /* refused (429) or never sent: only an earlier attempt may have acted */
    n = push_rate_limited(L, rp, t);
    maybe_done = t->maybe_acted;
  } else {
    n = r->curl_code == CURLE_OK ? push_answer(L, NULL, rp, rp->masked_path, r)
                                 : push_network_error(L, NULL, rp, rp->masked_path, r);
    maybe_done = t->maybe_acted || http_may_have_acted(r); /* any attempt, not only the last */
  }
  if (n == 2) {
    mark_ambiguous(L, rp, maybe_done);
    lua_pushinteger(L, t->attempts);
    lua_setfield(L, -2, "attempts");
  }
  return n;
}

static void free_reply(void *p) {
  reply_t *rp = p;
  free(rp->masked_path);
  free(rp);
}

static reply_t *new_reply(const client_t *c, const call_t *call) {
  reply_t *rp = calloc(1, sizeof *rp);
  if (!rp) return NULL;
  snprintf(rp->method, sizeof rp->method, "%s", call->method);
  snprintf(rp->op, sizeof rp->op, "%s", call->op ? call->op : "");
  rp->answer = call->answer;
  rp->write = call->write;
  buf_t masked;
  buf_init(&masked);
  build_masked_path(&masked, c, call);
  rp->masked_path = masked.data ? masked.data : strdup("");
  return rp;
}

static transfer_t *new_transfer(client_t *c, call_t *call) {
  transfer_t *t = transfer_new();
  buf_t url;
  buf_init(&url);
  build_url(&url, c, call);
  if (!t || !url.data) {
    buf_free(&url);
    transfer_free(t);
    return NULL;
  }
  t->url = url.data; /* owned by t now */
  snprintf(t->method, sizeof t->method, "%s", call->method);
  if (call->body) {
    t->body = *call->body; /* moved: the caller's buffer is left empty */
    buf_init(call->body);
    t->has_body = 1;
  }
  t->timeout_ms = c->timeout_ms;
  t->connect_timeout_ms = c->connect_timeout_ms;
  t->idempotent = call->idempotent;
  t->insecure_tls = c->insecure_tls;
  t->lock = call->lock;
  t->max_retries = c->max_retries;
  t->max_wait = c->max_wait;
  t->limiter = c->limiter;
  t->slots = c->slots;
  c->slots->refs++;
  return t;
}

int client_call(lua_State *L, client_t *c, call_t *call) {
  transfer_t *t = new_transfer(c, call);
  reply_t *rp = t ? new_reply(c, call) : NULL;
  if (!rp) {
    transfer_free(t);
    return luaL_error(L, "smartlead: out of memory preparing a request");
  }
  t->user = rp;
  t->free_user = free_reply;
  buf_free(call->query); /* copied into the URL; freed now because engine_call may not return */
  return engine_call(L, t); /* yields or waits; then push_reply via finish_transfer */
}

/* ---------------------------------------------------------------- the Client */

client_t *client_check(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TTABLE && lua_getfield(L, idx, "core") == LUA_TUSERDATA) lua_replace(L, idx); /* a Lua Client */
  else if (lua_type(L, idx) == LUA_TTABLE) lua_pop(L, 1);
  client_t *c = luaL_checkudata(L, idx, CLIENT_MT);
  if (c->closed) luaL_error(L, "attempt to use a closed smartlead.Client");
  return c;
}

static void client_release(client_t *c) {
  if (c->closed) return;
  c->closed = 1;
  slots_release(c->slots); /* in-flight transfers keep their own reference */
  if (c->api_key) {
    explicit_bzero(c->api_key, strlen(c->api_key));
    free(c->api_key);
  }
  free(c->base_url);
  c->slots = NULL;
  c->api_key = c->base_url = NULL;
}

/* A dotted IPv4 address in 127.0.0.0/8, exactly (so "127.evil.com" is not one). */
static int ipv4_loopback(const char *h, size_t n) {
  int parts = 0;
  size_t i = 0;
  while (i < n) {
    size_t start = i;
    unsigned v = 0;
    while (i < n && h[i] >= '0' && h[i] <= '9' && i - start < 3) v = v * 10 + (unsigned)(h[i++] - '0');
    if (i == start || v > 255 || (parts == 0 && v != 127)) return 0;
    parts++;
    if (i < n && (h[i] != '.' || ++i == n)) return 0;
  }
  return parts == 4;
}

/* Plain http:// only to loopback, so the key never crosses a network in clear. The host is the
 * whole authority (no userinfo: "http://localhost@evil.com" goes to evil.com), minus the port. */
static int base_url_allowed(const char *url) {
  if (strncmp(url, "https://", 8) == 0) return 1;
  if (strncmp(url, "http://", 7) != 0) return 0;
  const char *host = url + 7;
  size_t n = strcspn(host, "/?#");
  if (memchr(host, '@', n)) return 0;
  if (n >= 5 && strncmp(host, "[::1]", 5) == 0) return n == 5 || host[5] == ':';
  const char *colon = memchr(host, ':', n);
  if (colon) n = (size_t)(colon - host);
  return (n == 9 && strncasecmp(host, "localhost", 9) == 0) || ipv4_loopback(host, n);
}

static long opt_ms(lua_State *L, const char *name, double dflt_seconds) {
  double s = dflt_seconds;
  if (lua_getfield(L, 1, name) != LUA_TNIL) {
    if (!lua_isnumber(L, -1)) luaL_error(L, "smartlead.client: %s must be a number of seconds", name);
    s = lua_tonumber(L, -1);
    if (!(s > 0 && s <= 86400)) luaL_error(L, "smartlead.client: %s must be between 0 and 86400 seconds", name);
  }
  lua_pop(L, 1);
  return (long)(s * 1000 + 0.5);
}

static char *opt_string(lua_State *L, const char *name, const char *dflt) {
  const char *s = dflt;
  if (lua_getfield(L, 1, name) != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "smartlead.client: %s must be a string", name);
    s = lua_tostring(L, -1);
  }
  char *copy = s ? strdup(s) : NULL;
  lua_pop(L, 1);
  return copy;
}

static void check_options(lua_State *L) {
  static const char *const known[] = {"api_key",     "base_url", "timeout", "connect_timeout", "concurrency",
                                      "rate",        "max_retries", "max_wait", "insecure_skip_tls_verify",
                                      "max_buffered_mb", NULL};
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    int found = 0;
    for (const char *const *k = known; *k && lua_type(L, -1) == LUA_TSTRING; k++) found |= strcmp(lua_tostring(L, -1), *k) == 0;
    if (!found) luaL_error(L, "smartlead.client: unknown option '%s'", luaL_tolstring(L, -1, NULL));
  }
}

/* Pushes the base URL with the key masked (a key pasted into it must not show) and returns it. */
static const char *push_masked_base_url(lua_State *L, const client_t *c) {
  buf_t b;
  buf_init(&b);
  redact(&b, c->base_url, strlen(c->base_url), c->api_key);
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  buf_free(&b);
  return lua_tostring(L, -1);
}

static lua_Integer opt_int(lua_State *L, const char *name, lua_Integer dflt, lua_Integer lo, lua_Integer hi) {
  lua_Integer v = dflt;
  if (lua_getfield(L, 1, name) != LUA_TNIL) {
    int isint = 0;
    v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < lo || v > hi) luaL_error(L, "smartlead.client: %s must be an integer from %d to %d", name, (int)lo, (int)hi);
  }
  lua_pop(L, 1);
  return v;
}

/* One {requests=N, per=SECONDS} of a rate table into w. */
static void rate_window_at(lua_State *L, int t, rate_window_t *w) {
  char err[80] = "not a number";
  if (!lua_istable(L, t)) luaL_error(L, "smartlead.client: rate windows must be {requests = N, per = SECONDS}");
  lua_getfield(L, t, "requests");
  lua_getfield(L, t, "per");
  w->requests = lua_tonumber(L, -2), w->per = lua_isnil(L, -1) ? 1 : lua_tonumber(L, -1);
  if (!lua_isnumber(L, -2) || (!lua_isnil(L, -1) && !lua_isnumber(L, -1)) || !rate_window_ok(w->requests, w->per, err, sizeof err))
    luaL_error(L, "smartlead.client: rate must be {requests = N >= 1, per = SECONDS > 0}, a list of them, a string "
               "such as \"10/1,60/60\" or \"standard\", or false (%s)", err);
  lua_pop(L, 2);
}

/* rate = "10/1,60/60,1000/3600" | "standard" | "pro" | "legacy" | "auto" | "off" | false |
 * {requests=, per=} | { {requests=, per=}, ... }; absent: the safe default (10 per 2 s) until the
 * server shows its budget. *given: the rate was set (it then reconfigures the key's limiter). */
static void opt_rate(lua_State *L, rate_spec_t *spec, int *given) {
  memset(spec, 0, sizeof *spec);
  spec->mode = RATE_AUTO, *given = 1;
  int t = lua_getfield(L, 1, "rate");
  char err[240];
  if (t == LUA_TNIL) *given = 0;
  else if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) spec->mode = RATE_OFF;
  else if (t == LUA_TSTRING) {
    if (!rate_parse(lua_tostring(L, -1), spec, err, sizeof err)) luaL_error(L, "smartlead.client: %s", err);
  } else if (t == LUA_TTABLE && lua_getfield(L, -1, "requests") != LUA_TNIL) {
    lua_pop(L, 1);
    spec->mode = RATE_WINDOWS, spec->n = 1;
    rate_window_at(L, lua_gettop(L), &spec->w[0]);
  } else if (t == LUA_TTABLE) {
    lua_pop(L, 1);
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    if (n < 1 || n > RATE_MAX_WINDOWS) luaL_error(L, "smartlead.client: rate must list 1 to %d windows", RATE_MAX_WINDOWS);
    spec->mode = RATE_WINDOWS, spec->n = (int)n;
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      rate_window_at(L, lua_gettop(L), &spec->w[i - 1]);
      lua_pop(L, 1);
    }
  } else luaL_error(L, "smartlead.client: rate must be a string such as \"10/2\", {requests = N, per = SECONDS}, a list of those, or false");
  lua_pop(L, 1);
}

/* max_buffered_mb = MB: the most answer bytes the engine holds at once, for every client. */
static void opt_max_buffered(lua_State *L) {
  if (lua_getfield(L, 1, "max_buffered_mb") != LUA_TNIL) {
    double mb = lua_tonumber(L, -1);
    if (!lua_isnumber(L, -1) || !(mb >= 0.01 && mb <= 65536))
      luaL_error(L, "smartlead.client: max_buffered_mb must be a number of megabytes from 0.01 to 65536");
    engine_lua_set_answer_cap(L, (size_t)(mb * 1048576));
  }
  lua_pop(L, 1);
}

/* insecure_skip_tls_verify = true turns certificate checks off, loudly: the key travels in
 * every URL, so anyone between us and the server could read it. */
static int opt_insecure_tls(lua_State *L) {
  int t = lua_getfield(L, 1, "insecure_skip_tls_verify");
  if (t != LUA_TNIL && t != LUA_TBOOLEAN) luaL_error(L, "smartlead.client: insecure_skip_tls_verify must be true or false");
  int on = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return on;
}

static void warn_insecure(lua_State *L, const client_t *c) {
  if (!c->insecure_tls || strncmp(c->base_url, "https://", 8) != 0) return;
  fprintf(stderr, "smartlua: WARNING: insecure_skip_tls_verify: TLS certificates of %s are NOT checked; "
          "anyone on the network path can read the API key\n", push_masked_base_url(L, c));
  lua_pop(L, 1);
}

/* core.new_client{api_key=, base_url=, timeout=, ...} -> Client (raises on misuse) */
static int l_new_client(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  check_options(L);
  long timeout_ms = opt_ms(L, "timeout", 60), connect_ms = opt_ms(L, "connect_timeout", 10);
  int concurrency = (int)opt_int(L, "concurrency", 8, 1, 64), max_retries = (int)opt_int(L, "max_retries", 5, 0, 20);
  double max_wait = opt_int(L, "max_wait", 600, 0, 86400);
  rate_spec_t rate;
  int rate_given;
  opt_rate(L, &rate, &rate_given);
  opt_max_buffered(L);
  client_t *c = lua_newuserdatauv(L, sizeof *c, 1); /* uservalue 1: the run session's hook */
  memset(c, 0, sizeof *c);
  c->closed = 1; /* until fully built, so __gc frees only what exists */
  luaL_setmetatable(L, CLIENT_MT);
  c->closed = 0;
  c->timeout_ms = timeout_ms;
  c->connect_timeout_ms = connect_ms;
  c->api_key = opt_string(L, "api_key", NULL);
  c->base_url = opt_string(L, "base_url", DEFAULT_BASE_URL);
  c->max_retries = max_retries;
  c->max_wait = max_wait;
  c->insecure_tls = opt_insecure_tls(L);
  c->slots = slots_new(concurrency);
  if (!c->slots || !c->base_url) return luaL_error(L, "smartlead.client: out of memory");
  size_t n = strlen(c->base_url);
  while (n > 0 && c->base_url[n - 1] == '/') c->base_url[--n] = '\0';
  if (!base_url_allowed(c->base_url))
    return luaL_error(L, "smartlead.client: refusing base_url '%s': the API key travels in the URL, so only https:// "
                      "(or http:// to a loopback address) is allowed", push_masked_base_url(L, c));
  if (!c->api_key || !*c->api_key)
    return luaL_error(L, "smartlead.client: no API key (set SMARTLEAD_API_KEY, put api_key in the config file, or pass {api_key = ...})");
  if (strlen(c->api_key) < 8 || strpbrk(c->api_key, " \t\r\n"))
    return luaL_error(L, "smartlead.client: the API key must be at least 8 characters without spaces");
  redact_add_secret(c->api_key);
  warn_insecure(L, c);
  c->limiter = limiter_for_key(c->api_key, &rate, rate_given);
  if (!c->limiter) return luaL_error(L, "smartlead.client: too many distinct API keys in one process");
  return 1;
}

/* client:close() -- idempotent; also __gc and __close */
static int l_close(lua_State *L) {
  client_t *c = luaL_checkudata(L, 1, CLIENT_MT);
  client_release(c);
  return 0;
}

/* client:set_session_hook(fn | nil): every operation called as a method goes to
 * fn(client, name, payload, args...) once validated; the hook sends through row.call. */
static int l_set_session_hook(lua_State *L) {
  client_check(L, 1);
  if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  lua_setiuservalue(L, 1, 1);
  return 0;
}

/* tostring(client) -> "smartlead.Client(https://..., key=***)"; never the key */
static int l_tostring(lua_State *L) {
  client_t *c = luaL_checkudata(L, 1, CLIENT_MT);
  if (c->closed) lua_pushliteral(L, "smartlead.Client(closed)");
  else lua_pushfstring(L, "smartlead.Client(%s, key=" REDACTED ")", push_masked_base_url(L, c));
  return 1;
}

/* client:base_url() -> string */
static int l_base_url(lua_State *L) {
  lua_pushstring(L, client_check(L, 1)->base_url);
  return 1;
}

/* client:options() -> {concurrency=, max_retries=, max_wait=, timeout=, connect_timeout=, max_buffered_mb=} */
static int l_options(lua_State *L) {
  client_t *c = client_check(L, 1);
  lua_createtable(L, 0, 6);
  engine_lua_push_number(L, engine_lua_answer_cap(L) / 1048576.0), lua_setfield(L, -2, "max_buffered_mb");
  lua_pushinteger(L, c->slots->max), lua_setfield(L, -2, "concurrency");
  lua_pushinteger(L, c->max_retries), lua_setfield(L, -2, "max_retries");
  lua_pushnumber(L, c->max_wait), lua_setfield(L, -2, "max_wait");
  lua_pushnumber(L, c->timeout_ms / 1000.0), lua_setfield(L, -2, "timeout");
  lua_pushnumber(L, c->connect_timeout_ms / 1000.0), lua_setfield(L, -2, "connect_timeout");
  return 1;
}

/* client:rate_budget() -> {windows = { {requests=, per=, source=}, ... }, source=, off=, pause=}
 * The budget this key has shown, as the limiter paces it: source "configured" (or "default"),
 * "server" (its X-RateLimit-* headers) or "learned" (a 429 the headers did not foresee). */
static int l_rate_budget(lua_State *L) {
  limiter_budget_t b;
  limiter_budget(client_check(L, 1)->limiter, monotonic_now(), &b);
  lua_createtable(L, 0, 4);
  lua_createtable(L, b.n, 0);
  for (int i = 0; i < b.n; i++) {
    lua_createtable(L, 0, 3);
    engine_lua_push_number(L, b.w[i].w.requests), lua_setfield(L, -2, "requests");
    engine_lua_push_number(L, b.w[i].w.per), lua_setfield(L, -2, "per");
    lua_pushstring(L, b.w[i].source), lua_setfield(L, -2, "source");
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "windows");
  lua_pushstring(L, b.source), lua_setfield(L, -2, "source");
  lua_pushboolean(L, b.off), lua_setfield(L, -2, "off");
  lua_pushnumber(L, b.pause), lua_setfield(L, -2, "pause");
  return 1;
}

/* client:reset_rate_state() -- forget pauses, server windows and learned limits of this key
 * (shared by clients), the remembered ones too */
static int l_reset_rate_state(lua_State *L) {
  limiter_reset(client_check(L, 1)->limiter);
  return 0;
}

/* client:mask(text) -> text with the key masked */
static int l_mask(lua_State *L) {
  client_t *c = luaL_checkudata(L, 1, CLIENT_MT);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  buf_t b;
  buf_init(&b);
  redact(&b, s, len, c->closed ? NULL : c->api_key);
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  buf_free(&b);
  return 1;
}

/* core.new_error{kind=, message=, ...} -> err with the smartlead.Error metatable */
static int l_new_error(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_setmetatable(L, ERROR_MT);
  return 1;
}

void client_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"close", l_close}, {"base_url", l_base_url}, {"options", l_options},
                                     {"reset_rate_state", l_reset_rate_state}, {"rate_budget", l_rate_budget},
                                     {"mask", l_mask}, {"set_session_hook", l_set_session_hook}, {NULL, NULL}};
  static const luaL_Reg meta[] = {{"__gc", l_close}, {"__close", l_close}, {"__tostring", l_tostring}, {NULL, NULL}};
  if (luaL_newmetatable(L, CLIENT_MT)) {
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, ERROR_MT)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "smartlead.Error");
    lua_setfield(L, -2, "__name");
  }
  lua_setfield(L, -2, "Error");
  lua_pushcfunction(L, l_new_client);
  lua_setfield(L, -2, "new_client");
  lua_pushcfunction(L, l_new_error);
  lua_setfield(L, -2, "new_error");
}
