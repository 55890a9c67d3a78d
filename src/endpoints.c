/* The SmartLead endpoints as data: one row per endpoint, one dispatcher for all of them.
 * Adding an endpoint is adding a row (and its field list). */
#include "endpoints.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "json.h"
#include "validate.h"

/* ---------------------------------------------------------------- field lists */

static const char *const ESP_TYPES[] = {"GMAIL", "OUTLOOK", "SMTP", NULL};
static const char *const OAUTH_TYPES[] = {"GMAIL", "OUTLOOK", NULL};
static const char *const WARMUP_STATES[] = {"ACTIVE", "INACTIVE", NULL};

static const field_t LIST_QUERY[] = {
    {"offset", F_UINT, 0, NULL, NULL},
    {"limit", F_LIMIT, 0, NULL, NULL},
    {"isInUse", F_BOOL, 0, NULL, "is_in_use"},
    {"emailWarmupStatus", F_ENUM, 0, WARMUP_STATES, "warmup_status"},
    {"isSmtpSuccess", F_BOOL, 0, NULL, "is_smtp_success"},
    {"isWarmupBlocked", F_BOOL, 0, NULL, "is_warmup_blocked"},
    {"esp", F_ENUM, 0, ESP_TYPES, NULL},
    {"username", F_TEXT, 0, NULL, NULL},
    {"client_id", F_ID, 0, NULL, NULL},
    {"fetch_campaigns", F_BOOL, 0, NULL, NULL},
    {NULL, 0, 0, NULL, NULL}};

static const field_t ONE_ACCOUNT_QUERY[] = {
    {"fetch_campaigns", F_BOOL, 0, NULL, NULL},
    {"fetch_tags", F_BOOL, 0, NULL, NULL},
    {NULL, 0, 0, NULL, NULL}};

/* Fields save and save-oauth share, after their own required ones. */
#define SAVE_OPTIONAL_FIELDS                                  \
  {"id", F_ID_OR_NULL, 0, NULL, NULL},                        \
  {"max_email_per_day", F_UINT, 0, NULL, NULL},               \
  {"custom_tracking_url", F_TEXT, 0, NULL, NULL},             \
  {"bcc", F_EMAIL, 0, NULL, NULL},                            \
  {"signature", F_TEXT, 0, NULL, NULL},                       \
  {"time_to_wait_in_mins", F_UINT, 0, NULL, NULL},            \
  {"total_warmup_per_day", F_UINT, 0, NULL, NULL},            \
  {"daily_rampup", F_UINT, 0, NULL, NULL},                    \
  {"reply_rate_percentage", F_PERCENT, 0, NULL, NULL},        \
  {"client_id", F_ID_OR_NULL, 0, NULL, NULL}

static const field_t SMTP_SAVE[] = {
    {"from_name", F_NAME, 1, NULL, NULL},
    {"from_email", F_EMAIL, 1, NULL, NULL},
    {"user_name", F_NAME, 1, NULL, NULL},
    {"password", F_SECRET, 1, NULL, NULL},
    {"smtp_host", F_HOST, 1, NULL, NULL},
    {"smtp_port", F_PORT, 1, NULL, NULL},
    {"imap_host", F_HOST, 1, NULL, NULL},
    {"imap_port", F_PORT, 1, NULL, NULL},
    {"warmup_enabled", F_BOOL, 1, NULL, NULL},
    {"type", F_ENUM, 0, ESP_TYPES, NULL},
    {"imap_user_name", F_NAME, 0, NULL, NULL},
    {"imap_password", F_SECRET, 0, NULL, NULL},
    {"different_reply_to_address", F_EMAIL, 0, NULL, NULL},
    {"is_suspended", F_BOOL, 0, NULL, NULL},
    SAVE_OPTIONAL_FIELDS,
    {NULL, 0, 0, NULL, NULL}};

static const field_t OAUTH_SAVE[] = {
    {"from_name", F_NAME, 1, NULL, NULL},
    {"from_email", F_EMAIL, 1, NULL, NULL},
    {"username", F_NAME, 1, NULL, NULL},
    {"type", F_ENUM, 1, OAUTH_TYPES, NULL},
    {"token", F_TOKEN, 1, NULL, NULL},
    {"warmup_enabled", F_BOOL, 1, NULL, NULL},
    {"use_whitelabel_credentials", F_BOOL, 1, NULL, NULL},
    SAVE_OPTIONAL_FIELDS,
    {NULL, 0, 0, NULL, NULL}};

