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

/* No minimums beyond the types: the docs' own examples break theirs (daily_rampup: 2). */
static const field_t WARMUP_UPDATE[] = {
    {"warmup_enabled", F_BOOL, 1, NULL, NULL},
    {"total_warmup_per_day", F_UINT, 0, NULL, NULL},
    {"daily_rampup", F_UINT, 0, NULL, NULL},
    {"reply_rate_percentage", F_PERCENT, 0, NULL, NULL},
    {"warmup_key_id", F_KEY, 0, NULL, NULL},
    {"auto_adjust_warmup", F_BOOL, 0, NULL, NULL},
    {"is_rampup_enabled", F_BOOL, 0, NULL, NULL},
    {NULL, 0, 0, NULL, NULL}};

static const field_t CAMPAIGNS_QUERY[] = {
    {"client_id", F_ID, 0, NULL, NULL},
    {"include_tags", F_BOOL, 0, NULL, NULL},
    {NULL, 0, 0, NULL, NULL}};

static const field_t INCLUDE_TAGS_QUERY[] = {
    {"include_tags", F_BOOL, 0, NULL, NULL},
    {NULL, 0, 0, NULL, NULL}};

static const field_t MAILBOX_STATS_QUERY[] = {
    {"offset", F_UINT, 0, NULL, NULL},
    {"limit", F_LIMIT20, 0, NULL, NULL},
    {"start_date", F_DATE, 0, NULL, NULL},
    {"end_date", F_DATE, 0, NULL, NULL},
    {"time_zone", F_NAME, 0, NULL, NULL},
    {"client_id", F_ID, 0, NULL, NULL},
    {NULL, 0, 0, NULL, NULL}};

static const field_t ATTACH_OPTIONS[] = {
    {"auto_adjust_warmup", F_BOOL, 0, NULL, NULL},
    {NULL, 0, 0, NULL, NULL}};

static const field_t TAG_CREATE[] = {
    {"name", F_NAME, 1, NULL, NULL},
    {"color", F_COLOR, 0, NULL, NULL},
    {NULL, 0, 0, NULL, NULL}};

static const field_t TAG_UPDATE[] = {
    {"id", F_ID, 1, NULL, NULL},
    {"name", F_NAME, 1, NULL, NULL},
    {"color", F_COLOR, 1, NULL, NULL},
    {NULL, 0, 0, NULL, NULL}};

static const field_t LEAD_SENDER[] = {
    {"email_account_id", F_ID, 1, NULL, NULL},
    {"email_campaign_id", F_ID, 1, NULL, NULL},
    {"email_lead_id", F_ID, 1, NULL, NULL},
    {"override_lead_email_account", F_BOOL, 0, NULL, NULL},
    {NULL, 0, 0, NULL, NULL}};

/* ---------------------------------------------------------------- the table */

#define ACCOUNT_ID .id_name = "email_account_id"
#define CAMPAIGN_ID .id_name = "campaign_id"
/* a save whose answer was lost is looked up by its address before anything is sent again */
#define SAVE_LOOKUP .lookup = "get_email_account_by_email", .lookup_key = "from_email", \
                    .lookup_list = "get_email_accounts", .lookup_filter = "username"

