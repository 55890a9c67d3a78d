/* The operation registry: one row per SmartLead operation, read by one dispatcher and, through
 * core.operations(), by everything above it (run sessions, help, completion, the CLI). */
#ifndef SMARTLUA_ENDPOINTS_H
#define SMARTLUA_ENDPOINTS_H

#include <lua.h>

#include "client.h"
#include "validate.h"

/* What follows the leading id: nothing, a fields table, an id list, an address, an id list and a
 * tag id list (tag mappings), a list of addresses. */
typedef enum { ARG_NONE, ARG_FIELDS, ARG_IDS, ARG_EMAIL, ARG_ID_PAIRS, ARG_EMAILS } arg_kind_t;
typedef enum { TO_QUERY, TO_BODY } dest_t;

/* What an operation does, which decides how it is planned, journaled, retried and undone. */
typedef enum {
  KIND_READ,     /* changes nothing */
  KIND_SET,      /* sets values: safe to repeat, undone by restoring the values before */
  KIND_CREATE,   /* a save: never resent blindly, undone only by reporting */
  KIND_RELATION, /* attach/detach, suspend/unsuspend: undone by its inverse row */
  KIND_DELETE,   /* cannot be undone: always confirmed */
  KIND_ACTION,   /* asks the server to act (reconnect): not undoable, reported */
} op_kind_t;

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
  op_kind_t kind;
  const char *inverse;   /* KIND_RELATION: the row that undoes this one */
  int removes;           /* KIND_RELATION: this side removes (detach, untag, unsuspend) */
  const char *lookup;    /* KIND_CREATE: the read that finds what a lost answer may have created */
  const char *lookup_key; /* ... by this field of the payload */
  const char *lookup_list;   /* KIND_CREATE: the list read that finds what lookup cannot (an account not connected) */
  const char *lookup_filter; /* ... filtered by this query field, set to the payload's lookup_key value */
  const field_t *options; /* a trailing options table whose fields join the payload (auto_adjust_warmup) */
  int max_ids;           /* ARG_IDS, ARG_ID_PAIRS: ids one request takes; the Lua client splits longer lists */
  const char *flag;      /* KIND_RELATION on an account: the boolean account field the adding side sets */
  const char *members;   /* KIND_RELATION over ids: the account list field whose members the second list names */
  const char *args_doc;  /* for help */
  const char *summary;
} endpoint_t;

extern const endpoint_t ENDPOINTS[];

/* Adds every endpoint method to the Client metatable; core.operations, core.define_operation,
 * core.validators into the table on top. */
void endpoints_register(lua_State *L);

#endif
