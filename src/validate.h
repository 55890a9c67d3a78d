/* Checks of everything a script hands to an endpoint, before anything is sent.
 * Wrong Lua types for positional arguments raise; bad values return nil, err (kind validation). */
#ifndef SMARTLUA_VALIDATE_H
#define SMARTLUA_VALIDATE_H

#include <lua.h>
#include <stddef.h>

#include "buf.h"

#define MAX_FIELD_BYTES 65536 /* longer strings are refused: no real field is that long */
#define MAX_ID_LIST 2500      /* a campaign holds at most 2,500 accounts */

typedef enum {
  F_TEXT,        /* any string, may be empty */
  F_NAME,        /* non-empty string */
  F_SECRET,      /* non-empty string, never echoed in messages */
  F_HOST,        /* host name or address */
  F_EMAIL,
  F_UINT,        /* integer >= 0 */
  F_LIMIT,       /* integer 1..100 */
  F_PORT,        /* integer 1..65535 */
  F_PERCENT,     /* integer 0..100 */
  F_BOOL,
  F_ENUM,
  F_ID,          /* positive integer */
  F_ID_OR_NULL,  /* positive integer or json.null */
  F_TOKEN,       /* OAuth token table */
  F_DATE,        /* YYYY-MM-DD, a real calendar day */
  F_COLOR,       /* #RRGGBB */
  F_KEY,         /* a non-empty string or an integer >= 0 (warmup_key_id: both forms are documented) */
  F_LIMIT20,     /* integer 1..20 (pages of mailbox statistics) */
} field_type_t;

/* The type names scripts and the registry use, indexed by field_type_t; NULL-terminated. */
extern const char *const FIELD_TYPE_NAMES[];

typedef struct {
  const char *name;
  field_type_t type;
  int required;
  const char *const *values; /* for F_ENUM */
  const char *alias;         /* snake_case alias accepted from scripts */
} field_t;

int validate_fields(lua_State *L, int arg, const field_t *fields, const char *ep, const char *method, const char *path, int required);
int validate_id_list(lua_State *L, int arg, const char *ep, const char *method, const char *path);
/* A list of distinct positive ids at arg, at most max (0: MAX_ID_LIST), into the table on top as key. */
int validate_ids_into(lua_State *L, int arg, const char *ep, const char *method, const char *path, const char *key, int max);
/* A non-empty list of distinct addresses at arg: {key = {...}} on top, or nil, err. */
int validate_email_list(lua_State *L, int arg, const char *ep, const char *method, const char *path, const char *key);
int validate_email_arg(lua_State *L, int arg, const char *ep, const char *method, const char *path);

/* Raises when the argument is not a number; returns 0 when it is not a positive integer. */
int check_id_arg(lua_State *L, int idx, const char *ep, const char *name, lua_Integer *out);

int check_http_method(const char *method);
int check_api_path(lua_State *L, int idx, char *why, size_t whysz);
int validate_free_query(lua_State *L, int idx, buf_t *out, char *err, size_t errsz);

/* Encodes the flat table at idx (nil: nothing) as a query string with sorted keys. */
int encode_query(lua_State *L, int idx, buf_t *out, char *err, size_t errsz);

int valid_email(const char *s, size_t len);
int valid_utf8(const char *s, size_t len);

/* Closest of the candidates to name, or NULL when none is close. */
const char *nearest_name(const char *name, const char *const *candidates, size_t n);

#endif
