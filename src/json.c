#include "json.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char json_null_sentinel = 0;

/* ---------------------------------------------------------------- decoding */

typedef struct {
  lua_State *L;
  const char *s, *p, *end;
  int depth;
  char *err;
  size_t errsz;
} decoder_t;

static int fail(decoder_t *d, const char *what) {
  snprintf(d->err, d->errsz, "invalid JSON at byte %ld: %s", (long)(d->p - d->s) + 1, what);
  return 0;
}

static void skip_space(decoder_t *d) {
  while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r'))
    d->p++;
}

static int decode_value(decoder_t *d);

static int match_word(decoder_t *d, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0) return fail(d, "unexpected word");
  d->p += n;
  return 1;
}

static int hex4(decoder_t *d, unsigned *out) {
  if (d->end - d->p < 4) return fail(d, "short \\u escape");
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = d->p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return fail(d, "bad \\u escape");
  }
  d->p += 4;
  *out = v;
  return 1;
}

static void put_utf8(luaL_Buffer *b, unsigned cp) {
  if (cp < 0x80) {
    luaL_addchar(b, (char)cp);
  } else if (cp < 0x800) {
    luaL_addchar(b, (char)(0xC0 | (cp >> 6)));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    luaL_addchar(b, (char)(0xE0 | (cp >> 12)));
    luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
  } else {
    luaL_addchar(b, (char)(0xF0 | (cp >> 18)));
    luaL_addchar(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
    luaL_addchar(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
  }
}

/* \uD83D\uDE00 pairs become one code point; a lone surrogate becomes U+FFFD. */
static int decode_unicode_escape(decoder_t *d, luaL_Buffer *b) {
  unsigned cp;
  if (!hex4(d, &cp)) return 0;
  if (cp >= 0xD800 && cp <= 0xDBFF && d->end - d->p >= 6 && d->p[0] == '\\' && d->p[1] == 'u') {
    const char *save = d->p;
    unsigned lo;
    d->p += 2;
    if (!hex4(d, &lo)) return 0;
    if (lo >= 0xDC00 && lo <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    else d->p = save, cp = 0xFFFD;
  } else if (cp >= 0xD800 && cp <= 0xDFFF) {
    cp = 0xFFFD;
  }
  put_utf8(b, cp);
  return 1;
}

static int decode_escape(decoder_t *d, luaL_Buffer *b) {
  if (d->p >= d->end) return fail(d, "unterminated string");
  char c = *d->p++;
  switch (c) {
    case '"': case '\\': case '/': luaL_addchar(b, c); return 1;
    case 'b': luaL_addchar(b, '\b'); return 1;
    case 'f': luaL_addchar(b, '\f'); return 1;
    case 'n': luaL_addchar(b, '\n'); return 1;
    case 'r': luaL_addchar(b, '\r'); return 1;
    case 't': luaL_addchar(b, '\t'); return 1;
    case 'u': return decode_unicode_escape(d, b);
    default: d->p--; return fail(d, "bad escape");
  }
}

static size_t utf8_len(const unsigned char *p, const unsigned char *end);

/* Plain bytes up to the next quote, backslash, control or invalid UTF-8 byte. */
static void scan_plain(decoder_t *d) {
  while (d->p < d->end) {
    unsigned char c = (unsigned char)*d->p;
    if (c == '"' || c == '\\' || c < 0x20) return;
    size_t n = c < 0x80 ? 1 : utf8_len((const unsigned char *)d->p, (const unsigned char *)d->end);
    if (n == 0) return;
    d->p += n;
  }
}

/* The luaL_Buffer stays balanced: nothing else is pushed while it is open. A byte that is not
 * part of valid UTF-8 becomes U+FFFD, as a lone surrogate does: every decoded string is UTF-8,
 * so whatever was decoded can be encoded again (into a journal, a plan, a request). */
static int decode_string(decoder_t *d) {
  luaL_Buffer b;
  d->p++; /* opening quote */
  luaL_buffinit(d->L, &b);
  while (d->p < d->end) {
    const char *run = d->p;
    scan_plain(d);
    luaL_addlstring(&b, run, (size_t)(d->p - run));
    if (d->p >= d->end) break;
    if ((unsigned char)*d->p >= 0x80) {
      luaL_addstring(&b, "\xEF\xBF\xBD");
      d->p++;
      continue;
    }
    if (*d->p == '"') {
      d->p++;
      luaL_pushresult(&b);
      return 1;
    }
    if ((unsigned char)*d->p < 0x20) {
      luaL_pushresult(&b);
      lua_pop(d->L, 1);
      return fail(d, "control character in string");
    }
    d->p++; /* backslash */
    if (!decode_escape(d, &b)) {
      luaL_pushresult(&b);
      lua_pop(d->L, 1);
      return 0;
    }
  }
  luaL_pushresult(&b);
  lua_pop(d->L, 1);
  return fail(d, "unterminated string");
}

static int scan_digits(decoder_t *d) {
  const char *start = d->p;
  while (d->p < d->end && *d->p >= '0' && *d->p <= '9') d->p++;
  return d->p > start;
}

/* Strict JSON number grammar, then Lua's own conversion: "42" is an integer, "42.0" a float. */
static int decode_number(decoder_t *d) {
  const char *start = d->p;
  if (*d->p == '-') d->p++;
  if (d->p < d->end && *d->p == '0') d->p++;
  else if (!scan_digits(d)) return fail(d, "bad number");
  if (d->p < d->end && *d->p == '.') {
    d->p++;
    if (!scan_digits(d)) return fail(d, "bad fraction");
  }
  if (d->p < d->end && (*d->p == 'e' || *d->p == 'E')) {
    d->p++;
    if (d->p < d->end && (*d->p == '+' || *d->p == '-')) d->p++;
    if (!scan_digits(d)) return fail(d, "bad exponent");
  }
  char tmp[64];
  size_t n = (size_t)(d->p - start);
  if (n >= sizeof tmp) return fail(d, "number too long");
  memcpy(tmp, start, n);
  tmp[n] = '\0';
  if (lua_stringtonumber(d->L, tmp) == 0) return fail(d, "bad number");
  if (!lua_isinteger(d->L, -1) && isinf(lua_tonumber(d->L, -1))) { /* 1e400: no encoding holds it */
    lua_pop(d->L, 1);
    d->p = start;
    return fail(d, "number out of range");
  }
  return 1;
}

static int enter(decoder_t *d) {
  if (++d->depth > JSON_MAX_DEPTH) return fail(d, "nested too deeply");
  luaL_checkstack(d->L, 4, "JSON nesting");
  return 1;
}

static int decode_array(decoder_t *d) {
  if (!enter(d)) return 0;
  d->p++;
  lua_newtable(d->L);
  json_push_array_mt(d->L);
  lua_setmetatable(d->L, -2);
  skip_space(d);
  if (d->p < d->end && *d->p == ']') {
    d->p++;
    d->depth--;
    return 1;
  }
  for (lua_Integer i = 1;; i++) {
    if (!decode_value(d)) goto failed;
    lua_rawseti(d->L, -2, i);
    skip_space(d);
    if (d->p < d->end && *d->p == ',') { d->p++; continue; }
    if (d->p < d->end && *d->p == ']') { d->p++; d->depth--; return 1; }
    fail(d, "expected ',' or ']'");
    goto failed;
  }
failed:
  lua_pop(d->L, 1);
  return 0;
}

static int decode_member(decoder_t *d) {
  skip_space(d);
  if (d->p >= d->end || *d->p != '"') return fail(d, "expected a string key");
  if (!decode_string(d)) return 0;
  skip_space(d);
  if (d->p >= d->end || *d->p != ':') {
    lua_pop(d->L, 1);
    return fail(d, "expected ':'");
  }
  d->p++;
  if (!decode_value(d)) {
    lua_pop(d->L, 1);
    return 0;
  }
  lua_rawset(d->L, -3);
  return 1;
}

static int decode_object(decoder_t *d) {
  if (!enter(d)) return 0;
  d->p++;
  lua_newtable(d->L);
  skip_space(d);
  if (d->p < d->end && *d->p == '}') {
    d->p++;
    d->depth--;
    return 1;
  }
  for (;;) {
    if (!decode_member(d)) break;
    skip_space(d);
    if (d->p < d->end && *d->p == ',') { d->p++; continue; }
    if (d->p < d->end && *d->p == '}') { d->p++; d->depth--; return 1; }
    fail(d, "expected ',' or '}'");
    break;
  }
  lua_pop(d->L, 1);
  return 0;
}

static int decode_value(decoder_t *d) {
  skip_space(d);
  if (d->p >= d->end) return fail(d, "unexpected end");
  switch (*d->p) {
    case '{': return decode_object(d);
    case '[': return decode_array(d);
    case '"': return decode_string(d);
    case 't': if (!match_word(d, "true")) return 0; lua_pushboolean(d->L, 1); return 1;
    case 'f': if (!match_word(d, "false")) return 0; lua_pushboolean(d->L, 0); return 1;
    case 'n':
      if (!match_word(d, "null")) return 0;
      lua_pushlightuserdata(d->L, (void *)&json_null_sentinel);
      return 1;
    default:
      if (*d->p == '-' || (*d->p >= '0' && *d->p <= '9')) return decode_number(d);
      return fail(d, "unexpected character");
  }
}

int json_decode(lua_State *L, const char *s, size_t len, char *err, size_t errsz) {
  decoder_t d = {L, s, s, s + len, 0, err, errsz};
  if (!decode_value(&d)) return 0;
  skip_space(&d);
  if (d.p != d.end) {
    lua_pop(L, 1);
    return fail(&d, "trailing characters");
  }
  return 1;
}

/* ---------------------------------------------------------------- encoding */

typedef struct {
  lua_State *L;
  buf_t *out;
  const void *seen[JSON_MAX_DEPTH]; /* tables on the current path, to catch cycles */
  int depth;
  char *err;
  size_t errsz;
  char where[256]; /* path of the value being encoded, for messages */
} encoder_t;

static int efail(encoder_t *e, const char *what) {
  snprintf(e->err, e->errsz, "cannot encode %s%s%s", what, e->where[0] ? " at " : "", e->where);
  return 0;
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned char c = p[0];
  size_t n;
  unsigned cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07;
  else return 0;
  if ((size_t)(end - p) < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
    return 0;
  return n;
}

static int encode_string(encoder_t *e, const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  buf_putc(e->out, '"');
  while (p < end) {
    unsigned char c = *p;
    if (c == '"' || c == '\\') {
      buf_putc(e->out, '\\');
      buf_putc(e->out, (char)c);
      p++;
    } else if (c < 0x20) {
      static const char *named[] = {[8] = "\\b", [9] = "\\t", [10] = "\\n", [12] = "\\f", [13] = "\\r"};
      if (c < 14 && named[c]) buf_puts(e->out, named[c]);
      else buf_printf(e->out, "\\u%04x", c);
      p++;
    } else {
      size_t n = utf8_len(p, end);
      if (n == 0) return efail(e, "a string that is not valid UTF-8");
      buf_append(e->out, (const char *)p, n);
      p += n;
    }
  }
  buf_putc(e->out, '"');
  return 1;
}

static int encode_number(encoder_t *e, int idx) {
  lua_State *L = e->L;
  if (lua_isinteger(L, idx)) {
    buf_printf(e->out, LUA_INTEGER_FMT, lua_tointeger(L, idx));
    return 1;
  }
  lua_Number n = lua_tonumber(L, idx);
  if (isnan(n) || isinf(n)) return efail(e, "NaN or infinity");
  /* 42.0 goes out as 42: servers that want integers get them, whatever produced the value;
   * integral values up to 10^21 (2^60 from `2^60`, a 20-digit id read as a float) too, in
   * plain digits, never 1e+18. -0.0 goes out as 0. */
  if (n == floor(n) && fabs(n) < 1e21) {
    buf_printf(e->out, "%.0f", n == 0 ? 0.0 : n);
    return 1;
  }
  char tmp[40];
  snprintf(tmp, sizeof tmp, "%.15g", n);
  if (strtod(tmp, NULL) != n) snprintf(tmp, sizeof tmp, "%.17g", n);
  buf_puts(e->out, tmp);
  return 1;
}

static int encode_value(encoder_t *e, int idx);

static void where_push(encoder_t *e, size_t *saved, const char *fmt, const char *key, lua_Integer i) {
  *saved = strlen(e->where);
  size_t room = sizeof e->where - *saved;
  if (key) snprintf(e->where + *saved, room, fmt, key);
  else snprintf(e->where + *saved, room, fmt, (long long)i);
}

static int is_array_table(encoder_t *e, int idx, lua_Integer *len) {
  lua_State *L = e->L;
  if (lua_getmetatable(L, idx)) {
    json_push_array_mt(L);
    int marked = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (marked) {
      *len = (lua_Integer)lua_rawlen(L, idx);
      return 1;
    }
  }
  lua_Integer count = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
      lua_pop(L, 1);
      return 0;
    }
    lua_Integer k = lua_tointeger(L, -1);
    if (k > max) max = k;
    count++;
  }
  *len = count;
  return count > 0 && max == count;
}

static int encode_array(encoder_t *e, int idx, lua_Integer len) {
  buf_putc(e->out, '[');
  for (lua_Integer i = 1; i <= len; i++) {
    if (i > 1) buf_putc(e->out, ',');
    size_t saved;
    where_push(e, &saved, "[%lld]", NULL, i);
    lua_rawgeti(e->L, idx, i);
    int ok = encode_value(e, lua_gettop(e->L));
    lua_pop(e->L, 1);
    if (!ok) return 0;
    e->where[saved] = '\0';
  }
  buf_putc(e->out, ']');
  return 1;
}

typedef struct {
  const char *s;
  size_t len;
} sort_key_t;

/* Byte order, embedded NULs included: "a\0b" and "a" are different keys. */
static int compare_keys(const void *a, const void *b) {
  const sort_key_t *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Collects the string keys of the table at idx into a sorted array on top of the stack. */
static int sorted_keys(encoder_t *e, int idx, lua_Integer *count) {
  lua_State *L = e->L;
  lua_newtable(L);
  int keys = lua_gettop(L);
  lua_Integer n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 2);
      return efail(e, "a table that mixes array items and string keys (or has non-string keys)");
    }
    lua_pushvalue(L, -1);
    lua_rawseti(L, keys, ++n);
  }
  sort_key_t *names = lua_newuserdatauv(L, sizeof(sort_key_t) * (size_t)(n ? n : 1), 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, keys, i);
    names[i - 1].s = lua_tolstring(L, -1, &names[i - 1].len); /* anchored in `keys` */
    lua_pop(L, 1);
  }
  qsort(names, (size_t)n, sizeof *names, compare_keys);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_pushlstring(L, names[i - 1].s, names[i - 1].len);
    lua_rawseti(L, keys, i);
  }
  lua_pop(L, 1);
  *count = n;
  return 1;
}

