/* fuzz_request: what a script hands to the endpoints, built from the fuzz bytes as Lua values
 * (strings, integers, floats, booleans, json.null, nested tables), and the encoders that put
 * such values in a URL. The first byte picks one of four checks:
 *
 *   0  core.validators.<endpoint>(client, ...): validates without sending. Raising is allowed
 *      (misuse); an answer is true, or nil and a validation error whose path is the endpoint's
 *      template with a positive decimal id in place of {id} (never '/', '?', '#', '%' or '..'
 *      from a value) and whose message never shows the API key. What passes holds no string
 *      with a NUL byte or invalid UTF-8, and an id that passes is a positive integer.
 *   1  encode_query / validate_free_query: the text is only unreserved bytes, %XX, '=' and '&';
 *      decoding it gives back the sorted keys and the values; api_key is refused in any case.
 *   2  check_api_path: an accepted path starts with '/', holds printable ASCII without ? # % \,
 *      and has no empty, "." or ".." segment.
 *   3  redact: the key never survives, raw or percent-encoded, and every api_key= is masked. */
#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "harness.h"
#include "json.h"
#include "redact.h"
#include "validate.h"

#define T "fuzz_request"
#define KEY "fuzz-key-0123456789"

typedef struct {
  const uint8_t *p, *end;
} cursor_t;

static unsigned take(cursor_t *c) { return c->p < c->end ? *c->p++ : 0; }

static uint64_t take64(cursor_t *c) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | take(c);
  return v;
}

/* Words that reach past the first checks: field names and aliases, enum values, path pieces. */
static const char *const WORDS[] = {
    "offset", "limit", "isInUse", "is_in_use", "emailWarmupStatus", "warmup_status", "isSmtpSuccess",
    "is_smtp_success", "isWarmupBlocked", "is_warmup_blocked", "esp", "username", "client_id", "fetch_campaigns",
    "fetch_tags", "from_name", "from_email", "user_name", "password", "smtp_host", "smtp_port", "imap_host",
    "imap_port", "warmup_enabled", "type", "imap_user_name", "imap_password", "different_reply_to_address",
    "is_suspended", "id", "max_email_per_day", "custom_tracking_url", "bcc", "signature", "time_to_wait_in_mins",
    "total_warmup_per_day", "daily_rampup", "reply_rate_percentage", "token", "use_whitelabel_credentials",
    "warmup_key_id", "access_token", "refresh_token", "expiry_date", "token_type", "scope", "id_token",
    "message_per_day", "email_account_ids", "GMAIL", "OUTLOOK", "SMTP", "ACTIVE", "INACTIVE", "Bearer",
    "api_key", "API_KEY", "Api_Key", KEY, "smtp.gmail.com", "imap.gmail.com", "[::1]", "ada@analytical-engines.io",
    "a@b.co", "", " ", "/", ".", "..", "%2e%2e", "%2F", "?", "#", "%", "\\", "&", "=", "+", "42", "-1",
    "email-accounts", "campaigns", "{id}", "\xc3\xa9", "\xff", "\xed\xa0\x80", "caf\xc3\xa9", "x\0y"};
#define NWORDS (sizeof WORDS / sizeof *WORDS)

static const lua_Integer SPECIAL_INTS[] = {0, 1, -1, 2, 42, 100, 101, 65535, 65536, 2147483647, 2147483648LL,
                                           2500, 2501, 9007199254740993LL, LUA_MAXINTEGER, LUA_MININTEGER};
static const double SPECIAL_FLOATS[] = {0.5, 42.0, -0.0, 1e15, 1e300, 9223372036854775808.0, 0.1, 100.0};

static void push_word(lua_State *L, cursor_t *c) {
  const char *w = WORDS[take(c) % NWORDS];
  lua_pushlstring(L, w, strcmp(w, "x") == 0 ? 3 : strlen(w)); /* the one "x\0y" entry keeps its NUL */
}

static void push_raw(lua_State *L, cursor_t *c) {
  size_t n = take(c) % 48, left = (size_t)(c->end - c->p);
  if (n > left) n = left;
  lua_pushlstring(L, (const char *)c->p, n);
  c->p += n;
}