const endpoint_t ENDPOINTS[] = {
    {.name = "get_email_accounts", .method = "GET", .path = "/email-accounts/", .arg = ARG_FIELDS, .dest = TO_QUERY,
     .fields = LIST_QUERY, .answer = ANSWER_LIST, .kind = KIND_READ, .args_doc = "query",
     .summary = "List accounts, one page (offset, limit 1..100) with any filter"},
    {.name = "get_email_account", .method = "GET", .path = "/email-accounts/{id}/", ACCOUNT_ID, .arg = ARG_FIELDS,
     .dest = TO_QUERY, .fields = ONE_ACCOUNT_QUERY, .answer = ANSWER_ACCOUNT, .kind = KIND_READ, .args_doc = "id, opts",
     .summary = "One account (fetch_campaigns, fetch_tags), with is_suspended"},
    {.name = "get_email_account_by_email", .method = "GET", .path = "/email-accounts/fetch-email-account-details",
     .arg = ARG_EMAIL, .dest = TO_QUERY, .payload_required = 1, .answer = ANSWER_ACCOUNT, .kind = KIND_READ,
     .args_doc = "email", .summary = "One account by its address"},
    {.name = "get_campaign_email_accounts", .method = "GET", .path = "/campaigns/{id}/email-accounts", CAMPAIGN_ID,
     .arg = ARG_FIELDS, .dest = TO_QUERY, .fields = INCLUDE_TAGS_QUERY, .answer = ANSWER_LIST, .kind = KIND_READ,
     .args_doc = "campaign_id, opts", .summary = "The accounts attached to a campaign (include_tags)"},
    {.name = "get_campaigns", .method = "GET", .path = "/campaigns/", .arg = ARG_FIELDS, .dest = TO_QUERY,
     .fields = CAMPAIGNS_QUERY, .answer = ANSWER_LIST, .kind = KIND_READ, .args_doc = "query",
     .summary = "Every campaign, newest first, with its status and schedule (client_id, include_tags)"},
    {.name = "get_campaign", .method = "GET", .path = "/campaigns/{id}", CAMPAIGN_ID, .arg = ARG_FIELDS,
     .dest = TO_QUERY, .fields = INCLUDE_TAGS_QUERY, .answer = ANSWER_RECORD, .kind = KIND_READ,
     .args_doc = "campaign_id, opts", .summary = "One campaign: status, schedule, limits (include_tags)"},
    {.name = "get_mailbox_statistics", .method = "GET", .path = "/campaigns/{id}/mailbox-statistics", CAMPAIGN_ID,
     .arg = ARG_FIELDS, .dest = TO_QUERY, .fields = MAILBOX_STATS_QUERY, .answer = ANSWER_STATS, .kind = KIND_READ,
     .args_doc = "campaign_id, query",
     .summary = "A campaign's sent, opens, clicks, replies and bounces per mailbox, one page (limit 1..20)"},
    {.name = "get_email_account_tags", .method = "POST", .path = "/email-accounts/tag-list", .arg = ARG_EMAILS,
     .dest = TO_BODY, .payload_required = 1, .answer = ANSWER_LIST, .kind = KIND_READ, .args_doc = "emails",
     .summary = "The tags of accounts by address (a POST that changes nothing)"},
    {.name = "get_warmup_stats", .method = "GET", .path = "/email-accounts/{id}/warmup-stats", ACCOUNT_ID,
     .arg = ARG_NONE, .dest = TO_QUERY, .answer = ANSWER_WARMUP_STATS, .kind = KIND_READ, .args_doc = "id",
     .summary = "Warmup statistics of the last 7 days (counts as integers)"},
    {.name = "update_email_account", .method = "POST", .path = "/email-accounts/{id}", ACCOUNT_ID, .arg = ARG_FIELDS,
     .dest = TO_BODY, .fields = ACCOUNT_UPDATE, .payload_required = 1, .answer = ANSWER_SAVE, .kind = KIND_SET,
     .args_doc = "id, fields", .summary = "Change an account's limits, names, tracking and suspension"},
    {.name = "update_warmup", .method = "POST", .path = "/email-accounts/{id}/warmup", ACCOUNT_ID, .arg = ARG_FIELDS,
     .dest = TO_BODY, .fields = WARMUP_UPDATE, .payload_required = 1, .answer = ANSWER_OBJECT, .kind = KIND_SET,
     .args_doc = "id, settings", .summary = "Turn warmup on or off and set its volume"},
    {.name = "add_smtp_account", .method = "POST", .path = "/email-accounts/save", .arg = ARG_FIELDS, .dest = TO_BODY,
     .fields = SMTP_SAVE, .payload_required = 1, .answer = ANSWER_SAVE, .kind = KIND_CREATE, SAVE_LOOKUP, .args_doc = "fields",
     .summary = "Add (or, with id, update the credentials of) an SMTP account"},
    {.name = "add_oauth_account", .method = "POST", .path = "/email-accounts/save-oauth", .arg = ARG_FIELDS,
     .dest = TO_BODY, .fields = OAUTH_SAVE, .payload_required = 1, .answer = ANSWER_SAVE, .kind = KIND_CREATE,
     SAVE_LOOKUP, .args_doc = "fields", .summary = "Add a Gmail or Outlook account with OAuth tokens"},
    {.name = "add_campaign_email_accounts", .method = "POST", .path = "/campaigns/{id}/email-accounts", CAMPAIGN_ID,
     .arg = ARG_IDS, .dest = TO_BODY, .options = ATTACH_OPTIONS, .payload_required = 1, .answer = ANSWER_OBJECT,
     .kind = KIND_RELATION, .inverse = "remove_campaign_email_accounts", .args_doc = "campaign_id, ids, opts",
     .summary = "Attach accounts to a campaign (auto_adjust_warmup)"},
    {.name = "remove_campaign_email_accounts", .method = "DELETE", .path = "/campaigns/{id}/email-accounts",
     CAMPAIGN_ID, .arg = ARG_IDS, .dest = TO_BODY, .payload_required = 1, .answer = ANSWER_DETACH,
     .kind = KIND_RELATION, .inverse = "add_campaign_email_accounts", .removes = 1, .args_doc = "campaign_id, ids",
     .summary = "Detach accounts from a campaign ({detached = N}: how many were attached)"},
    {.name = "suspend_email_account", .method = "PUT", .path = "/email-accounts/suspend/{id}", ACCOUNT_ID,
     .arg = ARG_NONE, .dest = TO_QUERY, .answer = ANSWER_OBJECT, .kind = KIND_RELATION,
     .inverse = "unsuspend_email_account", .flag = "is_suspended", .args_doc = "id",
     .summary = "Stop an account's campaign and warmup sending; it stays in its campaigns"},
    {.name = "unsuspend_email_account", .method = "DELETE", .path = "/email-accounts/unsuspend/{id}", ACCOUNT_ID,
     .arg = ARG_NONE, .dest = TO_QUERY, .answer = ANSWER_OBJECT, .kind = KIND_RELATION,
     .inverse = "suspend_email_account", .removes = 1, .flag = "is_suspended", .args_doc = "id",
     .summary = "Let a suspended account send again"},
    {.name = "delete_email_account", .method = "DELETE", .path = "/email-accounts/{id}", ACCOUNT_ID, .arg = ARG_NONE,
     .dest = TO_QUERY, .answer = ANSWER_SAVE, .kind = KIND_DELETE, .args_doc = "id",
     .summary = "Delete an account: gone from every campaign; cannot be undone"},
    {.name = "create_tag", .method = "POST", .path = "/tags", .arg = ARG_FIELDS, .dest = TO_BODY,
     .fields = TAG_CREATE, .payload_required = 1, .answer = ANSWER_RECORD, .kind = KIND_CREATE, .args_doc = "fields",
     .summary = "Create an account tag {name, color = \"#RRGGBB\"}"},
    {.name = "update_tag", .method = "POST", .path = "/email-accounts/tag-manager", .arg = ARG_FIELDS,
     .dest = TO_BODY, .fields = TAG_UPDATE, .payload_required = 1, .answer = ANSWER_RECORD, .kind = KIND_SET,
     .args_doc = "fields", .summary = "Rename or recolor a tag {id, name, color}"},
    {.name = "add_email_account_tags", .method = "POST", .path = "/email-accounts/tag-mapping", .arg = ARG_ID_PAIRS,
     .dest = TO_BODY, .payload_required = 1, .answer = ANSWER_OBJECT, .kind = KIND_RELATION,
     .inverse = "remove_email_account_tags", .max_ids = 25, .members = "tags", .args_doc = "ids, tag_ids",
     .summary = "Tag accounts (25 a request; longer lists are split)"},
    {.name = "remove_email_account_tags", .method = "DELETE", .path = "/email-accounts/tag-mapping",
     .arg = ARG_ID_PAIRS, .dest = TO_BODY, .payload_required = 1, .answer = ANSWER_OBJECT, .kind = KIND_RELATION,
     .inverse = "add_email_account_tags", .removes = 1, .max_ids = 25, .members = "tags", .args_doc = "ids, tag_ids",
     .summary = "Untag accounts (the tags themselves stay)"},
    {.name = "update_lead_email_account", .method = "POST", .path = "/campaigns/update-lead-email-account",
     .arg = ARG_FIELDS, .dest = TO_BODY, .fields = LEAD_SENDER, .payload_required = 1, .answer = ANSWER_OBJECT,
     .kind = KIND_ACTION, .args_doc = "fields",
     .summary = "Hand a campaign's lead to another sending account"},
    {.name = "reconnect_failed_email_accounts", .method = "POST",
     .path = "/email-accounts/reconnect-failed-email-accounts", .arg = ARG_NONE, .dest = TO_BODY,
     .answer = ANSWER_OBJECT, .kind = KIND_ACTION, .args_doc = "",
     .summary = "Ask SmartLead to reconnect every failed account (3 a day)"},
    {.name = NULL}};

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

