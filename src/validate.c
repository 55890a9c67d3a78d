#include "validate.h"

#include <ctype.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const FIELD_TYPE_NAMES[] = {"text", "name", "secret", "host", "email", "uint", "limit",
                                       "port", "percent", "bool", "enum", "id", "id_or_null", "token", "date",
                                       "color", "key", "limit20", NULL};

#include "client.h"
#include "json.h"

/* ---------------------------------------------------------------- small checks */

int valid_utf8(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end) {
    unsigned char c = *p;
    size_t n = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    if (n == 0 || (size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++)
      if ((p[i] & 0xC0) != 0x80) return 0;
    if (n == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))) return 0; /* overlong, surrogates */
    if (n == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))) return 0;
    p += n;
  }
  return 1;
}

/* C0 controls, DEL and C1 controls (U+0080..U+009F): line breaks, tabs, terminal escapes. */
static int has_control(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i], next = i + 1 < len ? (unsigned char)s[i + 1] : 0;
    if (c < 0x20 || c == 0x7F || (c == 0xC2 && next >= 0x80 && next <= 0x9F)) return 1;
  }
  return 0;
}

/* Short UTF-8 text without control bytes: safe to quote in a message that reaches a terminal. */
static int echoable(const char *s, size_t len, size_t max) {
  return len <= max && valid_utf8(s, len) && !has_control(s, len);
}

/* Ids stop at 2^53 - 1: the API's JavaScript numbers would round a larger id to another one. */
#define MAX_SAFE_ID 9007199254740991LL

static int above_safe_id(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TNUMBER && lua_tonumber(L, idx) > (lua_Number)MAX_SAFE_ID;
}

static int domain_ok(const char *d, size_t len) {
  if (len < 3 || d[0] == '.' || d[len - 1] == '.' || d[0] == '-') return 0;
  int dots = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)d[i];
    if (c == '.') {
      if (d[i + 1] == '.') return 0;
      dots++;
    } else if (!(isalnum(c) || c == '-' || c >= 0x80)) {
      return 0;
    }
  }
  return dots > 0;
}

/* local@domain.tld: pragmatic, not RFC 5322 in full, refusing what no mailbox can have. */
int valid_email(const char *s, size_t len) {
  if (len < 5 || len > 254 || has_control(s, len)) return 0; /* NUL, CR LF, C1 controls */
  const char *at = memchr(s, '@', len);
  if (!at || at == s || memchr(at + 1, '@', len - (size_t)(at - s) - 1)) return 0;
  for (const char *p = s; p < at; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= ' ' || c == '"' || c == '(' || c == ')' || c == ',' || c == ':' || c == ';' || c == '<' || c == '>' ||
        c == '[' || c == '\\' || c == ']' || c == 0x7F)
      return 0;
  }
  if (s[0] == '.' || at[-1] == '.') return 0;
  return domain_ok(at + 1, len - (size_t)(at - s) - 1);
}

static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64) return (size_t)-1;
  size_t row[65];
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
      size_t best = diag + cost;
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

const char *nearest_name(const char *name, const char *const *candidates, size_t n) {
  const char *best = NULL;
  size_t best_d = (size_t)-1;
  for (size_t i = 0; i < n; i++) {
    size_t d = edit_distance(name, candidates[i]);
    if (d < best_d) best_d = d, best = candidates[i];
  }
  size_t len = strlen(name), allowed = len < 6 ? 1 : len / 3;
  return best_d <= allowed ? best : NULL;
}

/* Answer names people copy from a listed account into a write, mapped to the request name. */
static const char *const RESPONSE_NAMES[][2] = {
    {"message_per_day", "max_email_per_day"}, {"custom_tracking_domain", "custom_tracking_url"},
    {"bcc_email", "bcc"}, {"minTimeToWaitInMins", "time_to_wait_in_mins"}, {"imap_username", "imap_user_name"},
    {"username", "user_name"}, {"user_name", "username"}, {"email_account_id", "email_account_ids"},
    {"reply_rate", "reply_rate_percentage"}, {NULL, NULL}}; /* warmup_details.reply_rate */

/* ---------------------------------------------------------------- describing values */

