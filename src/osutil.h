/* OS work the Lua layer needs without a shell: private files and directories, the pid, reading a
 * secret with echo off. Registered as core.os. */
#ifndef SMARTLUA_OSUTIL_H
#define SMARTLUA_OSUTIL_H

#include <lua.h>

/* Pushes nil and a message for a failed open of path (errno err): a symbolic link is named as
 * such ("... is a symbolic link; refusing to <verb> through it"). Returns 2. */
int osutil_push_open_error(lua_State *L, const char *path, int err, const char *verb);

void osutil_register(lua_State *L); /* core.os into the table on top */

#endif