/* How many arguments follow the leading id: the payload's (two for id pairs), then options. */
static int payload_args(const endpoint_t *ep) {
  int n = ep->arg == ARG_ID_PAIRS ? 2 : 1;
  return n + (ep->options ? 1 : 0);
}

/* The trailing options table (nil: none) validated and merged into the payload on top. */
static int merge_options(lua_State *L, const endpoint_t *ep, int opts, const char *path) {
  int payload = lua_gettop(L);
  if (validate_fields(L, opts, ep->options, ep->name, ep->method, path, 0) != 1) return 2;
  lua_pushnil(L);
  while (lua_next(L, payload + 1)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_settable(L, payload);
  }
  lua_pop(L, 1);
  return 1;
}

/* The endpoint's arguments (fields, ids, address, ...; options) as one canonical table on top, or nil, err. */
static int build_payload(lua_State *L, const endpoint_t *ep, int arg, const char *path) {
  int n;
  switch (ep->arg) {
    case ARG_FIELDS:
      n = validate_fields(L, arg, ep->fields, ep->name, ep->method, path, ep->payload_required);
      break;
    case ARG_IDS:
      lua_createtable(L, 0, 2);
      n = validate_ids_into(L, arg, ep->name, ep->method, path, "email_account_ids", ep->max_ids);
      break;
    case ARG_ID_PAIRS:
      lua_createtable(L, 0, 2);
      n = validate_ids_into(L, arg, ep->name, ep->method, path, "email_account_ids", ep->max_ids);
      if (n == 1) n = validate_ids_into(L, arg + 1, ep->name, ep->method, path, "tag_ids", 100);
      break;
    case ARG_EMAIL:
      n = validate_email_arg(L, arg, ep->name, ep->method, path);
      break;
    case ARG_EMAILS:
      n = validate_email_list(L, arg, ep->name, ep->method, path, "email_ids");
      break;
    default:
      if (ep->dest == TO_BODY) lua_newtable(L); /* POST with {} */
      else lua_pushnil(L);
      return 1;
  }
  if (n == 1 && ep->options) n = merge_options(L, ep, arg + payload_args(ep) - 1, path);
  return n;
}