static const char *describe(lua_State *L, int idx, const field_t *f, char *out, size_t outsz) {
  int t = lua_type(L, idx);
  int secret = f->type == F_SECRET || f->type == F_TOKEN; /* a secret is never echoed, whatever its type */
  if (secret && t == LUA_TSTRING) snprintf(out, outsz, "a string of %zu bytes", (size_t)lua_rawlen(L, idx));
  else if (secret) snprintf(out, outsz, "a %s", luaL_typename(L, idx));
  else if (t == LUA_TNUMBER) lua_isinteger(L, idx) ? snprintf(out, outsz, LUA_INTEGER_FMT, lua_tointeger(L, idx))
                                              : snprintf(out, outsz, "%.14g", lua_tonumber(L, idx));
  else if (t == LUA_TSTRING && f->type != F_SECRET && echoable(lua_tostring(L, idx), lua_rawlen(L, idx), 40))
    snprintf(out, outsz, "\"%s\"", lua_tostring(L, idx));
  else if (t == LUA_TSTRING) snprintf(out, outsz, "a string of %zu bytes", (size_t)lua_rawlen(L, idx));
  else if (json_is_null(L, idx)) snprintf(out, outsz, "json.null");
  else snprintf(out, outsz, "%s", luaL_typename(L, idx));
  return out;
}

/* ---------------------------------------------------------------- one value */

static int check_text(lua_State *L, int idx, int nonempty, char *why, size_t whysz) {
  if (lua_type(L, idx) != LUA_TSTRING) return snprintf(why, whysz, "must be a string"), 0;
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  if (nonempty && len == 0) return snprintf(why, whysz, "must not be empty"), 0;
  if (len > MAX_FIELD_BYTES) return snprintf(why, whysz, "is longer than %d bytes", MAX_FIELD_BYTES), 0;
  if (memchr(s, '\0', len)) return snprintf(why, whysz, "contains a NUL byte"), 0;
  if (!valid_utf8(s, len)) return snprintf(why, whysz, "is not valid UTF-8"), 0;
  return 1;
}

static int check_integer(lua_State *L, int idx, lua_Integer lo, lua_Integer hi, char *why, size_t whysz) {
  int isint = 0;
  lua_Integer v = lua_type(L, idx) == LUA_TNUMBER ? lua_tointegerx(L, idx, &isint) : 0;
  if (!isint || v < lo || v > hi) {
    if (hi == LUA_MAXINTEGER) snprintf(why, whysz, "must be an integer >= %lld", (long long)lo);
    else snprintf(why, whysz, "must be an integer from %lld to %lld", (long long)lo, (long long)hi);
    return 0;
  }
  return 1;
}

/* A name is one line: a line break in from_name would become a header of every email sent. */
static int check_name(lua_State *L, int idx, char *why, size_t whysz) {
  if (!check_text(L, idx, 1, why, whysz)) return 0;
  if (has_control(lua_tostring(L, idx), lua_rawlen(L, idx)))
    return snprintf(why, whysz, "must not contain control characters (line breaks, tabs, escapes)"), 0;
  return 1;
}

static int check_host(lua_State *L, int idx, char *why, size_t whysz) {
  if (!check_text(L, idx, 1, why, whysz)) return 0;
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']'))
      return snprintf(why, whysz, "must be a host name or address"), 0;
  }
  return len <= 253 ? 1 : (snprintf(why, whysz, "must be a host name of at most 253 bytes"), 0);
}

static int check_enum(lua_State *L, int idx, const char *const *values, char *why, size_t whysz) {
  if (lua_type(L, idx) == LUA_TSTRING) /* whole length: "GMAIL\0x" is not GMAIL */
    for (const char *const *v = values; *v; v++)
      if (strlen(*v) == lua_rawlen(L, idx) && strcmp(lua_tostring(L, idx), *v) == 0) return 1;
  int n = snprintf(why, whysz, "must be one of");
  for (const char *const *v = values; *v && n > 0 && (size_t)n < whysz; v++)
    n += snprintf(why + n, whysz - (size_t)n, "%s %s", v == values ? "" : ",", *v);
  return 0;
}

static int check_token(lua_State *L, int idx, char *why, size_t whysz);