static void push_email(lua_State *L, cursor_t *c) {
  push_raw(L, c);
  lua_pushliteral(L, "@");
  push_word(L, c);
  lua_pushliteral(L, ".");
  push_raw(L, c);
  lua_concat(L, 5);
}

static void push_value(lua_State *L, cursor_t *c, int depth);

/* A table with 0..5 entries, keys mostly taken from WORDS (field names). */
static void push_table(lua_State *L, cursor_t *c, int depth) {
  lua_newtable(L);
  int n = (int)(take(c) % 6);
  for (int i = 0; i < n; i++) {
    if (take(c) % 4) push_word(L, c);
    else push_value(L, c, depth);
    push_value(L, c, depth);
    int kt = lua_type(L, -2);
    if (kt == LUA_TNIL || (kt == LUA_TNUMBER && isnan(lua_tonumber(L, -2)))) lua_pop(L, 2);
    else lua_rawset(L, -3);
  }
}

static void push_list(lua_State *L, cursor_t *c, int depth) {
  int n = (int)(take(c) % 8);
  lua_createtable(L, n, 0);
  for (int i = 1; i <= n; i++) {
    if (take(c) % 4) lua_pushinteger(L, (lua_Integer)(take(c) % 8) + 3000);
    else push_value(L, c, depth);
    lua_rawseti(L, -2, i);
  }
  if (take(c) & 1) {
    json_push_array_mt(L);
    lua_setmetatable(L, -2);
  }
}

static void push_value(lua_State *L, cursor_t *c, int depth) {
  luaL_checkstack(L, 8, "fuzz values");
  unsigned tag = take(c) % 16;
  if ((tag == 12 || tag == 13) && depth >= 3) tag = 0;
  switch (tag) {
    case 0: lua_pushnil(L); break;
    case 1: lua_pushboolean(L, take(c) & 1); break;
    case 2: lua_pushinteger(L, (int8_t)take(c)); break;
    case 3: lua_pushinteger(L, SPECIAL_INTS[take(c) % (sizeof SPECIAL_INTS / sizeof *SPECIAL_INTS)]); break;
    case 4: lua_pushinteger(L, (lua_Integer)take64(c)); break;
    case 5: {
      uint64_t u = take64(c);
      double d;
      memcpy(&d, &u, sizeof d);
      lua_pushnumber(L, d);
      break;
    }
    case 6: lua_pushnumber(L, SPECIAL_FLOATS[take(c) % (sizeof SPECIAL_FLOATS / sizeof *SPECIAL_FLOATS)]); break;
    case 7: case 8: push_word(L, c); break;
    case 9: push_raw(L, c); break;
    case 10: push_email(L, c); break;
    case 11: lua_pushlightuserdata(L, (void *)&json_null_sentinel); break;
    case 12: push_table(L, c, depth + 1); break;
    case 13: push_list(L, c, depth + 1); break;
    case 14: /* a known word with bytes after it, e.g. "GMAIL\0" */
      push_word(L, c);
      push_raw(L, c);
      lua_concat(L, 2);
      break;
    default: lua_pushnumber(L, (double)(int8_t)take(c) / 4.0); break;
  }
}

/* ---------------------------------------------------------------- 0: endpoint validators */

typedef struct {
  char name[64];
  char path[96];
  char args[64];
  int fields;
} endpoint_info_t;

static lua_State *L;
static int validators_ref, client_ref;
static endpoint_info_t eps[32];
static int n_eps;

static int clean_string(const char *s, size_t len) { return !memchr(s, 0, len) && valid_utf8(s, len); }

/* Strings in what a validator accepted, keys included, one table level down (tokens). */
static void check_accepted(lua_State *L, int idx, int depth, const char *ep) {
  if (lua_type(L, idx) == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (!clean_string(s, len)) fuzz_bug(T, "%s accepted a string with a NUL byte or invalid UTF-8", ep);
    return;
  }
  if (lua_type(L, idx) != LUA_TTABLE || depth > 1) return;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    check_accepted(L, lua_absindex(L, -2), depth + 1, ep);
    check_accepted(L, lua_absindex(L, -1), depth + 1, ep);
    lua_pop(L, 1);
  }
}