static const field_t ACCOUNT_UPDATE[] = {
    {"max_email_per_day", F_UINT, 0, NULL, NULL},
    {"from_name", F_NAME, 0, NULL, NULL},
    {"custom_tracking_url", F_TEXT, 0, NULL, NULL},
    {"bcc", F_EMAIL, 0, NULL, NULL},
    {"signature", F_TEXT, 0, NULL, NULL},
    {"client_id", F_ID_OR_NULL, 0, NULL, NULL},
    {"time_to_wait_in_mins", F_UINT, 0, NULL, NULL},
    {"is_suspended", F_BOOL, 0, NULL, NULL},
    {NULL, 0, 0, NULL, NULL}};

static const field_t WARMUP_UPDATE[] = {
    {"warmup_enabled", F_BOOL, 1, NULL, NULL},
    {"total_warmup_per_day", F_UINT, 0, NULL, NULL},
    {"daily_rampup", F_UINT, 0, NULL, NULL},
    {"reply_rate_percentage", F_PERCENT, 0, NULL, NULL},
    {"warmup_key_id", F_NAME, 0, NULL, NULL},
    {NULL, 0, 0, NULL, NULL}};

/* ---------------------------------------------------------------- the table */

const endpoint_t ENDPOINTS[] = {
    {"get_email_accounts", "GET", "/email-accounts/", NULL, ARG_FIELDS, TO_QUERY, LIST_QUERY, 0, ANSWER_JSON, 0,
     "query", "List accounts, one page (offset, limit 1..100) with any filter"},
    {"add_smtp_account", "POST", "/email-accounts/save", NULL, ARG_FIELDS, TO_BODY, SMTP_SAVE, 1, ANSWER_SAVE, UNSAFE_WRITE,
     "fields", "Add (or, with id, update the credentials of) an SMTP account"},
    {"add_oauth_account", "POST", "/email-accounts/save-oauth", NULL, ARG_FIELDS, TO_BODY, OAUTH_SAVE, 1, ANSWER_SAVE,
     UNSAFE_WRITE,
     "fields", "Add a Gmail or Outlook account with OAuth tokens"},
    {"update_email_account", "POST", "/email-accounts/{id}", "email_account_id", ARG_FIELDS, TO_BODY, ACCOUNT_UPDATE, 1,
     ANSWER_SAVE, 1, "id, fields", "Change an account's limits, names, tracking and suspension"},
    {"add_campaign_email_accounts", "POST", "/campaigns/{id}/email-accounts", "campaign_id", ARG_IDS, TO_BODY, NULL, 1,
     ANSWER_JSON, 1, "campaign_id, ids", "Attach accounts to a campaign"},
    {"get_email_account", "GET", "/email-accounts/{id}/", "email_account_id", ARG_FIELDS, TO_QUERY, ONE_ACCOUNT_QUERY, 0,
     ANSWER_JSON, 0, "id, opts", "One account (fetch_campaigns, fetch_tags), with is_suspended"},
    {"get_email_account_by_email", "GET", "/email-accounts/fetch-email-account-details", NULL, ARG_EMAIL, TO_QUERY, NULL,
     1, ANSWER_JSON, 0, "email", "One account by its address"},
    {"get_campaign_email_accounts", "GET", "/campaigns/{id}/email-accounts", "campaign_id", ARG_NONE, TO_QUERY, NULL, 0,
     ANSWER_JSON, 0, "campaign_id", "The accounts attached to a campaign"},
    {"remove_campaign_email_accounts", "DELETE", "/campaigns/{id}/email-accounts", "campaign_id", ARG_IDS, TO_BODY, NULL,
     1, ANSWER_JSON, 1, "campaign_id, ids", "Detach accounts from a campaign"},
    {"update_warmup", "POST", "/email-accounts/{id}/warmup", "email_account_id", ARG_FIELDS, TO_BODY, WARMUP_UPDATE, 1,
     ANSWER_JSON, 1, "id, settings", "Turn warmup on or off and set its volume"},
    {"get_warmup_stats", "GET", "/email-accounts/{id}/warmup-stats", "email_account_id", ARG_NONE, TO_QUERY, NULL, 0,
     ANSWER_WARMUP_STATS, 0, "id", "Warmup statistics of the last 7 days (counts as integers)"},
    {"reconnect_failed_email_accounts", "POST", "/email-accounts/reconnect-failed-email-accounts", NULL, ARG_NONE,
     TO_BODY, NULL, 0, ANSWER_JSON, UNSAFE_WRITE, "", "Ask SmartLead to reconnect every failed account (3 a day)"},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL}};

/* ---------------------------------------------------------------- building */

#define MAX_SAFE_ID_NUMBER 9007199254740991.0 /* 2^53 - 1: larger ids are refused (validate.c) */
#define MAX_REQUEST_BODY (1 << 20)            /* JSON bytes request may send: no endpoint takes more */

/* Into a fixed array, not a heap buffer: the payload checks below may raise (misuse), and a
 * raise must leave nothing allocated behind. Templates are short; ids at most 20 digits. */