static int leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* YYYY-MM-DD naming a day that exists (2026-02-30 does not). */
static int check_date(lua_State *L, int idx, char *why, size_t whysz) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  size_t len = 0;
  const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : "";
  int y, m, d, ok = len == 10 && strspn(s, "0123456789-") == 10 && s[4] == '-' && s[7] == '-' &&
                    sscanf(s, "%4d-%2d-%2d", &y, &m, &d) == 3 && y >= 1970 && m >= 1 && m <= 12 && d >= 1 &&
                    d <= days[m - 1] + (m == 2 && leap_year(y));
  return ok ? 1 : (snprintf(why, whysz, "must be a date YYYY-MM-DD"), 0);
}

static int check_color(lua_State *L, int idx, char *why, size_t whysz) {
  size_t len = 0;
  const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : "";
  int ok = len == 7 && s[0] == '#' && strspn(s + 1, "0123456789abcdefABCDEF") == 6;
  return ok ? 1 : (snprintf(why, whysz, "must be a color #RRGGBB"), 0);
}

/* A key the API documents as a string ("apple-juice") in one place and a number in another. */
static int check_key(lua_State *L, int idx, char *why, size_t whysz) {
  if (lua_type(L, idx) == LUA_TSTRING) return check_name(L, idx, why, whysz);
  if (lua_type(L, idx) == LUA_TNUMBER && check_integer(L, idx, 0, MAX_SAFE_ID, why, whysz)) return 1;
  return snprintf(why, whysz, "must be a non-empty string or an integer >= 0"), 0;
}

static int check_value(lua_State *L, int idx, const field_t *f, char *why, size_t whysz) {
  switch (f->type) {
    case F_TEXT: return check_text(L, idx, 0, why, whysz);
    case F_NAME: return check_name(L, idx, why, whysz);
    case F_SECRET: return check_text(L, idx, 1, why, whysz);
    case F_HOST: return check_host(L, idx, why, whysz);
    case F_EMAIL:
      if (!check_text(L, idx, 1, why, whysz)) return 0;
      if (!valid_email(lua_tostring(L, idx), lua_rawlen(L, idx))) return snprintf(why, whysz, "must be an email address"), 0;
      return 1;
    case F_UINT: return check_integer(L, idx, 0, 2147483647, why, whysz);
    case F_LIMIT: return check_integer(L, idx, 1, 100, why, whysz);
    case F_LIMIT20: return check_integer(L, idx, 1, 20, why, whysz);
    case F_PORT: return check_integer(L, idx, 1, 65535, why, whysz);
    case F_PERCENT: return check_integer(L, idx, 0, 100, why, whysz);
    case F_BOOL:
      return lua_isboolean(L, idx) ? 1 : (snprintf(why, whysz, "must be a boolean (true or false)"), 0);
    case F_ENUM: return check_enum(L, idx, f->values, why, whysz);
    case F_ID: return check_integer(L, idx, 1, MAX_SAFE_ID, why, whysz);
    case F_ID_OR_NULL:
      return json_is_null(L, idx) || check_integer(L, idx, 1, MAX_SAFE_ID, why, whysz) ||
             (snprintf(why, whysz, "must be a positive integer or json.null%s", above_safe_id(L, idx) ? " (at most 2^53 - 1)" : ""), 0);
    case F_TOKEN: return check_token(L, idx, why, whysz);
    case F_DATE: return check_date(L, idx, why, whysz);
    case F_COLOR: return check_color(L, idx, why, whysz);
    case F_KEY: return check_key(L, idx, why, whysz);
  }
  return 0;
}

/* ---------------------------------------------------------------- tables of fields */

static const field_t *find_field(const field_t *fields, const char *name, int *by_alias) {
  for (const field_t *f = fields; f->name; f++) {
    if (strcmp(f->name, name) == 0) return *by_alias = 0, f;
    if (f->alias && strcmp(f->alias, name) == 0) return *by_alias = 1, f;
  }
  return NULL;
}

static void suggest(const field_t *fields, const char *name, char *out, size_t outsz) {
  out[0] = '\0';
  for (int i = 0; RESPONSE_NAMES[i][0]; i++) {
    int alias;
    if (strcmp(RESPONSE_NAMES[i][0], name) == 0 && find_field(fields, RESPONSE_NAMES[i][1], &alias)) {
      snprintf(out, outsz, " (did you mean \"%s\"? the API spells it so in requests)", RESPONSE_NAMES[i][1]);
      return;
    }
  }
  const char *names[64];
  size_t n = 0;
  for (const field_t *f = fields; f->name && n < 62; f++) {
    names[n++] = f->name;
    if (f->alias) names[n++] = f->alias;
  }
  const char *best = nearest_name(name, names, n);
  if (best) snprintf(out, outsz, " (did you mean \"%s\"?)", best);
}