/* The template with {id} as is or as a positive decimal id, and nothing a value could add. */
static void check_error_path(const endpoint_info_t *ep, const char *path) {
  const char *slot = strstr(ep->path, "{id}");
  size_t plen = strlen(path);
  if (strpbrk(path, "?#% \\") || strstr(path, "..")) fuzz_bug(T, "%s: error path \"%s\"", ep->name, path);
  if (!slot) {
    if (strcmp(path, ep->path) != 0) fuzz_bug(T, "%s: error path \"%s\" is not \"%s\"", ep->name, path, ep->path);
    return;
  }
  size_t pre = (size_t)(slot - ep->path), post = strlen(slot + 4);
  if (plen < pre + post + 1 || memcmp(path, ep->path, pre) != 0 || strcmp(path + plen - post, slot + 4) != 0)
    fuzz_bug(T, "%s: error path \"%s\" does not follow \"%s\"", ep->name, path, ep->path);
  const char *id = path + pre;
  size_t idlen = plen - pre - post;
  if (idlen == 4 && memcmp(id, "{id}", 4) == 0) return;
  for (size_t i = 0; i < idlen; i++)
    if (id[i] < '0' || id[i] > '9' || (i == 0 && id[i] == '0'))
      fuzz_bug(T, "%s: error path \"%s\" holds a bad id", ep->name, path);
}

static void check_error(const endpoint_info_t *ep, int err) {
  if (lua_type(L, err) != LUA_TTABLE) fuzz_bug(T, "%s: nil and a %s, not an error table", ep->name, luaL_typename(L, err));
  lua_getfield(L, err, "kind");
  lua_getfield(L, err, "message");
  lua_getfield(L, err, "path");
  if (!lua_isstring(L, -3) || strcmp(lua_tostring(L, -3), "validation") != 0)
    fuzz_bug(T, "%s: an error of kind %s", ep->name, lua_tostring(L, -3));
  if (lua_type(L, -2) != LUA_TSTRING || strstr(lua_tostring(L, -2), KEY))
    fuzz_bug(T, "%s: the message is missing or shows the key: %s", ep->name, lua_tostring(L, -2));
  if (lua_type(L, -1) != LUA_TSTRING) fuzz_bug(T, "%s: an error without a path", ep->name);
  check_error_path(ep, lua_tostring(L, -1));
  lua_pop(L, 3);
}

static int has_id(const endpoint_info_t *ep) { return strstr(ep->path, "{id}") != NULL; }

/* Endpoints without fields, ids or an address ignore what follows their id. */
static int takes_payload(const endpoint_info_t *ep) {
  return ep->fields || strstr(ep->args, "ids") || strstr(ep->args, "email");
}

static void push_payload(const endpoint_info_t *ep, cursor_t *c) {
  unsigned how = take(c) % 8;
  if (how == 0) push_value(L, c, 0);
  else if (ep->fields) push_table(L, c, 1);
  else if (strstr(ep->args, "ids")) push_list(L, c, 1);
  else if (strstr(ep->args, "email")) push_email(L, c);
  else push_value(L, c, 0);
}

