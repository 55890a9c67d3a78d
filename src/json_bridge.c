/* The JSON bridge: Debian's lua-cjson 2.1.0 does the parsing, the tables and the string escapes;
 * this layer keeps what cjson gets wrong for this project out of the results.
 *
 * Decoding: a pre-pass (the lexer below) reads the text once, refuses what strict JSON refuses
 * and cjson would take (invalid UTF-8, lone surrogates, control characters, NaN, hex and
 * leading-zero numbers, NUL, numbers beyond a double), says where, and counts empty arrays.
 * Each `[]` is handed to cjson as `[nan]`: the lexer refuses every NaN spelling, so a NaN in
 * cjson's result can only be that marker, never a value or a string from the text. Then one
 * walk over cjson's tables marks arrays with the array metatable (emptying the marked ones),
 * turns integral floats into integers and cjson.null into json.null.
 *
 * Encoding: the structure walk is ours (sorted keys so plans and journals are deterministic,
 * cycles, depth, NaN and infinity refused with the path, integers never in exponent form,
 * floats that read back exactly); a string that needs escapes is escaped by cjson. */
#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "validate.h"

const char json_null_sentinel = 0;

/* Registry keys (light userdata) of the private cjson instance's decode and encode. */
static const char cjson_decode_key = 0, cjson_encode_key = 0;

/* ---------------------------------------------------------------- reaching cjson */

/* Calls instance[name](arg) for its effect; the argument is the value on top (popped). */
static void configure(lua_State *L, int instance, const char *name) {
  if (lua_getfield(L, instance, name) != LUA_TFUNCTION) luaL_error(L, "lua-cjson has no %s function", name);
  lua_insert(L, -2);
  lua_call(L, 1, 0);
}

static void keep_function(lua_State *L, int instance, const char *name, const void *key) {
  if (lua_getfield(L, instance, name) != LUA_TFUNCTION) luaL_error(L, "lua-cjson has no %s function", name);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

/* require "cjson", then a private instance (cjson.new()) so that its settings do not reach a
 * script's own cjson; its decode and encode go into the registry. Raises when cjson is missing. */
static void open_cjson(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cjson_decode_key) == LUA_TFUNCTION) {
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  luaL_checkstack(L, 6, "cjson");
  lua_getglobal(L, "require");
  lua_pushliteral(L, "cjson");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK)
    luaL_error(L, "smartlead.json needs lua-cjson (apt-get install lua-cjson): %s", lua_tostring(L, -1));
  if (!lua_istable(L, -1) || lua_getfield(L, -1, "new") != LUA_TFUNCTION)
    luaL_error(L, "smartlead.json needs lua-cjson 2.1: require 'cjson' gave no cjson.new");
  lua_call(L, 0, 1);
  int instance = lua_gettop(L);
  if (!lua_istable(L, instance)) luaL_error(L, "cjson.new() gave no table");
  lua_pushboolean(L, 1);
  configure(L, instance, "decode_invalid_numbers"); /* for the `[nan]` markers only */
  lua_pushinteger(L, JSON_MAX_DEPTH);
  configure(L, instance, "decode_max_depth");
  keep_function(L, instance, "decode", &cjson_decode_key);
  keep_function(L, instance, "encode", &cjson_encode_key);
  lua_pop(L, 2);
}

/* ---------------------------------------------------------------- the pre-pass */

typedef struct {
  lua_State *L;
  const unsigned char *s, *p, *end;
  const unsigned char *tok; /* where the token being read starts */
  size_t empty_arrays;
  luaL_Buffer *marked;      /* the text with each empty array written as [nan], up to run */
  const unsigned char *run;
  int depth;
  size_t at;       /* 1-based byte of the first problem */
  const char *why; /* what it is */
} lexer_t;

