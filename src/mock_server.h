/* The mock SmartLead server (libmicrohttpd, loopback only), usable from C and from Lua. */
#ifndef SMARTLUA_MOCK_SERVER_H
#define SMARTLUA_MOCK_SERVER_H

#include <lua.h>
#include <stddef.h>

typedef struct mock mock_t;

/* Starts a server on 127.0.0.1:port (0: ephemeral) seeded from seed_json with options JSON. */
mock_t *mock_start(unsigned port, const char *seed_json, size_t seed_len, const char *opts_json, char *err, size_t errsz);
unsigned mock_port(const mock_t *m);
void mock_stop(mock_t *m); /* NULL is fine */

void mock_register(lua_State *L); /* core.mock_start into the table on top */

#endif
