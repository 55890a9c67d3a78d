/* The smartlead.Client userdata: key, base URL, timeouts and a reused curl handle. */
#ifndef SMARTLUA_CLIENT_H
#define SMARTLUA_CLIENT_H

#include <curl/curl.h>
#include <lua.h>

#include "buf.h"

#define CLIENT_MT "smartlead.Client"
#define ERROR_MT "smartlead.Error"

typedef struct {
  CURL *easy;     /* reused so the connection stays alive */
  char *api_key;  /* owned; wiped and freed on close */
  char *base_url; /* owned; no trailing slash */
  long timeout_ms;
  long connect_timeout_ms;
  int closed;
} client_t;

/* What an answer is, so the dispatcher can normalise it. */
typedef enum {
  ANSWER_JSON,         /* decoded as is */
  ANSWER_SAVE,         /* emailAccountId or data.id -> email_account_id */
  ANSWER_WARMUP_STATS, /* string counts -> integers */
} answer_kind_t;

typedef struct {
  const char *method;
  const char *path;  /* API path, e.g. /email-accounts/42 */
  buf_t *query;      /* "a=1&b=2" without the key, may be empty */
  buf_t *body;       /* JSON text or NULL */
  answer_kind_t answer;
} call_t;

/* An error as the API layer reports it; strings may be NULL. */
typedef struct {
  const char *kind; /* validation, http, network, timeout, json */
  long status;
  const char *code;
  const char *message;
  const char *method;
  const char *path;
  const char *body;
  size_t body_len;
  double retry_after; /* < 0 when unknown */
  const char *field;
} api_error_t;

client_t *client_check(lua_State *L, int idx);

/* Sends the call and pushes `answer` or `nil, err`; returns the number of values pushed. */
int client_call(lua_State *L, client_t *c, const call_t *call);

/* Pushes an error table (every string masked with the client's key when c is given). */
void push_api_error(lua_State *L, const client_t *c, const api_error_t *e);

/* Pushes nil, err for a validation failure; always returns 2. */
int push_validation_error(lua_State *L, const char *method, const char *path, const char *field, const char *fmt, ...);

void client_register(lua_State *L); /* metatables + new_client, into the table on top */

#endif