static int lex_fail(lexer_t *x, const unsigned char *where, const char *why) {
  x->at = (size_t)(where - x->s) + 1;
  x->why = why;
  return 0;
}

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Length of the valid UTF-8 sequence at p (first byte >= 0x80), or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
  size_t n = (p[0] >= 0xC2 && p[0] <= 0xDF) ? 2 : (p[0] >= 0xE0 && p[0] <= 0xEF) ? 3 : (p[0] >= 0xF0 && p[0] <= 0xF4) ? 4 : 0;
  if (n == 0 || (size_t)(end - p) < n) return 0;
  return valid_utf8((const char *)p, n) ? n : 0;
}

static int hex4(const unsigned char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char c = p[i];
    v <<= 4;
    if (is_digit(c)) v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return 0;
  }
  *out = v;
  return 1;
}

/* \uXXXX at q (the backslash); a surrogate must come as a high-low pair. Returns its length. */
static size_t lex_unicode(lexer_t *x, const unsigned char *q) {
  unsigned cp, lo;
  if (x->end - q < 6) return lex_fail(x, q, "short \\u escape");
  if (!hex4(q + 2, &cp)) return lex_fail(x, q, "bad \\u escape");
  if (cp >= 0xDC00 && cp <= 0xDFFF) return lex_fail(x, q, "lone surrogate in \\u escape");
  if (cp < 0xD800 || cp > 0xDBFF) return 6;
  if (x->end - q < 12 || q[6] != '\\' || q[7] != 'u' || !hex4(q + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF)
    return lex_fail(x, q, "lone surrogate in \\u escape");
  return 12;
}

/* Whether any of the 8 bytes at p is a quote, a backslash, a control byte or not ASCII (the
 * classic bit tricks for "has a zero byte" and "has a byte below n"; exact for any of them). */
static int special8(const unsigned char *p) {
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  uint64_t v, quote, slash;
  memcpy(&v, p, 8);
  quote = v ^ (ones * '"');
  slash = v ^ (ones * '\\');
  return (((quote - ones) & ~quote) | ((slash - ones) & ~slash) | ((v - ones * 0x20) & ~v) | v) & highs ? 1 : 0;
}

static int lex_string(lexer_t *x) {
  const unsigned char *q = x->p + 1, *end = x->end;
  for (;;) {
    while (end - q >= 8 && !special8(q)) q += 8;
    while (q < end && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\') q++;
    if (q >= end) return lex_fail(x, end, "unterminated string");
    unsigned char c = *q;
    if (c == '"') break;
    if (c < 0x20) return lex_fail(x, q, "control character in string");
    size_t n;
    if (c >= 0x80) {
      if (!(n = utf8_seq(q, end))) return lex_fail(x, q, "invalid UTF-8 in a string");
    } else if (end - q < 2) {
      return lex_fail(x, end, "unterminated string");
    } else if (q[1] == 'u') {
      if (!(n = lex_unicode(x, q))) return 0;
    } else if (q[1] && strchr("\"\\/bfnrt", q[1])) {
      n = 2;
    } else {
      return lex_fail(x, q + 1, "bad escape");
    }
    q += n;
  }
  x->p = q + 1;
  return 1;
}

static const unsigned char *digits(const unsigned char *p, const unsigned char *end) {
  while (p < end && is_digit(*p)) p++;
  return p;
}

/* The strict grammar; what cjson's strtod would also take (01, 1., 0x1F, inf) is refused here. */
static int lex_number(lexer_t *x) {
  const unsigned char *start = x->p, *p = x->p, *end = x->end, *d;
  int exponent = 0;
  if (*p == '-') p++;
  if (p < end && *p == '0') {
    if (++p < end && is_digit(*p)) return lex_fail(x, start, "number with a leading zero");
  } else if ((d = digits(p, end)) == p) {
    return lex_fail(x, start, "bad number");
  } else {
    p = d;
  }
  if (p < end && *p == '.') {
    if ((d = digits(p + 1, end)) == p + 1) return lex_fail(x, p, "bad fraction");
    p = d;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    const unsigned char *e = p + 1 < end && (p[1] == '+' || p[1] == '-') ? p + 2 : p + 1;
    if ((d = digits(e, end)) == e) return lex_fail(x, p, "bad exponent");
    p = d;
    exponent = 1;
  }
  char tmp[64];
  size_t n = (size_t)(p - start);
  if (n >= sizeof tmp) return lex_fail(x, start, "number too long");
  if (exponent) { /* 1e400: cjson would give infinity, which no encoding holds */
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    int inf = 0;
    if (lua_stringtonumber(x->L, tmp)) {
      inf = isinf(lua_tonumber(x->L, -1));
      lua_pop(x->L, 1);
    }
    if (inf) return lex_fail(x, start, "number out of range");
  }
  x->p = p;
  return 1;
}

static int lex_word(lexer_t *x) {
  static const char *const words[] = {"true", "false", "null"};
  for (int i = 0; i < 3; i++) {
    size_t n = strlen(words[i]);
    if ((size_t)(x->end - x->p) >= n && memcmp(x->p, words[i], n) == 0) {
      x->p += n;
      return 1;
    }
  }
  return lex_fail(x, x->p, "unexpected word");
}

/* One token at x->p (not whitespace). */
static int lex_token(lexer_t *x, const unsigned char *last_open) {
  unsigned char c = *x->p;
  switch (c) {
    case '[': case '{':
      if (++x->depth > JSON_MAX_DEPTH) return lex_fail(x, x->p, "nested too deeply");
      x->p++;
      return 1;
    case ']': case '}':
      if (c == ']' && last_open) { /* `[` whitespace `]` goes to cjson as `[nan]` */
        x->empty_arrays++;
        luaL_addlstring(x->marked, (const char *)x->run, (size_t)(last_open - x->run));
        luaL_addstring(x->marked, "nan");
        x->run = x->p;
      }
      x->depth--;
      x->p++;
      return 1;
    case ',': case ':': x->p++; return 1;
    case '"': return lex_string(x);
    case 't': case 'f': case 'n': return lex_word(x);
    default:
      if (c == '-' || is_digit(c)) return lex_number(x);
      return lex_fail(x, x->p, "unexpected character");
  }
}

/* Every token of the text; the grammar (commas, colons, matching brackets) is cjson's. */
static int lex(lexer_t *x) {
  const unsigned char *last_open = NULL; /* a '[' followed by nothing but whitespace so far */
  int complete = 0;                      /* a whole value at the top level has been read */
  while (x->p < x->end) {
    if (is_space(*x->p)) {
      x->p++;
      continue;
    }
    x->tok = x->p;
    if (complete) return lex_fail(x, x->p, "trailing characters");
    unsigned char c = *x->p;
    if (!lex_token(x, last_open)) return 0;
    last_open = c == '[' ? x->p : NULL; /* just after the bracket */
    complete = x->depth == 0 && c != '[' && c != '{' && c != ',' && c != ':';
  }
  return 1;
}

/* ---------------------------------------------------------------- cjson's errors in our words */

static const char *token_words(const char *t, size_t n) {
  static const char *const names[][2] = {
      {"T_END", "the end"}, {"T_OBJ_BEGIN", "'{'"}, {"T_OBJ_END", "'}'"}, {"T_ARR_BEGIN", "'['"},
      {"T_ARR_END", "']'"}, {"T_STRING", "a string"}, {"T_NUMBER", "a number"}, {"T_BOOLEAN", "a boolean"},
      {"T_NULL", "null"}, {"T_COLON", "':'"}, {"T_COMMA", "','"}, {"value", "a value"},
      {"comma or object end", "',' or '}'"}, {"comma or array end", "',' or ']'"},
      {"object key string", "a string key"}, {"colon", "':'"}};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strlen(names[i][0]) == n && memcmp(t, names[i][0], n) == 0) return names[i][1];
  return NULL;
}

/* cjson's "Expected comma or object end but found T_END at character 27" becomes
 * "invalid JSON at byte 27: expected ',' or '}', found the end". Returns the byte, or 0 when
 * the message names none (it is then copied as it is). */
static size_t cjson_error(const char *msg, char *err, size_t errsz) {
  const char *at = strstr(msg, " at character ");
  long byte = at ? strtol(at + 14, NULL, 10) : 0;
  if (byte <= 0) {
    snprintf(err, errsz, "%s", msg);
    return 0;
  }
  const char *but = strstr(msg, " but found ");
  int n = snprintf(err, errsz, "invalid JSON at byte %ld: ", byte);
  size_t room = n > 0 && (size_t)n < errsz ? errsz - (size_t)n : 0;
  char *out = err + (n > 0 && (size_t)n < errsz ? (size_t)n : 0);
  if (strncmp(msg, "Found too many nested", 21) == 0) {
    snprintf(out, room, "nested too deeply");
  } else if (strncmp(msg, "Expected ", 9) == 0 && but && but < at) {
    const char *want = msg + 9, *found = but + 11;
    const char *w = token_words(want, (size_t)(but - want)), *f = token_words(found, (size_t)(at - found));
    if (strncmp(want, "the end ", 8) == 0) snprintf(out, room, "trailing characters");
    else if (f && strcmp(f, "the end") == 0 && w && strcmp(w, "a value") == 0) snprintf(out, room, "unexpected end");
    else snprintf(out, room, "expected %s, found %.*s", w ? w : "?", f ? (int)strlen(f) : (int)(at - found), f ? f : found);
  } else {
    snprintf(out, room, "%.*s", (int)(at - msg), msg);
  }
  return (size_t)byte;
}

/* ---------------------------------------------------------------- decoding */

typedef struct {
  const char *s;
  size_t len;
  int ok;
  char *err;
  size_t errsz;
} decode_job_t;

/* The number or cjson.null on top, replaced by ours when it differs; 1 when it was. */
static int adopt_leaf(lua_State *L, int type) {
  if (type == LUA_TLIGHTUSERDATA) { /* cjson.null: the only light userdata cjson gives */
    lua_pop(L, 1);
    lua_pushlightuserdata(L, (void *)&json_null_sentinel);
    return 1;
  }
  if (type != LUA_TNUMBER || lua_isinteger(L, -1)) return 0;
  lua_Number n = lua_tonumber(L, -1);
  lua_Integer i;
  if (lua_numbertointeger(n, &i) && (lua_Number)i == n) { /* integral, and an integer can hold it */
    lua_pop(L, 1);
    lua_pushinteger(L, i);
    return 1;
  }
  if (isinf(n) || isnan(n)) luaL_error(L, "invalid JSON: number out of range"); /* the lexer stops these */
  return 0;
}

/* Arrays (integer keys 1..n in cjson's result; objects have string keys only) get the array
 * metatable, and a `[nan]` marker becomes the empty array it stood for; then the same for every
 * value inside. */
static void adopt_table(lua_State *L, int t, int depth, int array_mt) {
  if (depth > JSON_MAX_DEPTH) luaL_error(L, "invalid JSON: nested too deeply");
  luaL_checkstack(L, 6, "JSON nesting");
  lua_Integer n = (lua_Integer)lua_rawlen(L, t);
  if (n > 0) {
    lua_pushvalue(L, array_mt);
    lua_setmetatable(L, t);
    for (lua_Integer i = 1; i <= n; i++) {
      int type = lua_rawgeti(L, t, i);
      if (n == 1 && type == LUA_TNUMBER && isnan(lua_tonumber(L, -1))) {
        lua_pushnil(L);
        lua_rawseti(L, t, 1);
      } else if (type == LUA_TTABLE) {
        adopt_table(L, lua_gettop(L), depth + 1, array_mt);
      } else if (adopt_leaf(L, type)) {
        lua_rawseti(L, t, i);
        continue;
      }
      lua_pop(L, 1);
    }
    return;
  }
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int type = lua_type(L, -1);
    if (type == LUA_TTABLE) {
      adopt_table(L, lua_gettop(L), depth + 1, array_mt);
    } else if (adopt_leaf(L, type)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, t); /* an existing key: allowed while traversing */
      continue;
    }
    lua_pop(L, 1);
  }
}