static int encode_object(encoder_t *e, int idx) {
  lua_State *L = e->L;
  lua_Integer n;
  if (!sorted_keys(e, idx, &n)) return 0;
  int keys = lua_gettop(L);
  buf_putc(e->out, '{');
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, keys, i);
    size_t klen;
    const char *k = lua_tolstring(L, -1, &klen);
    if (i > 1) buf_putc(e->out, ',');
    size_t saved;
    where_push(e, &saved, e->where[0] ? ".%s" : "%s", k, 0);
    int ok = encode_string(e, k, klen);
    buf_putc(e->out, ':');
    lua_rawget(L, idx);
    ok = ok && encode_value(e, lua_gettop(L));
    lua_pop(L, 1);
    if (!ok) return 0;
    e->where[saved] = '\0';
  }
  lua_pop(L, 1);
  buf_putc(e->out, '}');
  return 1;
}

static int encode_table(encoder_t *e, int idx) {
  const void *self = lua_topointer(e->L, idx);
  for (int i = 0; i < e->depth; i++)
    if (e->seen[i] == self) return efail(e, "a table that contains itself");
  if (e->depth >= JSON_MAX_DEPTH) return efail(e, "tables nested more than 100 deep");
  luaL_checkstack(e->L, 8, "JSON nesting");
  e->seen[e->depth++] = self;
  lua_Integer len;
  int ok = is_array_table(e, idx, &len) ? encode_array(e, idx, len) : encode_object(e, idx);
  e->depth--;
  return ok;
}