static uint64_t fnv1a(const char *s, uint64_t h) {
  for (; *s; s++) h = (h ^ (unsigned char)(*s | 0x20)) * 1099511628211ULL;
  return h;
}

/* Writes to one account (or campaign, or address) are serialised by the engine: the lock's top
 * byte names what the id is (accounts 1, campaigns 2, addresses 3, anything else 4). */
static uint64_t write_lock(lua_State *L, const endpoint_t *ep, lua_Integer id, int payload) {
  const uint64_t low = 0xFFFFFFFFFFFFFFULL;
  if (ep->kind == KIND_READ) return 0;
  if (ep->id_name) {
    uint64_t space = strcmp(ep->id_name, "email_account_id") == 0 ? 1 : strcmp(ep->id_name, "campaign_id") == 0 ? 2 : 4;
    return (space << 56) | (((uint64_t)id ^ (space == 4 ? fnv1a(ep->id_name, 0) : 0)) & low);
  }
  if (lua_type(L, payload) == LUA_TTABLE && lua_getfield(L, payload, "from_email") == LUA_TSTRING) {
    uint64_t h = fnv1a(lua_tostring(L, -1), 1469598103934665603ULL);
    lua_pop(L, 1);
    return (3ULL << 56) | (h & low);
  }
  lua_pop(L, lua_type(L, payload) == LUA_TTABLE ? 1 : 0);
  return 0;
}

/* Safe to send twice when an attempt's outcome is unknown: reads, set-value writes, relations. */
static int repeatable(op_kind_t kind) { return kind == KIND_READ || kind == KIND_SET || kind == KIND_RELATION; }

static int session_done(lua_State *L, int status, lua_KContext base) {
  (void)status;
  return lua_gettop(L) - (int)base;
}

/* Hands a validated call to the client's run session: hook(client, name, payload, args...).
 * The payload (canonical fields, ids or address) is on top; the arguments at 2..arg. */
static int call_session(lua_State *L, const endpoint_t *ep, int arg) {
  int payload = lua_gettop(L);
  lua_getiuservalue(L, 1, 1);
  lua_pushvalue(L, 1);
  lua_pushstring(L, ep->name);
  lua_pushvalue(L, payload);
  for (int i = 2; i <= arg; i++) lua_pushvalue(L, i);
  lua_callk(L, arg + 2, LUA_MULTRET, payload, session_done); /* the hook may yield */
  return session_done(L, LUA_OK, payload);
}