static void fuzz_validator(cursor_t *c) {
  const endpoint_info_t *ep = &eps[take(c) % (unsigned)n_eps];
  int base = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, validators_ref);
  lua_getfield(L, -1, ep->name);
  lua_remove(L, -2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, client_ref);
  int nargs = 1, id_arg = 0;
  if (has_id(ep)) {
    if (take(c) % 4) lua_pushinteger(L, SPECIAL_INTS[take(c) % (sizeof SPECIAL_INTS / sizeof *SPECIAL_INTS)]);
    else push_value(L, c, 0);
    nargs++, id_arg = lua_gettop(L);
  }
  if (take(c) % 8) push_payload(ep, c), nargs++;
  int payload = nargs > (id_arg ? 2 : 1) ? lua_gettop(L) : 0;
  /* the call consumes what it is given: it gets copies, the originals stay to be looked at */
  luaL_checkstack(L, nargs + 4, "fuzz arguments");
  for (int i = 0; i <= nargs; i++) lua_pushvalue(L, base + 1 + i);
  if (lua_pcall(L, nargs, 2, 0) != LUA_OK) {
    lua_settop(L, base);
    return;
  }
  int r1 = lua_gettop(L) - 1, r2 = lua_gettop(L);
  if (lua_toboolean(L, r1)) {
    if (id_arg) {
      int isint = 0;
      lua_Integer id = lua_type(L, id_arg) == LUA_TNUMBER ? lua_tointegerx(L, id_arg, &isint) : 0;
      if (!isint || id <= 0) fuzz_bug(T, "%s accepted the id %s", ep->name, luaL_tolstring(L, id_arg, NULL));
    }
    if (payload && takes_payload(ep)) check_accepted(L, payload, 0, ep->name);
  } else {
    check_error(ep, r2);
  }
  lua_settop(L, base);
}

/* ---------------------------------------------------------------- 1: query strings */

/* Upper case only, as the encoder writes (lower too when lower is set). */
static int hexval(char ch, int lower) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  if (lower && ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

/* Percent-decodes s[0..n) onto the Lua stack; raises a finding on a malformed escape. */
static void push_decoded(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '%') {
      if (i + 2 >= n) fuzz_bug(T, "a truncated %% escape in a query");
      int hi = hexval(s[i + 1], 0), lo = hexval(s[i + 2], 0);
      if (hi < 0 || lo < 0) fuzz_bug(T, "a bad %% escape in a query");
      luaL_addchar(&b, (char)(hi << 4 | lo));
      i += 2;
    } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
               ch == '.' || ch == '_' || ch == '~') {
      luaL_addchar(&b, (char)ch);
    } else {
      fuzz_bug(T, "the byte 0x%02x is in a query without escaping", ch);
    }
  }
  luaL_pushresult(&b);
}

/* The text a query value should have, as the encoder is documented to write it. */
static int expected_query_value(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false"); return 1;
    case LUA_TSTRING: lua_pushvalue(L, idx); return 1;
    case LUA_TNUMBER: return 0; /* numbers: only their form is checked (digits, sign, dot, e) */
    default: fuzz_bug(T, "a %s value was put in a query", luaL_typename(L, idx));
  }
}

static int compare_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* check_query(t, free): runs the encoder on t and checks its text against t. */
static int l_check_query(lua_State *L) {
  int free_form = lua_toboolean(L, 2);
  buf_t out;
  buf_init(&out);
  char err[384];
  err[0] = '\0';
  int ok = free_form ? validate_free_query(L, 1, &out, err, sizeof err) : encode_query(L, 1, &out, err, sizeof err);
  int has_api_key = 0, has_nul = 0, n = 0;
  const char *keys[80];
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      if (strcasecmp(lua_tostring(L, -1), "api_key") == 0) has_api_key = 1;
      if (strlen(lua_tostring(L, -1)) != lua_rawlen(L, -1)) has_nul = 1;
      if (n < 80) keys[n++] = lua_tostring(L, -1); /* anchored in the table */
    }
  }
  if (free_form && has_api_key && ok) fuzz_bug(T, "a free query carried api_key: %s", out.data);
  if (has_nul && ok) fuzz_bug(T, "a query key with a NUL byte went out (cut short): %s", out.data);
  if (!ok) {
    if (!err[0]) fuzz_bug(T, "a refused query without a message");
    buf_free(&out);
    return 0;
  }
  qsort(keys, (size_t)n, sizeof *keys, compare_cstr);
  const char *p = out.data ? out.data : "", *end = p + out.len;
  for (int i = 0; i < n; i++) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    if (!eq) fuzz_bug(T, "a query pair without '=': %s", out.data);
    push_decoded(L, p, (size_t)(eq - p));
    size_t klen;
    const char *k = lua_tolstring(L, -1, &klen);
    if (klen != strlen(keys[i]) || memcmp(k, keys[i], klen) != 0 || lua_rawlen(L, -1) != klen)
      fuzz_bug(T, "query key %d is not the sorted key \"%s\": %s", i + 1, keys[i], out.data);
    lua_getfield(L, 1, keys[i]);
    int v = lua_gettop(L);
    push_decoded(L, eq + 1, (size_t)(stop - eq - 1));
    if (expected_query_value(L, v)) {
      if (!lua_rawequal(L, -1, -2)) fuzz_bug(T, "query value of \"%s\" is not what was given: %s", keys[i], out.data);
    } else {
      const char *s = lua_tostring(L, -1);
      if (strspn(s, "0123456789-+.e") != strlen(s) || !*s)
        fuzz_bug(T, "number %s went out as \"%s\"", lua_tostring(L, v), s);
    }
    lua_settop(L, 2);
    p = amp ? amp + 1 : end;
    if (i + 1 < n && !amp) fuzz_bug(T, "a query with fewer pairs than keys: %s", out.data);
    if (i + 1 == n && amp) fuzz_bug(T, "a query with more pairs than keys: %s", out.data);
  }
  if (n == 0 && out.len) fuzz_bug(T, "an empty table gave the query %s", out.data);
  buf_free(&out);
  return 0;
}