static int field_error(lua_State *L, const char *ep, const char *method, const char *path, const char *field, const char *fmt, const char *a, const char *b) {
  char msg[320];
  snprintf(msg, sizeof msg, fmt, a, b);
  return push_validation_error(L, method, path, field, "%s: %s", ep, msg);
}

/* Copies one validated entry (key at -2, value at -1) into the canonical table `out`. */
static void copy_canonical(lua_State *L, int out, const field_t *f) {
  if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1)) {
    lua_pushinteger(L, (lua_Integer)lua_tonumber(L, -1)); /* 42.0 -> 42, already checked integral */
    lua_setfield(L, out, f->name);
  } else {
    lua_pushvalue(L, -1);
    lua_setfield(L, out, f->name);
  }
}

/* Names every missing required field at once, so one run shows all that is wrong. */
static int check_required(lua_State *L, int out, const field_t *fields, const char *ep, const char *method, const char *path) {
  buf_t missing;
  buf_init(&missing);
  const char *first = NULL;
  for (const field_t *f = fields; f->name; f++) {
    if (!f->required) continue;
    int absent = lua_getfield(L, out, f->name) == LUA_TNIL;
    lua_pop(L, 1);
    if (!absent) continue;
    buf_printf(&missing, "%s\"%s\"", first ? ", " : "", f->name);
    if (!first) first = f->name;
  }
  if (!first) return 1;
  lua_pushstring(L, missing.data);
  buf_free(&missing);
  return field_error(L, ep, method, path, first, "missing required field%s %s", strchr(lua_tostring(L, -1), ',') ? "s" : "",
                     lua_tostring(L, -1));
}

int validate_fields(lua_State *L, int arg, const field_t *fields, const char *ep, const char *method, const char *path, int required) {
  if (lua_isnoneornil(L, arg) && !required) lua_newtable(L), lua_replace(L, arg);
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_newtable(L);
  int out = lua_gettop(L);
  char why[200], got[64], hint[120];
  lua_pushnil(L);
  while (lua_next(L, arg)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      return field_error(L, ep, method, path, NULL, "fields must be named (got a %s key)%s", luaL_typename(L, -2), "");
    const char *name = lua_tostring(L, -2);
    int by_alias;
    /* a name with a NUL byte is no field's, even when its C string is ("limit\0x") */
    const field_t *f = strlen(name) == lua_rawlen(L, -2) ? find_field(fields, name, &by_alias) : NULL;
    if (!f && strlen(name) != lua_rawlen(L, -2))
      return field_error(L, ep, method, path, NULL, "a field name contains a NUL byte (after \"%s\")%s", name, "");
    if (!f && !echoable(name, lua_rawlen(L, -2), 64)) /* not quoted: it could drive the terminal */
      return field_error(L, ep, method, path, NULL, "unknown field: its name has control characters or invalid UTF-8, "
                         "or is over 64 bytes%s%s", "", "");
    if (!f) {
      suggest(fields, name, hint, sizeof hint);
      return field_error(L, ep, method, path, name, "unknown field \"%s\"%s", name, hint);
    }
    if (lua_getfield(L, out, f->name) != LUA_TNIL)
      return field_error(L, ep, method, path, f->name, "field \"%s\" given twice (as itself and as its alias \"%s\")", f->name, f->alias);
    lua_pop(L, 1);
    if (!check_value(L, lua_gettop(L), f, why, sizeof why)) {
      char msg[300];
      snprintf(msg, sizeof msg, "%s, got %s", why, describe(L, lua_gettop(L), f, got, sizeof got));
      return field_error(L, ep, method, path, f->name, "field \"%s\" %s", by_alias ? f->alias : f->name, msg);
    }
    copy_canonical(L, out, f);
    lua_pop(L, 1);
  }
  if (check_required(L, out, fields, ep, method, path) != 1) return 2;
  return 1;
}

/* ---------------------------------------------------------------- the OAuth token */

/* A provider's token answer as it comes (Google's, Microsoft's, oauth2 libraries'); SmartLead
 * needs token_type, scope and access_token, and refresh_token to keep the account connected. */
