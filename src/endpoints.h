/* The endpoint table: one row per SmartLead endpoint, read by one dispatcher. */
#ifndef SMARTLUA_ENDPOINTS_H
#define SMARTLUA_ENDPOINTS_H

#include <lua.h>

#include "client.h"
#include "validate.h"

typedef enum { ARG_NONE, ARG_FIELDS, ARG_IDS, ARG_EMAIL } arg_kind_t;
typedef enum { TO_QUERY, TO_BODY } dest_t;
enum { READS = 0, SAFE_WRITE = 1, UNSAFE_WRITE = 2 };

typedef struct {
  const char *name;      /* Lua method name */
  const char *method;    /* HTTP method */
  const char *path;      /* template below the base URL; {id} is the leading id argument */
  const char *id_name;   /* name of the leading id argument, NULL when there is none */
  arg_kind_t arg;        /* what the next argument is */
  dest_t dest;           /* where that argument goes */
  const field_t *fields; /* for ARG_FIELDS */
  int payload_required;  /* the argument may not be nil */
  answer_kind_t answer;
  int mutates;           /* READS, SAFE_WRITE (repeatable) or UNSAFE_WRITE (never blindly repeated) */
  const char *args_doc;  /* for help */
  const char *summary;
} endpoint_t;

extern const endpoint_t ENDPOINTS[];

/* Adds every endpoint method to the Client metatable; core.endpoints into the table on top. */
void endpoints_register(lua_State *L);

#endif