static void fuzz_query(cursor_t *c) {
  int base = lua_gettop(L);
  lua_pushcfunction(L, l_check_query);
  push_table(L, c, 2);
  lua_pushboolean(L, take(c) & 1);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg && fuzz_is_runtime_error(msg)) fuzz_bug(T, "%s", msg);
  }
  lua_settop(L, base);
}

/* ---------------------------------------------------------------- 2: API paths */

static void fuzz_path(cursor_t *c) {
  int base = lua_gettop(L);
  int parts = (int)(take(c) % 6) + 1;
  for (int i = 0; i < parts; i++) {
    if (take(c) % 3) push_word(L, c);
    else push_raw(L, c);
    if (take(c) % 2) lua_pushliteral(L, "/"), lua_concat(L, 2);
  }
  if (take(c) % 4) lua_pushliteral(L, "/"), lua_insert(L, base + 1), parts++;
  lua_concat(L, parts);
  char why[160];
  why[0] = '\0';
  size_t len;
  const char *p = lua_tolstring(L, -1, &len);
  if (!check_api_path(L, -1, why, sizeof why)) {
    if (!why[0]) fuzz_bug(T, "a refused path without a reason");
    lua_settop(L, base);
    return;
  }
  if (len == 0 || p[0] != '/') fuzz_bug(T, "accepted the path \"%s\"", p);
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (ch <= ' ' || ch >= 0x7F || ch == '?' || ch == '#' || ch == '%' || ch == '\\')
      fuzz_bug(T, "accepted the path \"%s\" (byte 0x%02x)", p, ch);
  }
  const char *seg = p + 1;
  while (seg <= p + len) {
    const char *slash = memchr(seg, '/', (size_t)(p + len - seg));
    size_t n = slash ? (size_t)(slash - seg) : (size_t)(p + len - seg);
    int last = slash == NULL;
    if ((n == 0 && !last) || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
      fuzz_bug(T, "accepted the path \"%s\" (an empty, . or .. segment)", p);
    if (last) break;
    seg = slash + 1;
  }
  lua_settop(L, base);
}

/* ---------------------------------------------------------------- 3: masking */