static const field_t TOKEN_FIELDS[] = {
    {"access_token", F_SECRET, 1, NULL, NULL}, {"token_type", F_NAME, 1, NULL, NULL},
    {"scope", F_NAME, 1, NULL, NULL},          {"refresh_token", F_SECRET, 0, NULL, NULL},
    {"expiry_date", F_ID, 0, NULL, NULL},      {"id_token", F_SECRET, 0, NULL, NULL},
    {"expiry", F_KEY, 0, NULL, NULL},          {"expires_in", F_KEY, 0, NULL, NULL},
    {"ext_expires_in", F_KEY, 0, NULL, NULL},  {NULL, 0, 0, NULL, NULL}};

/* Said once a process: a token SmartLead cannot refresh disconnects when it expires. */
static void warn_no_refresh_token(void) {
  static int warned = 0;
  if (warned) return;
  warned = 1;
  fprintf(stderr, "smartlua: warning: the OAuth token has no refresh_token: SmartLead cannot refresh it, "
                  "so the account disconnects when the access token expires\n");
}

static int check_token(lua_State *L, int idx, char *why, size_t whysz) {
  if (!lua_istable(L, idx))
    return snprintf(why, whysz, "must be a table {token_type=, scope=, access_token=, refresh_token=, ...}"), 0;
  char inner[160], hint[120];
  for (const field_t *f = TOKEN_FIELDS; f->name; f++) {
    int t = lua_getfield(L, idx, f->name);
    int ok = t == LUA_TNIL ? !f->required : check_value(L, lua_gettop(L), f, inner, sizeof inner);
    lua_pop(L, 1);
    if (!ok) return snprintf(why, whysz, ".%s %s", f->name, t == LUA_TNIL ? "is required" : inner), 0;
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int alias;
    if (lua_type(L, -1) != LUA_TSTRING || strlen(lua_tostring(L, -1)) != lua_rawlen(L, -1) ||
        !find_field(TOKEN_FIELDS, lua_tostring(L, -1), &alias)) {
      const char *k = lua_type(L, -1) == LUA_TSTRING && echoable(lua_tostring(L, -1), lua_rawlen(L, -1), 64)
                          ? lua_tostring(L, -1) : "(not a name)";
      suggest(TOKEN_FIELDS, k, hint, sizeof hint);
      snprintf(why, whysz, "has an unknown key \"%s\"%s", k, hint);
      lua_pop(L, 1);
      return 0;
    }
  }
  if (lua_getfield(L, idx, "refresh_token") == LUA_TNIL) warn_no_refresh_token();
  lua_pop(L, 1);
  return 1;
}

/* ---------------------------------------------------------------- ids, emails, queries */

int check_id_arg(lua_State *L, int idx, const char *ep, const char *name, lua_Integer *out) {
  if (lua_type(L, idx) != LUA_TNUMBER)
    luaL_error(L, "bad argument #%d to '%s' (%s must be an integer, got %s)", idx - 1, ep, name, luaL_typename(L, idx));
  int isint;
  *out = lua_tointegerx(L, idx, &isint);
  return isint && *out > 0 && *out <= MAX_SAFE_ID;
}

/* The length of the table at arg when it is a list (keys 1..n and nothing else); -1 when it
 * has holes or other keys. Raises when arg is no table. */
static lua_Integer list_length(lua_State *L, int arg) {
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_Integer n = (lua_Integer)lua_rawlen(L, arg), count = 0;
  lua_pushnil(L);
  while (lua_next(L, arg)) count++, lua_pop(L, 1);
  return count == n ? n : -1;
}

