-- LuaRocks: builds smartlead.core and the smartlua binary with the project's Makefile, and
-- installs them with the Lua modules and the editor's types into a rocks tree.
--   luarocks --lua-version 5.4 make rockspecs/smartlead-scm-1.rockspec            (system tree)
--   luarocks --lua-version 5.4 make --local rockspecs/smartlead-scm-1.rockspec    (~/.luarocks)
-- Needs Debian's liblua5.4-dev, libcurl4-openssl-dev, libmicrohttpd-dev, libedit-dev and
-- lua-cjson (`make deps` installs them); lua-cjson is the Debian package, not a rock.
rockspec_format = "3.0"
package = "smartlead"
version = "scm-1"
source = {
  url = "git+file:///smartlua", -- built from a checkout: `luarocks make` in its root
}
description = {
  summary = "Script your SmartLead mailbox fleet in Lua",
  detailed = [[
The smartlead module (a C core on libcurl, every SmartLead email-account endpoint as a method,
validation, retries, a shared rate limiter, plans, journals and undo), its policies, a mock
SmartLead for tests (smartlead.testing), and the smartlua host, REPL and command line.]],
  license = "MIT",
  labels = { "smartlead", "email", "cli" },
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
-- The C libraries are found by the Makefile through pkg-config (libcurl, libmicrohttpd, libedit),
-- which knows Debian's multiarch directories; LuaRocks' own header search does not.
build = {
  type = "make",
  build_target = "all",
  build_variables = {
    LUA = "$(LUA)",
    CFLAGS = "$(CFLAGS)",
  },
  install_target = "install",
  install_variables = {
    LUA = "$(LUA)",
    PREFIX = "$(PREFIX)",
    BINDIR = "$(BINDIR)",
    LUADIR = "$(LUADIR)",
    LIBDIR = "$(LIBDIR)",
    TYPESDIR = "$(PREFIX)/types",
  },
}