/* The value on top as cjson gave it, made ours. */
static void adopt(lua_State *L) {
  int type = lua_type(L, -1);
  if (type != LUA_TTABLE) {
    adopt_leaf(L, type);
    return;
  }
  int t = lua_gettop(L);
  json_push_array_mt(L);
  adopt_table(L, t, 1, t + 1);
  lua_pop(L, 1);
}

/* Runs cjson's decode on the value on top (popped); 1 and the result, or 0 and the message. */
static int cjson_decode(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &cjson_decode_key);
  lua_insert(L, -2);
  return lua_pcall(L, 1, 1, 0) == LUA_OK;
}

/* The lexer found a problem: cjson may see an earlier one (a missing comma, a bracket that does
 * not match) in the tokens before the one at fault; the first problem is reported. */
static void first_problem(lua_State *L, decode_job_t *job, const lexer_t *x) {
  size_t before = (size_t)(x->tok - x->s);
  lua_pushlstring(L, job->s, before);
  if (!cjson_decode(L)) {
    char theirs[128];
    size_t at = cjson_error(lua_tostring(L, -1), theirs, sizeof theirs);
    if (at > 0 && at <= before) { /* not the end of those tokens: a problem of its own */
      snprintf(job->err, job->errsz, "%s", theirs);
      return;
    }
  }
  snprintf(job->err, job->errsz, "invalid JSON at byte %zu: %s", x->at, x->why);
}