static void expand_path(char *out, size_t outsz, const char *tmpl, lua_Integer id) {
  const char *slot = strstr(tmpl, "{id}");
  if (!slot) snprintf(out, outsz, "%s", tmpl);
  else snprintf(out, outsz, "%.*s" LUA_INTEGER_FMT "%s", (int)(slot - tmpl), tmpl, id, slot + 4);
}

/* The endpoint's single argument (fields, ids or email) as a canonical table on top, or nil, err. */
static int build_payload(lua_State *L, const endpoint_t *ep, int arg, const char *path) {
  switch (ep->arg) {
    case ARG_FIELDS:
      return validate_fields(L, arg, ep->fields, ep->name, ep->method, path, ep->payload_required);
    case ARG_IDS:
      return validate_id_list(L, arg, ep->name, ep->method, path);
    case ARG_EMAIL:
      return validate_email_arg(L, arg, ep->name, ep->method, path);
    default:
      if (ep->dest == TO_BODY) lua_newtable(L); /* POST with {} */
      else lua_pushnil(L);
      return 1;
  }
}

/* Writes to one account (or campaign, or address) are serialised by the engine. */
static uint64_t write_lock(lua_State *L, const endpoint_t *ep, lua_Integer id, int payload) {
  if (ep->mutates == READS) return 0;
  if (ep->id_name) return ((uint64_t)(ep->id_name[0] == 'c' ? 2 : 1) << 56) | ((uint64_t)id & 0xFFFFFFFFFFFFFFULL);
  if (lua_type(L, payload) == LUA_TTABLE && lua_getfield(L, payload, "from_email") == LUA_TSTRING) {
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = lua_tostring(L, -1); *p; p++) h = (h ^ (unsigned char)(*p | 0x20)) * 1099511628211ULL;
    lua_pop(L, 1);
    return (3ULL << 56) | (h & 0xFFFFFFFFFFFFFFULL);
  }
  lua_pop(L, lua_type(L, payload) == LUA_TTABLE ? 1 : 0);
  return 0;
}

/* Validates and builds the call; sends it when `send`, else answers true (nothing sent). */
static int dispatch(lua_State *L, int send) {
  const endpoint_t *ep = &ENDPOINTS[lua_tointeger(L, lua_upvalueindex(1))];
  client_t *c = client_check(L, 1);
  int arg = 2;
  lua_Integer id = 0;
  char path[160];
  buf_t query, body;
  if (ep->id_name) {
    if (!check_id_arg(L, arg++, ep->name, ep->id_name, &id)) {
      return push_validation_error(L, ep->method, ep->path, ep->id_name, "%s: %s must be a positive integer%s, got %s",
                                   ep->name, ep->id_name, lua_tonumber(L, 2) > MAX_SAFE_ID_NUMBER ? " of at most 2^53 - 1" : "",
                                   luaL_tolstring(L, 2, NULL));
    }
  }
  expand_path(path, sizeof path, ep->path, id);
  lua_settop(L, arg); /* ignore extra arguments beyond the payload */
  if (build_payload(L, ep, arg, path) != 1) return 2;
  buf_init(&query);
  buf_init(&body);
  char err[384];
  int ok = ep->dest == TO_QUERY ? encode_query(L, lua_gettop(L), &query, err, sizeof err)
                                : json_encode(L, lua_gettop(L), &body, err, sizeof err);
  int n;
  if (!ok) {
    n = push_validation_error(L, ep->method, path, NULL, "%s: %s", ep->name, err);
  } else if (!send) {
    lua_pushboolean(L, 1);
    n = 1;
  } else {
    call_t call = {ep->method, path, &query, ep->dest == TO_BODY ? &body : NULL, ep->answer,
                   ep->mutates != UNSAFE_WRITE, write_lock(L, ep, id, lua_gettop(L))};
    return client_call(L, c, &call); /* last step: it may yield; it took query and body */
  }
  buf_free(&query);
  buf_free(&body);
  return n;
}

/* client:<endpoint>(...) -> answer | nil, err   (upvalue 1: index into ENDPOINTS) */
static int l_dispatch(lua_State *L) { return dispatch(L, 1); }

/* core.validators.<endpoint>(client, ...) -> true | nil, err: every check, nothing sent (--plan) */
static int l_validate_only(lua_State *L) { return dispatch(L, 0); }

/* The options request knows; any other key (headers=, a typo of query=) would be dropped unseen. */
static int unknown_option(lua_State *L, int opts, char *err, size_t errsz) {
  lua_pushnil(L);
  while (lua_next(L, opts)) {
    lua_pop(L, 1);
    size_t len = 0;
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : "";
    if (strlen(k) == len && (strcmp(k, "query") == 0 || strcmp(k, "body") == 0)) continue;
    int plain = len > 0 && len <= 40 && strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == len;
    snprintf(err, errsz, "unknown option %s%s%s (opts takes query and body)", plain ? "\"" : "", plain ? k : "(not a name)",
             plain ? "\"" : "");
    lua_pop(L, 1);
    return 1;
  }
  return 0;
}

