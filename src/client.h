/* The smartlead.Client userdata: key, base URL, timeouts and a reused curl handle. */
#ifndef SMARTLUA_CLIENT_H
#define SMARTLUA_CLIENT_H

#include <curl/curl.h>
#include <lua.h>

#include "buf.h"
#include "engine.h"

#define CLIENT_MT "smartlead.Client"
#define ERROR_MT "smartlead.Error"

typedef struct {
  char *api_key;  /* owned; wiped and freed on close */
  char *base_url; /* owned; no trailing slash */
  long timeout_ms;
  long connect_timeout_ms;
  slots_t *slots;      /* concurrency cap, shared with in-flight transfers */
  limiter_t *limiter;  /* shared by every client with this key */
  int max_retries;
  double max_wait;
  int insecure_tls; /* insecure_skip_tls_verify = true */
  int closed;
} client_t;

/* What an answer is, so the dispatcher can normalise it. */
/* What an answer must be (anything else is a kind = "shape" error, never data), and how the
 * dispatcher normalises it. */
typedef enum {
  ANSWER_JSON,         /* any JSON (client:request) */
  ANSWER_SAVE,         /* an object; emailAccountId or data.id -> email_account_id */
  ANSWER_WARMUP_STATS, /* an object; string counts -> integers */
  ANSWER_LIST,         /* a list of objects (a bare array; `[]` when none) */
  ANSWER_ACCOUNT,      /* one account: an object with an integer id (or {success, data = account}) */
  ANSWER_OBJECT,       /* an object (write acknowledgements) */
  ANSWER_RECORD,       /* one object with an integer id (a campaign, a tag), bare or in {success|ok, data} */
  ANSWER_STATS,        /* a list (bare or in {ok, data}) of per-mailbox counts; string counts -> integers */
  ANSWER_DETACH,       /* an object; result = N (how many were attached) -> detached = N */
} answer_kind_t;

typedef struct {
  const char *method;
  const char *path;  /* API path, e.g. /email-accounts/42 */
  buf_t *query;      /* "a=1&b=2" without the key, may be empty */
  buf_t *body;       /* JSON text or NULL; client_call takes its contents */
  answer_kind_t answer;
  int idempotent;    /* safe to send twice: reads, set-value writes, attach/detach */
  int write;         /* may change something on the server (err.ambiguous, Ctrl-C wording) */
  uint64_t lock;     /* writes sharing a lock never run at once (0: none) */
  const char *op;    /* the operation's name, NULL for client:request */
} call_t;

/* What decoding an answer needs, kept with (and freed by) the transfer while the caller waits. */
typedef struct {
  char method[8];
  char op[48];       /* the operation's name, for shape errors ("" for client:request) */
  char *masked_path; /* owned */
  answer_kind_t answer;
  int write;
} reply_t;

/* An error as the API layer reports it; strings may be NULL. */
typedef struct {
  const char *kind; /* validation, http, network, timeout, json, shape, cancelled */
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

/* Sends the call and pushes `answer` or `nil, err`; returns the number of values pushed.
 * Inside a scheduled coroutine it yields until the answer is there, so it must be the
 * caller's last step: it never returns to a C frame that still owns memory. */
int client_call(lua_State *L, client_t *c, call_t *call);

/* Pushes the decoded answer (or nil, err) of a finished transfer; returns the count. A transfer
 * an interrupt cancelled gives err.kind "cancelled" (ambiguous for a write that may have landed). */
int push_reply(lua_State *L, const reply_t *rp, transfer_t *t);

/* Pushes an error table (every string masked with the client's key when c is given). */
void push_api_error(lua_State *L, const client_t *c, const api_error_t *e);

/* Pushes nil, err for a validation failure; always returns 2. */
int push_validation_error(lua_State *L, const char *method, const char *path, const char *field, const char *fmt, ...);

void client_register(lua_State *L); /* metatables + new_client, into the table on top */

#endif
