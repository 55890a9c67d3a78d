-- The project's JSON: integers stay integers, arrays stay arrays, null is json.null.
-- Implemented in C (src/json_bridge.c: lua-cjson behind one thin layer); this file only gives it
-- its own module name.
return require("smartlead.core").json