/* decode(job [, text]) -> value, or nothing with job->ok 0 */
static int protected_decode(lua_State *L) {
  decode_job_t *job = lua_touserdata(L, 1);
  open_cjson(L);
  const unsigned char *s = (const unsigned char *)job->s;
  luaL_Buffer marked; /* the lexer's use of the stack while it fills this is balanced */
  lexer_t x = {L, s, s, s + job->len, s, 0, &marked, s, 0, 0, NULL};
  luaL_buffinit(L, &marked);
  if (!lex(&x)) {
    first_problem(L, job, &x);
    return 0;
  }
  if (x.empty_arrays) luaL_addlstring(&marked, (const char *)x.run, (size_t)(x.end - x.run));
  luaL_pushresult(&marked);
  if (!x.empty_arrays) { /* nothing was marked: cjson gets the text itself */
    lua_pop(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING) lua_pushvalue(L, 2);
    else lua_pushlstring(L, job->s, job->len);
  }
  if (!cjson_decode(L)) {
    if (x.empty_arrays) { /* the same problem, at its place in the text as given */
      lua_pushlstring(L, job->s, job->len);
      if (!cjson_decode(L)) lua_replace(L, -2);
      else lua_pop(L, 1);
    }
    if (!cjson_error(lua_tostring(L, -1), job->err, job->errsz) && !job->err[0])
      snprintf(job->err, job->errsz, "invalid JSON");
    return 0;
  }
  adopt(L);
  job->ok = 1;
  return 1;
}