typedef enum { VALIDATE_ONLY, SEND, SEND_RAW } dispatch_mode_t;

static int has_session_hook(lua_State *L) {
  int t = lua_getiuservalue(L, 1, 1);
  lua_pop(L, 1);
  return t == LUA_TFUNCTION;
}

/* Validates and builds the call; VALIDATE_ONLY answers true (nothing sent); SEND goes through
 * the client's session when it has one; SEND_RAW (the session's own sends) never does.
 * Upvalue 1 is the row: a light userdata into ENDPOINTS, or a defined row's full userdata. */
static int dispatch(lua_State *L, dispatch_mode_t mode) {
  const endpoint_t *ep = lua_touserdata(L, lua_upvalueindex(1));
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
  int last = arg + payload_args(ep) - 1;
  lua_settop(L, last); /* ignore extra arguments beyond the payload and its options */
  if (build_payload(L, ep, arg, path) != 1) return 2;
  buf_init(&query);
  buf_init(&body);
  char err[384];
  int ok = ep->dest == TO_QUERY ? encode_query(L, lua_gettop(L), &query, err, sizeof err)
                                : json_encode(L, lua_gettop(L), &body, err, sizeof err);
  int n;
  if (!ok) {
    n = push_validation_error(L, ep->method, path, NULL, "%s: %s", ep->name, err);
  } else if (mode == VALIDATE_ONLY) {
    lua_pushboolean(L, 1);
    n = 1;
  } else if (mode == SEND && has_session_hook(L)) {
    buf_free(&query);
    buf_free(&body);
    return call_session(L, ep, last);
  } else {
    call_t call = {.method = ep->method, .path = path, .query = &query, .body = ep->dest == TO_BODY ? &body : NULL,
                   .answer = ep->answer, .idempotent = repeatable(ep->kind), .write = ep->kind != KIND_READ,
                   .lock = write_lock(L, ep, id, lua_gettop(L)), .op = ep->name};
    return client_call(L, c, &call); /* last step: it may yield; it took query and body */
  }
  buf_free(&query);
  buf_free(&body);
  return n;
}

/* client:<operation>(...) -> answer | nil, err   (upvalue 1: the row) */
static int l_dispatch(lua_State *L) { return dispatch(L, SEND); }

/* row.call(client, ...) -> answer | nil, err: sent as is, past any run session */
static int l_dispatch_raw(lua_State *L) { return dispatch(L, SEND_RAW); }

/* row.validate(client, ...) -> true | nil, err: every check the call makes, nothing sent (--plan) */
static int l_validate_only(lua_State *L) { return dispatch(L, VALIDATE_ONLY); }

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
    call_t call = {.method = method, .path = path, .query = &query, .body = has_body ? &body : NULL, .answer = ANSWER_JSON,
                   .idempotent = strcmp(method, "POST") != 0, .write = strcmp(method, "GET") != 0};
    return client_call(L, c, &call); /* last step: it may yield; it took query and body */
  }
  buf_free(&query);
  buf_free(&body);
  return n;
}

/* ---------------------------------------------------------------- the registry as data */

static const char *const KIND_NAMES[] = {"read", "set", "create", "relation", "delete", "action", NULL};
static const char *const ARG_NAMES[] = {"none", "fields", "ids", "email", "id_pairs", "emails", NULL};
static const char *const DEST_NAMES[] = {"query", "body", NULL};
static const char *const ANSWER_NAMES[] = {"json", "save", "warmup_stats", "list", "account", "object", "record",
                                           "stats", "detach", NULL};
static const char *const METHOD_NAMES[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};

#define DEFINED_ROWS "smartlead.defined_operations" /* registry key: rows added at run time */

static void set_str(lua_State *L, const char *key, const char *value) {
  if (!value) return;
  lua_pushstring(L, value);
  lua_setfield(L, -2, key);
}

/* What the leading id names, for the run layer: an account, a campaign, or the id's own name. */
static const char *target_name(const endpoint_t *ep) {
  if (!ep->id_name) return NULL;
  if (strcmp(ep->id_name, "email_account_id") == 0) return "account";
  if (strcmp(ep->id_name, "campaign_id") == 0) return "campaign";
  return ep->id_name;
}