/* The list at arg as {key = ids} into the table on top; 1, or 2 with nil, err pushed. */
int validate_ids_into(lua_State *L, int arg, const char *ep, const char *method, const char *path, const char *key, int max) {
  int out = lua_gettop(L);
  if (max <= 0) max = MAX_ID_LIST;
  lua_Integer n = list_length(L, arg);
  /* a table with only named keys is not an empty list: say what is wrong with it */
  if (n < 0) return push_validation_error(L, method, path, key, "%s: %s must be a list {id1, id2, ...}", ep, key);
  if (n == 0) return push_validation_error(L, method, path, key, "%s: %s is empty", ep, key);
  if (n > max)
    return push_validation_error(L, method, path, key, "%s: %s has %lld ids; %s", ep, key, (long long)n,
                                 max == MAX_ID_LIST ? "a campaign holds at most 2500 accounts"
                                                    : lua_pushfstring(L, "at most %d go in one request", max));
  lua_createtable(L, (int)n, 0);
  lua_newtable(L); /* seen ids */
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, arg, i);
    int isint = 0;
    lua_Integer id = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
    const char *note = above_safe_id(L, -1) ? " of at most 2^53 - 1" : ""; /* before the stack grows */
    if (!isint || id <= 0 || id > MAX_SAFE_ID)
      return push_validation_error(L, method, path, key, "%s: %s[%lld] must be a positive integer%s, got %s", ep, key, (long long)i, note,
                                   lua_type(L, -1) == LUA_TNUMBER ? luaL_tolstring(L, -1, NULL) : lua_pushfstring(L, "a %s", luaL_typename(L, -1)));
    if (lua_rawgeti(L, -2, id) != LUA_TNIL)
      return push_validation_error(L, method, path, key, "%s: %s lists %lld twice", ep, key, (long long)id);
    lua_pop(L, 2);
    lua_pushboolean(L, 1);
    lua_rawseti(L, -2, id);
    lua_pushinteger(L, id);
    lua_rawseti(L, -3, i);
  }
  lua_pop(L, 1);
  json_push_array_mt(L);
  lua_setmetatable(L, -2);
  lua_setfield(L, out, key);
  return 1;
}

int validate_id_list(lua_State *L, int arg, const char *ep, const char *method, const char *path) {
  lua_createtable(L, 0, 1);
  return validate_ids_into(L, arg, ep, method, path, "email_account_ids", 0);
}

#define MAX_EMAIL_LIST 1000 /* addresses one lookup may name */

int validate_email_list(lua_State *L, int arg, const char *ep, const char *method, const char *path, const char *key) {
  lua_Integer n = list_length(L, arg);
  if (n < 0) return push_validation_error(L, method, path, key, "%s: %s must be a list {\"a@x.com\", ...}", ep, key);
  if (n == 0) return push_validation_error(L, method, path, key, "%s: %s is empty", ep, key);
  if (n > MAX_EMAIL_LIST)
    return push_validation_error(L, method, path, key, "%s: %s has %lld addresses, at most %d", ep, key, (long long)n, MAX_EMAIL_LIST);
  lua_createtable(L, 0, 1);
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    size_t len = 0;
    const char *s = lua_rawgeti(L, arg, i) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (!s || !valid_email(s, len) || !valid_utf8(s, len))
      return push_validation_error(L, method, path, key, "%s: %s[%lld] %s", ep, key, (long long)i,
                                   s && echoable(s, len, 80) ? lua_pushfstring(L, "\"%s\" is not an email address", s)
                                                             : "must be an email address");
    lua_rawseti(L, -2, i);
  }
  json_push_array_mt(L);
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, key);
  return 1;
}

int validate_email_arg(lua_State *L, int arg, const char *ep, const char *method, const char *path) {
  size_t len;
  const char *s = luaL_checklstring(L, arg, &len);
  if (!valid_email(s, len) || !valid_utf8(s, len))
    return push_validation_error(L, method, path, "email", "%s: \"%s\" is not an email address", ep, echoable(s, len, 80) ? s : "(unprintable)");
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, arg);
  lua_setfield(L, -2, "email");
  return 1;
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Numbers as JSON writes them: integers and integral floats in plain digits (2.0 -> 2, never
 * 1e+15, whose '+' a server reads as a space), others exactly, percent-encoded; NaN and
 * infinity have no form a server would read as a number. */
static int append_query_number(lua_State *L, int idx, buf_t *out, const char *key, char *err, size_t errsz) {
  if (lua_isinteger(L, idx)) {
    buf_printf(out, LUA_INTEGER_FMT, lua_tointeger(L, idx));
    return 1;
  }
  lua_Number n = lua_tonumber(L, idx);
  if (isnan(n) || isinf(n)) return snprintf(err, errsz, "query value \"%s\" must be a finite number", key), 0;
  char tmp[40];
  if (n == floor(n) && fabs(n) < 1e21) snprintf(tmp, sizeof tmp, "%.0f", n == 0 ? 0.0 : n);
  else if (snprintf(tmp, sizeof tmp, "%.15g", n), strtod(tmp, NULL) != n) snprintf(tmp, sizeof tmp, "%.17g", n);
  buf_percent_encode(out, tmp, strlen(tmp));
  return 1;
}