/* The text is s (or the Lua string at text_idx, which then spares a copy). */
static int decode_text(lua_State *L, const char *s, size_t len, int text_idx, char *err, size_t errsz) {
  decode_job_t job = {s, len, 0, err, errsz};
  int top = lua_gettop(L);
  if (errsz) err[0] = '\0';
  if (!lua_checkstack(L, 4)) return snprintf(err, errsz, "invalid JSON: no room on the Lua stack"), 0;
  lua_pushcfunction(L, protected_decode);
  lua_pushlightuserdata(L, &job);
  if (text_idx) lua_pushvalue(L, text_idx);
  else lua_pushnil(L);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
    snprintf(err, errsz, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "JSON decoding failed");
    job.ok = 0;
  }
  if (!job.ok) lua_settop(L, top);
  return job.ok;
}

int json_decode(lua_State *L, const char *s, size_t len, char *err, size_t errsz) {
  return decode_text(L, s, len, 0, err, errsz);
}

/* ---------------------------------------------------------------- encoding */

typedef struct {
  const char *key; /* NULL: an array index */
  size_t key_len;
  lua_Integer index;
} step_t;

typedef struct {
  buf_t *out;
  const void *seen[JSON_MAX_DEPTH]; /* tables on the current path, to catch cycles */
  step_t path[JSON_MAX_DEPTH + 1];  /* where the value being encoded is, for messages */
  int steps;                        /* how many of path[] lead to it */
  int depth;
  int ok;
  char *err;
  size_t errsz;
} encoder_t;