static void push_fields(lua_State *L, const field_t *fields) {
  lua_newtable(L);
  for (int j = 0; fields && fields[j].name; j++) {
    const field_t *f = &fields[j];
    lua_createtable(L, 0, 5);
    set_str(L, "name", f->name);
    set_str(L, "type", FIELD_TYPE_NAMES[f->type]);
    lua_pushboolean(L, f->required), lua_setfield(L, -2, "required");
    set_str(L, "alias", f->alias);
    if (f->values) {
      lua_newtable(L);
      for (int k = 0; f->values[k]; k++) lua_pushstring(L, f->values[k]), lua_rawseti(L, -2, k + 1);
      lua_setfield(L, -2, "enum");
    }
    lua_rawseti(L, -2, j + 1);
  }
}

/* Pushes the row as a table, with call and validate bound to it (the value at `row` is the
 * light or full userdata dispatch reads). */
static void push_row(lua_State *L, const endpoint_t *ep, int row) {
  lua_createtable(L, 0, 20);
  set_str(L, "name", ep->name);
  set_str(L, "method", ep->method);
  set_str(L, "path", ep->path);
  set_str(L, "kind", KIND_NAMES[ep->kind]);
  set_str(L, "inverse", ep->inverse);
  lua_pushboolean(L, ep->removes), lua_setfield(L, -2, "removes");
  set_str(L, "lookup", ep->lookup);
  set_str(L, "lookup_key", ep->lookup_key);
  set_str(L, "lookup_list", ep->lookup_list);
  set_str(L, "lookup_filter", ep->lookup_filter);
  set_str(L, "id_name", ep->id_name);
  set_str(L, "target", target_name(ep));
  set_str(L, "arg", ARG_NAMES[ep->arg]);
  set_str(L, "dest", DEST_NAMES[ep->dest]);
  set_str(L, "answer", ANSWER_NAMES[ep->answer]);
  set_str(L, "args", ep->args_doc ? ep->args_doc : "");
  set_str(L, "summary", ep->summary ? ep->summary : "");
  lua_pushboolean(L, ep->payload_required), lua_setfield(L, -2, "payload_required");
  push_fields(L, ep->fields);
  lua_setfield(L, -2, "fields");
  if (ep->options) {
    push_fields(L, ep->options);
    lua_setfield(L, -2, "options");
  }
  if (ep->max_ids > 0) lua_pushinteger(L, ep->max_ids), lua_setfield(L, -2, "max_ids");
  set_str(L, "flag", ep->flag);
  set_str(L, "members", ep->members);
  lua_pushvalue(L, row);
  lua_pushcclosure(L, l_dispatch_raw, 1);
  lua_setfield(L, -2, "call");
  lua_pushvalue(L, row);
  lua_pushcclosure(L, l_validate_only, 1);
  lua_setfield(L, -2, "validate");
}

/* core.operations() -> {{name=, method=, path=, kind=, inverse=, target=, arg=, fields=, call=, validate=, ...}, ...} */
static int l_operations(lua_State *L) {
  lua_newtable(L);
  int n = 0;
  for (int i = 0; ENDPOINTS[i].name; i++) {
    lua_pushlightuserdata(L, (void *)&ENDPOINTS[i]);
    push_row(L, &ENDPOINTS[i], lua_gettop(L));
    lua_rawseti(L, -3, ++n);
    lua_pop(L, 1);
  }
  lua_getfield(L, LUA_REGISTRYINDEX, DEFINED_ROWS);
  for (lua_Integer i = 1; lua_istable(L, -1) && lua_rawgeti(L, -1, i) == LUA_TTABLE; i++) {
    lua_rawseti(L, -3, ++n);
  }
  lua_pop(L, 2);
  return 1;
}

/* ---------------------------------------------------------------- rows defined at run time */

/* A string of the spec, kept alive in the anchor table at `anchor`; NULL when absent. */
static const char *spec_string(lua_State *L, int spec, int anchor, const char *key, int required) {
  int t = lua_getfield(L, spec, key);
  if (t == LUA_TNIL && !required) return lua_pop(L, 1), NULL;
  if (t != LUA_TSTRING) luaL_error(L, "define_operation: %s must be a string, got %s", key, lua_typename(L, t));
  const char *s = lua_tostring(L, -1);
  lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
  return s;
}