static int encode_value(encoder_t *e, int idx) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: buf_puts(e->out, "null"); return 1;
    case LUA_TBOOLEAN: buf_puts(e->out, lua_toboolean(L, idx) ? "true" : "false"); return 1;
    case LUA_TNUMBER: return encode_number(e, idx);
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      return encode_string(e, s, len);
    }
    case LUA_TTABLE: return encode_table(e, idx);
    case LUA_TLIGHTUSERDATA:
      if (json_is_null(L, idx)) {
        buf_puts(e->out, "null");
        return 1;
      }
      /* fall through */
    default: {
      char what[64];
      snprintf(what, sizeof what, "a %s value", luaL_typename(L, idx));
      return efail(e, what);
    }
  }
}

int json_encode(lua_State *L, int idx, buf_t *out, char *err, size_t errsz) {
  encoder_t e;
  memset(&e, 0, sizeof e);
  e.L = L;
  e.out = out;
  e.err = err;
  e.errsz = errsz;
  int top = lua_gettop(L);
  int ok = encode_value(&e, lua_absindex(L, idx));
  lua_settop(L, top);
  if (ok && out->failed) {
    snprintf(err, errsz, "cannot encode: out of memory");
    return 0;
  }
  return ok;
}

/* ---------------------------------------------------------------- Lua API */