/* "cannot encode WHAT at a.b[2].c": the path is written only when something fails. */
static int efail(encoder_t *e, const char *what) {
  char where[256] = "";
  size_t n = 0;
  for (int i = 0; i < e->steps && n < sizeof where; i++) {
    const step_t *s = &e->path[i];
    int w = s->key ? snprintf(where + n, sizeof where - n, "%s%.*s", i ? "." : "", (int)s->key_len, s->key)
                   : snprintf(where + n, sizeof where - n, "[%lld]", (long long)s->index);
    if (w > 0) n += (size_t)w;
  }
  snprintf(e->err, e->errsz, "cannot encode %s%s%s", what, where[0] ? " at " : "", where);
  return 0;
}

/* Appends cjson's encoding of a string, with `\/` written as `/` (cjson escapes the slash; JSON
 * does not need it, and URLs in plans, journals and output stay readable). */
static void append_unslashed(buf_t *out, const char *q, size_t n) {
  const char *end = q + n, *run = q;
  while (q < end) {
    if (*q != '\\') {
      q++;
      continue;
    }
    if (q + 1 < end && q[1] == '/') {
      buf_append(out, run, (size_t)(q - run));
      buf_putc(out, '/');
      run = q += 2;
    } else {
      q += 2;
    }
  }
  buf_append(out, run, (size_t)(end - run));
}

static int encode_string(encoder_t *e, lua_State *L, int idx) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  if (!valid_utf8(s, len)) return efail(e, "a string that is not valid UTF-8");
  size_t i = 0;
  while (i < len && (unsigned char)s[i] >= 0x20 && s[i] != '"' && s[i] != '\\' && s[i] != 0x7F) i++;
  if (i == len) { /* nothing to escape: cjson would write it as it is */
    buf_putc(e->out, '"');
    buf_append(e->out, s, len);
    buf_putc(e->out, '"');
    return 1;
  }
  lua_rawgetp(L, LUA_REGISTRYINDEX, &cjson_encode_key);
  lua_pushvalue(L, idx);
  lua_call(L, 1, 1);
  size_t n;
  const char *q = lua_tolstring(L, -1, &n);
  if (!q) return efail(e, "a string (cjson gave no text)");
  append_unslashed(e->out, q, n);
  lua_pop(L, 1);
  return 1;
}