static int spec_choice(lua_State *L, int spec, int anchor, const char *key, const char *const *names, int dflt) {
  const char *s = spec_string(L, spec, anchor, key, dflt < 0);
  if (!s) return dflt;
  for (int i = 0; names[i]; i++)
    if (strcmp(s, names[i]) == 0) return i;
  return luaL_error(L, "define_operation: %s: unknown value '%s'", key, s);
}

static int plain_name(const char *s) {
  return s && *s && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s) && !(*s >= '0' && *s <= '9');
}

/* A NULL-terminated array of the enum's strings, in a userdata anchored like the strings. */
static const char *const *spec_enum(lua_State *L, int field, int anchor) {
  if (lua_getfield(L, field, "enum") != LUA_TTABLE) return lua_pop(L, 1), NULL;
  int values = lua_gettop(L);
  size_t n = lua_rawlen(L, values);
  const char **out = lua_newuserdatauv(L, (n + 1) * sizeof *out, 0);
  lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
  for (size_t k = 0; k < n; k++) {
    if (lua_rawgeti(L, values, (lua_Integer)k + 1) != LUA_TSTRING) luaL_error(L, "define_operation: enum values must be strings");
    out[k] = lua_tostring(L, -1);
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
  }
  out[n] = NULL;
  lua_pop(L, 1);
  return out;
}

static const field_t *spec_fields(lua_State *L, int spec, int anchor, const char *key) {
  if (lua_getfield(L, spec, key) != LUA_TTABLE) return lua_pop(L, 1), NULL;
  int list = lua_gettop(L);
  size_t n = lua_rawlen(L, list);
  field_t *out = lua_newuserdatauv(L, (n + 1) * sizeof *out, 0);
  lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
  for (size_t j = 0; j < n; j++) {
    if (lua_rawgeti(L, list, (lua_Integer)j + 1) != LUA_TTABLE) luaL_error(L, "define_operation: fields[%d] must be a table", (int)j + 1);
    int f = lua_gettop(L);
    out[j].name = spec_string(L, f, anchor, "name", 1);
    if (!plain_name(out[j].name)) luaL_error(L, "define_operation: field name '%s' is not a plain name", out[j].name);
    out[j].type = (field_type_t)spec_choice(L, f, anchor, "type", FIELD_TYPE_NAMES, -1);
    out[j].required = lua_getfield(L, f, "required") == LUA_TBOOLEAN && lua_toboolean(L, -1);
    lua_pop(L, 1);
    out[j].values = spec_enum(L, f, anchor);
    out[j].alias = spec_string(L, f, anchor, "alias", 0);
    if (out[j].type == F_ENUM && !out[j].values) luaL_error(L, "define_operation: enum field '%s' needs enum = {...}", out[j].name);
    lua_pop(L, 1);
  }
  memset(&out[n], 0, sizeof out[n]);
  lua_pop(L, 1);
  return out;
}

/* True when the Client already has a method of this name (every row, close, request, ...). */
static int is_client_method(lua_State *L, const char *name) {
  luaL_getmetatable(L, CLIENT_MT);
  lua_getfield(L, -1, "__index");
  int found = lua_getfield(L, -1, name) != LUA_TNIL;
  lua_pop(L, 3);
  return found;
}