/* opts.query and opts.body of request into query and body; 0, err and *bad (the option) when refused. */
static int request_payload(lua_State *L, const char *method, buf_t *query, buf_t *body, int *has_body, char *err,
                           size_t errsz, const char **bad) {
  *has_body = 0;
  if (lua_istable(L, 4)) {
    if (unknown_option(L, 4, err, errsz)) return *bad = "opts", 0;
    if (lua_getfield(L, 4, "query") != LUA_TNIL && !validate_free_query(L, lua_gettop(L), query, err, errsz))
      return *bad = "query", 0;
    if (lua_getfield(L, 4, "body") != LUA_TNIL) {
      *has_body = 1;
      if (!json_encode(L, lua_gettop(L), body, err, errsz)) return *bad = "body", 0;
      if (body->len > MAX_REQUEST_BODY)
        return snprintf(err, errsz, "the JSON is %zu bytes, at most %d bytes may be sent", body->len, MAX_REQUEST_BODY),
               *bad = "body", 0;
    }
  }
  if (!*has_body && strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
    *has_body = 1;
    buf_puts(body, "{}");
  }
  return 1;
}

/* client:request(method, path, {query=, body=}) -> answer | nil, err */
static int l_request(lua_State *L) {
  client_t *c = client_check(L, 1);
  size_t mlen;
  const char *method = luaL_checklstring(L, 2, &mlen);
  const char *path = luaL_checkstring(L, 3);
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
  if (strlen(method) != mlen || !check_http_method(method)) /* "GET\0X" is not GET */
    luaL_argerror(L, 2, "method must be GET, POST, PUT, PATCH or DELETE");
  char why[160];
  if (!check_api_path(L, 3, why, sizeof why)) return push_validation_error(L, method, "(refused)", "path", "request: %s", why);
  buf_t query, body;
  buf_init(&query);
  buf_init(&body);
  char err[384];
  const char *bad = NULL; /* err.field: which option was refused */
  int has_body, n;
  if (!request_payload(L, method, &query, &body, &has_body, err, sizeof err, &bad)) {
    n = push_validation_error(L, method, path, bad, "request: %s%s", strcmp(bad, "body") == 0 ? "body: " : "", err);
  } else {
    /* POST to an unknown endpoint might create something: never repeated blindly */
    call_t call = {method, path, &query, has_body ? &body : NULL, ANSWER_JSON, strcmp(method, "POST") != 0, 0};
    return client_call(L, c, &call); /* last step: it may yield; it took query and body */
  }
  buf_free(&query);
  buf_free(&body);
  return n;
}

/* core.endpoints() -> {{name=, method=, path=, args=, summary=, mutates=}, ...} for help and completion */
static int l_endpoints(lua_State *L) {
  lua_newtable(L);
  for (int i = 0; ENDPOINTS[i].name; i++) {
    const endpoint_t *ep = &ENDPOINTS[i];
    lua_createtable(L, 0, 6);
    lua_pushstring(L, ep->name), lua_setfield(L, -2, "name");
    lua_pushstring(L, ep->method), lua_setfield(L, -2, "method");
    lua_pushstring(L, ep->path), lua_setfield(L, -2, "path");
    lua_pushstring(L, ep->args_doc), lua_setfield(L, -2, "args");
    lua_pushstring(L, ep->summary), lua_setfield(L, -2, "summary");
    lua_pushboolean(L, ep->mutates != READS), lua_setfield(L, -2, "mutates");
    if (ep->fields) {
      lua_newtable(L);
      for (int j = 0; ep->fields[j].name; j++) {
        lua_pushstring(L, ep->fields[j].name);
        lua_rawseti(L, -2, j + 1);
      }
      lua_setfield(L, -2, "fields");
    }
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

void endpoints_register(lua_State *L) {
  luaL_getmetatable(L, CLIENT_MT);
  lua_getfield(L, -1, "__index");
  for (int i = 0; ENDPOINTS[i].name; i++) {
    lua_pushinteger(L, i);
    lua_pushcclosure(L, l_dispatch, 1);
    lua_setfield(L, -2, ENDPOINTS[i].name);
  }
  lua_pushcfunction(L, l_request);
  lua_setfield(L, -2, "request");
  lua_pop(L, 2);
  lua_newtable(L);
  for (int i = 0; ENDPOINTS[i].name; i++) {
    lua_pushinteger(L, i);
    lua_pushcclosure(L, l_validate_only, 1);
    lua_setfield(L, -2, ENDPOINTS[i].name);
  }
  lua_setfield(L, -2, "validators");
  lua_pushcfunction(L, l_endpoints);
  lua_setfield(L, -2, "endpoints");
}