static int encode_number(encoder_t *e, lua_State *L, int idx) {
  if (lua_isinteger(L, idx)) {
    buf_printf(e->out, LUA_INTEGER_FMT, lua_tointeger(L, idx));
    return 1;
  }
  lua_Number n = lua_tonumber(L, idx);
  if (isnan(n) || isinf(n)) return efail(e, "NaN or infinity");
  /* 42.0 goes out as 42, and integral values up to 10^21 (2^60, a 20-digit id read as a float)
   * in plain digits, never 1e+18; -0.0 as 0. cjson's own number format (%.14g at most) would
   * lose digits, so numbers are written here. */
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

static int encode_value(encoder_t *e, lua_State *L, int idx);

static int is_array_table(lua_State *L, int idx, lua_Integer *len) {
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

static int encode_array(encoder_t *e, lua_State *L, int idx, lua_Integer len) {
  step_t *step = &e->path[e->depth - 1];
  buf_putc(e->out, '[');
  for (lua_Integer i = 1; i <= len; i++) {
    if (i > 1) buf_putc(e->out, ',');
    *step = (step_t){NULL, 0, i};
    e->steps = e->depth;
    lua_rawgeti(L, idx, i);
    int ok = encode_value(e, L, lua_gettop(L));
    lua_pop(L, 1);
    if (!ok) return 0;
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

/* The string keys of the table at idx, sorted; they stay alive as the table's own keys (nothing
 * changes the table while it is encoded, and Lua never moves a string). */
static sort_key_t *sorted_keys(encoder_t *e, lua_State *L, int idx, sort_key_t *small, size_t nsmall, size_t *count) {
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 1);
      return efail(e, "a table that mixes array items and string keys (or has non-string keys)"), NULL;
    }
    n++;
  }
  sort_key_t *keys = n <= nsmall ? small : lua_newuserdatauv(L, n * sizeof *keys, 0); /* left on the stack */
  size_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (i < n) {
      keys[i].s = lua_tolstring(L, -1, &keys[i].len);
      i++;
    }
  }
  qsort(keys, i, sizeof *keys, compare_keys);
  *count = i;
  return keys;
}

static int encode_object(encoder_t *e, lua_State *L, int idx) {
  sort_key_t small[64];
  size_t n;
  sort_key_t *keys = sorted_keys(e, L, idx, small, sizeof small / sizeof *small, &n);
  if (!keys) return 0;
  step_t *step = &e->path[e->depth - 1];
  buf_putc(e->out, '{');
  for (size_t i = 0; i < n; i++) {
    if (i > 0) buf_putc(e->out, ',');
    *step = (step_t){keys[i].s, keys[i].len, 0};
    e->steps = e->depth;
    lua_pushlstring(L, keys[i].s, keys[i].len);
    int ok = encode_string(e, L, lua_gettop(L));
    buf_putc(e->out, ':');
    lua_rawget(L, idx);
    ok = ok && encode_value(e, L, lua_gettop(L));
    lua_pop(L, 1);
    if (!ok) return 0;
  }
  buf_putc(e->out, '}');
  return 1;
}

static int encode_table(encoder_t *e, lua_State *L, int idx) {
  const void *self = lua_topointer(L, idx);
  for (int i = 0; i < e->depth; i++)
    if (e->seen[i] == self) return efail(e, "a table that contains itself");
  if (e->depth >= JSON_MAX_DEPTH) return efail(e, "tables nested more than 100 deep");
  luaL_checkstack(L, 8, "JSON nesting");
  e->seen[e->depth++] = self;
  e->steps = e->depth - 1;
  lua_Integer len;
  int top = lua_gettop(L);
  int ok = is_array_table(L, idx, &len) ? encode_array(e, L, idx, len) : encode_object(e, L, idx);
  lua_settop(L, top); /* the key list of a big object */
  e->depth--;
  return ok;
}