static int append_query_value(lua_State *L, int idx, buf_t *out, const char *key, char *err, size_t errsz) {
  switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: buf_puts(out, lua_toboolean(L, idx) ? "true" : "false"); return 1;
    case LUA_TNUMBER: return append_query_number(L, idx, out, key, err, errsz);
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      if (len > MAX_FIELD_BYTES || memchr(s, 0, len) || !valid_utf8(s, len))
        return snprintf(err, errsz, "query value \"%s\" must be UTF-8 text without NUL, at most %d bytes", key, MAX_FIELD_BYTES), 0;
      if (has_control(s, len)) /* encoded they are harmless to the URL, but no parameter holds them */
        return snprintf(err, errsz, "query value \"%s\" must not contain control characters (line breaks, tabs, escapes)", key), 0;
      buf_percent_encode(out, s, len);
      return 1;
    }
    default:
      return snprintf(err, errsz, "query value \"%s\" must be a string, number or boolean, got %s", key, luaL_typename(L, idx)), 0;
  }
}

int encode_query(lua_State *L, int idx, buf_t *out, char *err, size_t errsz) {
  if (lua_isnoneornil(L, idx)) return 1;
  idx = lua_absindex(L, idx);
  const char *keys[64];
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING || n == 64) {
      lua_pop(L, 1);
      return snprintf(err, errsz, "query parameters must be named (at most 64)"), 0;
    }
    if (strlen(lua_tostring(L, -1)) != lua_rawlen(L, -1)) { /* the C string would lose its tail */
      lua_pop(L, 1);
      return snprintf(err, errsz, "query parameter names must not contain a NUL byte"), 0;
    }
    keys[n++] = lua_tostring(L, -1); /* anchored in the table */
  }
  qsort(keys, n, sizeof *keys, compare_strings); /* stable URLs: same call, same URL */
  for (size_t i = 0; i < n; i++) {
    if (i) buf_putc(out, '&');
    buf_percent_encode(out, keys[i], strlen(keys[i]));
    buf_putc(out, '=');
    lua_getfield(L, idx, keys[i]);
    /* a name travels percent-encoded, whatever its bytes; a message quotes only a printable one */
    const char *shown = echoable(keys[i], strlen(keys[i]), 64) ? keys[i] : "(unprintable name)";
    int ok = append_query_value(L, -1, out, shown, err, errsz);
    lua_pop(L, 1);
    if (!ok) return 0;
  }
  return 1;
}

int validate_free_query(lua_State *L, int idx, buf_t *out, char *err, size_t errsz) {
  if (!lua_istable(L, idx)) return snprintf(err, errsz, "query must be a table"), 0;
  int has_key = 0; /* in any case: API_KEY=... would be a second key, and one no mask looks for */
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING && strcasecmp(lua_tostring(L, -1), "api_key") == 0) has_key = 1;
  }
  if (has_key) return snprintf(err, errsz, "query must not carry api_key: the client adds the key itself"), 0;
  return encode_query(L, idx, out, err, errsz);
}

int check_http_method(const char *m) {
  static const char *const ok[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};
  for (const char *const *p = ok; *p; p++)
    if (strcmp(m, *p) == 0) return 1;
  return 0;
}

/* A path below the base URL: /segment/segment, no query, no dot segments, printable ASCII. */
int check_api_path(lua_State *L, int idx, char *why, size_t whysz) {
  size_t len;
  const char *p = lua_tolstring(L, idx, &len);
  if (len > 2048) return snprintf(why, whysz, "path is longer than 2048 bytes"), 0;
  if (len == 0 || p[0] != '/') return snprintf(why, whysz, "path must start with / (e.g. /email-accounts/42)"), 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c <= ' ' || c >= 0x7F || c == '?' || c == '#' || c == '%' || c == '\\')
      return snprintf(why, whysz, "path may not contain spaces, control bytes, ?, #, %% or \\ (put parameters in opts.query)"), 0;
  }
  if (strstr(p, "/../") || strstr(p, "/./") || (len >= 3 && strcmp(p + len - 3, "/..") == 0) ||
      (len >= 2 && strcmp(p + len - 2, "/.") == 0) || strstr(p, "//"))
    return snprintf(why, whysz, "path may not contain . or .. segments or empty segments"), 0;
  return 1;
}
