-- luacheck for lua/, spec/, examples/, tools/ (make lint): Lua 5.4, 120 columns.
std = "lua54"
max_line_length = 120
codes = true

-- busted's globals in the specs
files["spec/"] = { std = "+busted" }
files["examples/spec/"] = { std = "+busted" }
-- the host sets these for the REPL and for scripts
read_globals = { "smartlead", "sl" }