static void check_defined_row(lua_State *L, const endpoint_t *ep) {
  if (!plain_name(ep->name)) luaL_error(L, "define_operation: name must be a plain lower_case name");
  if (is_client_method(L, ep->name)) luaL_error(L, "define_operation: '%s' is already a Client method", ep->name);
  if (ep->path[0] != '/' || strspn(ep->path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_.{}-") != strlen(ep->path) ||
      strlen(ep->path) > 100)
    luaL_error(L, "define_operation: path must start with / and hold only letters, digits, / _ . - and {id}");
  const char *slot = strstr(ep->path, "{id}");
  if ((slot != NULL) != (ep->id_name != NULL) || (slot && strstr(slot + 1, "{")) || (!slot && strchr(ep->path, '{')))
    luaL_error(L, "define_operation: a path with {id} needs id_name, and id_name needs {id} in the path");
  if (ep->id_name && !plain_name(ep->id_name)) luaL_error(L, "define_operation: id_name must be a plain name");
  if (ep->arg == ARG_FIELDS && !ep->fields) luaL_error(L, "define_operation: arg 'fields' needs a fields list");
}

/* core.define_operation{name=, method=, path=, kind=, inverse=, id_name=, arg=, dest=, fields=, answer=,
 *                       removes=, lookup=, lookup_key=, payload_required=, options=, max_ids=, flag=,
 *                       members=, args=, summary=} -> row (as core.operations() lists it) */
static int l_define_operation(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  endpoint_t *ep = lua_newuserdatauv(L, sizeof *ep, 1); /* 2: the row dispatch reads */
  memset(ep, 0, sizeof *ep);
  lua_newtable(L); /* 3: anchors every string and array the row points into */
  lua_pushvalue(L, 3);
  lua_setiuservalue(L, 2, 1);
  ep->name = spec_string(L, 1, 3, "name", 1);
  ep->method = METHOD_NAMES[spec_choice(L, 1, 3, "method", METHOD_NAMES, -1)];
  ep->path = spec_string(L, 1, 3, "path", 1);
  ep->kind = (op_kind_t)spec_choice(L, 1, 3, "kind", KIND_NAMES, -1);
  ep->inverse = spec_string(L, 1, 3, "inverse", 0);
  lua_getfield(L, 1, "removes");
  ep->removes = lua_toboolean(L, -1);
  lua_pop(L, 1);
  ep->lookup = spec_string(L, 1, 3, "lookup", 0);
  ep->lookup_key = spec_string(L, 1, 3, "lookup_key", 0);
  ep->lookup_list = spec_string(L, 1, 3, "lookup_list", 0);
  ep->lookup_filter = spec_string(L, 1, 3, "lookup_filter", 0);
  ep->id_name = spec_string(L, 1, 3, "id_name", 0);
  ep->fields = spec_fields(L, 1, 3, "fields");
  ep->options = spec_fields(L, 1, 3, "options");
  ep->flag = spec_string(L, 1, 3, "flag", 0);
  ep->members = spec_string(L, 1, 3, "members", 0);
  lua_getfield(L, 1, "max_ids");
  ep->max_ids = lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0 && lua_tointeger(L, -1) <= 2500 ? (int)lua_tointeger(L, -1) : 0;
  lua_pop(L, 1);
  ep->arg = (arg_kind_t)spec_choice(L, 1, 3, "arg", ARG_NAMES, ep->fields ? ARG_FIELDS : ARG_NONE);
  ep->dest = (dest_t)spec_choice(L, 1, 3, "dest", DEST_NAMES, strcmp(ep->method, "GET") == 0 ? TO_QUERY : TO_BODY);
  ep->answer = (answer_kind_t)spec_choice(L, 1, 3, "answer", ANSWER_NAMES, ANSWER_JSON);
  lua_getfield(L, 1, "payload_required");
  ep->payload_required = lua_isnil(L, -1) ? ep->arg != ARG_NONE && ep->kind != KIND_READ : lua_toboolean(L, -1);
  lua_pop(L, 1);
  ep->args_doc = spec_string(L, 1, 3, "args", 0);
  ep->summary = spec_string(L, 1, 3, "summary", 0);
  check_defined_row(L, ep);
  luaL_getmetatable(L, CLIENT_MT);
  lua_getfield(L, -1, "__index");
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, l_dispatch, 1);
  lua_setfield(L, -2, ep->name);
  lua_pop(L, 2);
  push_row(L, ep, 2);
  lua_getfield(L, LUA_REGISTRYINDEX, DEFINED_ROWS);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 1);
  return 1;
}

void endpoints_register(lua_State *L) {
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, DEFINED_ROWS);
  luaL_getmetatable(L, CLIENT_MT);
  lua_getfield(L, -1, "__index");
  for (int i = 0; ENDPOINTS[i].name; i++) {
    lua_pushlightuserdata(L, (void *)&ENDPOINTS[i]);
    lua_pushcclosure(L, l_dispatch, 1);
    lua_setfield(L, -2, ENDPOINTS[i].name);
  }
  lua_pushcfunction(L, l_request);
  lua_setfield(L, -2, "request");
  lua_pop(L, 2);
  lua_newtable(L);
  for (int i = 0; ENDPOINTS[i].name; i++) {
    lua_pushlightuserdata(L, (void *)&ENDPOINTS[i]);
    lua_pushcclosure(L, l_validate_only, 1);
    lua_setfield(L, -2, ENDPOINTS[i].name);
  }
  lua_setfield(L, -2, "validators");
  lua_pushcfunction(L, l_operations);
  lua_setfield(L, -2, "operations");
  lua_pushcfunction(L, l_define_operation);
  lua_setfield(L, -2, "define_operation");
}