void json_push_array_mt(lua_State *L) {
  if (luaL_newmetatable(L, JSON_ARRAY_MT)) {
    lua_pushliteral(L, "json.array");
    lua_setfield(L, -2, "__name");
  }
}

int json_is_null(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == (void *)&json_null_sentinel;
}

/* json.decode(text) -> value | nil, err */
static int l_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  char err[128];
  if (json_decode(L, s, len, err, sizeof err)) return 1;
  luaL_pushfail(L);
  lua_pushstring(L, err);
  return 2;
}

/* json.encode(value) -> text (raises when the value cannot be encoded) */
static int l_encode(lua_State *L) {
  luaL_checkany(L, 1);
  buf_t out;
  buf_init(&out);
  char err[384];
  int ok = json_encode(L, 1, &out, err, sizeof err);
  if (ok) lua_pushlstring(L, out.data ? out.data : "", out.len);
  buf_free(&out);
  if (!ok) return luaL_error(L, "%s", err);
  return 1;
}

/* json.array(t) -> t, marked so that it encodes as an array even when empty */
static int l_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  json_push_array_mt(L);
  lua_setmetatable(L, 1);
  return 1;
}

/* json.is_array(v) -> boolean */
static int l_is_array(lua_State *L) {
  int yes = 0;
  if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
    json_push_array_mt(L);
    yes = lua_rawequal(L, -1, -2);
  }
  lua_pushboolean(L, yes);
  return 1;
}

void json_register(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"decode", l_decode}, {"encode", l_encode}, {"array", l_array}, {"is_array", l_is_array}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  lua_pushlightuserdata(L, (void *)&json_null_sentinel);
  lua_setfield(L, -2, "null");
  json_push_array_mt(L);
  lua_setfield(L, -2, "array_mt");
}