static int encode_value(encoder_t *e, lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TNIL: buf_puts(e->out, "null"); return 1;
    case LUA_TBOOLEAN: buf_puts(e->out, lua_toboolean(L, idx) ? "true" : "false"); return 1;
    case LUA_TNUMBER: return encode_number(e, L, idx);
    case LUA_TSTRING: return encode_string(e, L, idx);
    case LUA_TTABLE: return encode_table(e, L, idx);
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

/* encode(encoder, value): fills the encoder's buffer, or its message */
static int protected_encode(lua_State *L) {
  encoder_t *e = lua_touserdata(L, 1);
  open_cjson(L);
  e->ok = encode_value(e, L, 2);
  return 0;
}

int json_encode(lua_State *L, int idx, buf_t *out, char *err, size_t errsz) {
  encoder_t e;
  memset(&e, 0, sizeof e);
  e.out = out;
  e.err = err;
  e.errsz = errsz;
  idx = lua_absindex(L, idx);
  if (!lua_checkstack(L, 4)) return snprintf(err, errsz, "cannot encode: no room on the Lua stack"), 0;
  lua_pushcfunction(L, protected_encode);
  lua_pushlightuserdata(L, &e);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    snprintf(err, errsz, "cannot encode: %s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "error");
    lua_pop(L, 1);
    return 0;
  }
  if (e.ok && out->failed) {
    snprintf(err, errsz, "cannot encode: out of memory");
    return 0;
  }
  return e.ok;
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
  char err[160];
  if (decode_text(L, s, len, 1, err, sizeof err)) return 1;
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
  open_cjson(L); /* a missing lua-cjson shows at require "smartlead.core", not at the first answer */
  luaL_setfuncs(L, fns, 0);
  lua_pushlightuserdata(L, (void *)&json_null_sentinel);
  lua_setfield(L, -2, "null");
  json_push_array_mt(L);
  lua_setfield(L, -2, "array_mt");
}

/* ---------------------------------------------------------------- duplicate keys (-vv) */

typedef struct {
  int object;       /* 1: an object, 0: an array */
  int want_key;     /* the next string in this object is a key */
  uint64_t *keys;   /* hashes of the keys seen, owned */
  size_t n, cap;
} dup_frame_t;

static uint64_t key_hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

/* Records the key in the frame; 1 when it was there already (or memory ran out: reported as none). */
static int seen_key(dup_frame_t *f, uint64_t h) {
  for (size_t i = 0; i < f->n; i++)
    if (f->keys[i] == h) return 1;
  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 8;
    uint64_t *k = realloc(f->keys, cap * sizeof *k);
    if (!k) return 0;
    f->keys = k, f->cap = cap;
  }
  f->keys[f->n++] = h;
  return 0;
}

/* Length of the string literal starting at s[i] == '"', quotes included (0 when unterminated). */
static size_t string_length(const char *s, size_t len, size_t i) {
  for (size_t j = i + 1; j < len; j++) {
    if (s[j] == '\\') j++;
    else if (s[j] == '"') return j - i + 1;
  }
  return 0;
}

int json_first_duplicate_key(const char *s, size_t len, char *key, size_t keysz) {
  dup_frame_t stack[JSON_MAX_DEPTH];
  int depth = 0, found = 0;
  for (size_t i = 0; i < len && !found; i++) {
    char c = s[i];
    if (c == '{' || c == '[') {
      if (depth == JSON_MAX_DEPTH) break;
      stack[depth++] = (dup_frame_t){.object = c == '{', .want_key = c == '{'};
    } else if (c == '}' || c == ']') {
      if (depth == 0) break;
      free(stack[--depth].keys);
    } else if (c == ',' && depth > 0 && stack[depth - 1].object) {
      stack[depth - 1].want_key = 1;
    } else if (c == '"') {
      size_t n = string_length(s, len, i);
      if (n == 0) break;
      dup_frame_t *f = depth > 0 ? &stack[depth - 1] : NULL;
      if (f && f->object && f->want_key) {
        f->want_key = 0;
        if (seen_key(f, key_hash(s + i + 1, n - 2))) {
          snprintf(key, keysz, "%.*s", (int)(n - 2 < 60 ? n - 2 : 60), s + i + 1);
          found = 1;
        }
      }
      i += n - 1;
    }
  }
  while (depth > 0) free(stack[--depth].keys);
  return found;
}