static void fuzz_mask(cursor_t *c) {
  static const char ALNUM[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  char key[41];
  size_t klen = 4 + take(c) % 37;
  for (size_t i = 0; i < klen; i++) key[i] = ALNUM[take(c) % (sizeof ALNUM - 1)];
  key[klen] = '\0';
  buf_t text, out;
  buf_init(&text);
  buf_init(&out);
  while (c->p < c->end) { /* raw bytes, with the key put in raw, encoded or half encoded */
    unsigned op = take(c);
    if (op % 4 == 0) {
      for (size_t i = 0; i < klen; i++) {
        if ((op >> 2) & (1u << (i % 6))) buf_printf(&text, (op & 0x80) ? "%%%02x" : "%%%02X", (unsigned char)key[i]);
        else buf_putc(&text, key[i]);
      }
    } else if (op % 4 == 1) {
      buf_puts(&text, (op & 4) ? "api_key=" : "API_KEY=");
    } else {
      size_t n = op % 16, left = (size_t)(c->end - c->p);
      if (n > left) n = left;
      buf_append(&text, (const char *)c->p, n);
      c->p += n;
    }
  }
  redact(&out, text.data ? text.data : "", text.len, key);
  const char *o = out.data ? out.data : "";
  if (memmem(o, out.len, key, klen)) fuzz_bug(T, "the key %s survived masking", key);
  /* percent-decoded once, the text must not show the key either */
  buf_t dec;
  buf_init(&dec);
  for (size_t i = 0; i < out.len; i++) {
    int hi = i + 2 < out.len && o[i] == '%' ? hexval(o[i + 1], 1) : -1, lo = hi >= 0 ? hexval(o[i + 2], 1) : -1;
    if (lo >= 0) {
      buf_putc(&dec, (char)(hi << 4 | lo));
      i += 2;
    } else {
      buf_putc(&dec, o[i]);
    }
  }
  if (memmem(dec.data ? dec.data : "", dec.len, key, klen)) fuzz_bug(T, "the key %s survived masking, percent-encoded", key);
  for (size_t i = 0; i + 8 <= out.len; i++) { /* NUL bytes included: no str* search here */
    if (strncasecmp(o + i, "api_key=", 8) != 0) continue;
    const char *v = o + i + 8;
    if (v < o + out.len && strncmp(v, REDACTED, strlen(REDACTED)) != 0 && !strchr("&#\"'),;<> \t\r\n\v\f", *v))
      fuzz_bug(T, "an api_key= value survived masking: %.40s", o + i);
  }
  buf_free(&dec);
  buf_free(&text);
  buf_free(&out);
}

/* ---------------------------------------------------------------- libFuzzer */

static int l_setup(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "smartlead.core");
  lua_call(L, 1, 1);
  int core = lua_gettop(L);
  lua_getfield(L, core, "validators");
  validators_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, core, "new_client");
  lua_createtable(L, 0, 2);
  lua_pushliteral(L, KEY);
  lua_setfield(L, -2, "api_key");
  lua_pushliteral(L, "http://127.0.0.1:9");
  lua_setfield(L, -2, "base_url");
  lua_call(L, 1, 1);
  client_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, core, "endpoints");
  lua_call(L, 0, 1);
  for (lua_Integer i = 1; n_eps < 32 && lua_rawgeti(L, -1, i) == LUA_TTABLE; i++) {
    endpoint_info_t *e = &eps[n_eps++];
    lua_getfield(L, -1, "name");
    lua_getfield(L, -2, "path");
    lua_getfield(L, -3, "args");
    lua_getfield(L, -4, "fields");
    snprintf(e->name, sizeof e->name, "%s", lua_tostring(L, -4));
    snprintf(e->path, sizeof e->path, "%s", lua_tostring(L, -3));
    snprintf(e->args, sizeof e->args, "%s", lua_tostring(L, -2));
    e->fields = lua_istable(L, -1);
    lua_pop(L, 5);
  }
  return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  L = fuzz_lua_new(T, 0);
  lua_pushcfunction(L, l_setup);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) fuzz_bug(T, "setup: %s", lua_tostring(L, -1));
  if (n_eps == 0) fuzz_bug(T, "no endpoints");
  return 0;
}

/* One input, protected: building values may raise (memory), which is not a finding. */
static int run_one(lua_State *L) {
  cursor_t *c = lua_touserdata(L, 1);
  switch (take(c) % 4) {
    case 0: fuzz_validator(c); break;
    case 1: fuzz_query(c); break;
    case 2: fuzz_path(c); break;
    default: fuzz_mask(c); break;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cursor_t c = {data, data + size};
  lua_pushcfunction(L, run_one);
  lua_pushlightuserdata(L, &c);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg && fuzz_is_runtime_error(msg)) fuzz_bug(T, "%s", msg);
  }
  lua_settop(L, 0);
  fuzz_lua_tick(L);
  return 0;
}
