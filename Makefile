# smartlua: `make` builds, `make test` and `make demo` do everything on a fresh Debian 12.
PREFIX  ?= /usr/local
DESTDIR ?=
LUA     ?= lua5.4
B       ?= build
BUSTED  ?= /usr/bin/busted

# Debian packages the build, the tests and the demo need; `make deps` installs the missing ones.
DEB_PACKAGES = gcc make pkg-config liblua5.4-dev lua5.4 lua-cjson libcurl4-openssl-dev libmicrohttpd-dev \
               libedit-dev lua-busted ca-certificates valgrind tmux openssl libsqlite3-dev luarocks zsh fish jq

PKGS    = lua5.4 libcurl libmicrohttpd sqlite3
CFLAGS ?= -O2 -g
# What the code needs, kept apart from CFLAGS so `make CFLAGS=...` (sanitizers) keeps it.
REQ_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -fPIC -pthread -Isrc
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs libcurl libmicrohttpd sqlite3 2>/dev/null)
LUA_LIBS   = $(shell pkg-config --libs lua5.4 2>/dev/null)
EDIT_LIBS  = $(shell pkg-config --libs libedit 2>/dev/null)

CORE_SRC = src/buf.c src/json_bridge.c src/redact.c src/http.c src/limiter.c src/limiter_store.c src/engine.c \
           src/engine_lua.c src/client.c src/validate.c src/trace.c src/endpoints.c src/mock_server.c src/osutil.c \
           src/sqlite.c src/embedded.c src/smartlead_core.c
CORE_OBJ = $(CORE_SRC:src/%.c=$(B)/obj/%.o) $(B)/obj/embedded_data.o
HOST_OBJ = $(B)/obj/main.o $(B)/obj/repl.o
LUA_FILES = $(sort $(shell find lua -name "*.lua"))
SEED = spec/fixtures/seed.json

.PHONY: all deps test demo install clean check-deps check-asan check-valgrind lint man
all: $(B)/smartlua $(B)/smartlead/core.so $(B)/types/smartlead.lua

$(B)/obj/%.o: src/%.c $(wildcard src/*.h) | $(B)/obj
	$(CC) $(REQ_CFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(B)/obj/embedded_data.o: $(B)/embedded_data.c | $(B)/obj
	$(CC) $(REQ_CFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(B)/embedded_data.c: tools/embed.lua $(LUA_FILES) $(SEED) | $(B)/obj
	$(LUA) tools/embed.lua $@ $(SEED) $(LUA_FILES)

$(B)/smartlua: $(HOST_OBJ) $(CORE_OBJ)
	$(CC) $(REQ_CFLAGS) $(CFLAGS) -o $@ $^ $(LUA_LIBS) $(PKG_LIBS) $(EDIT_LIBS) -lm -Wl,-E

# The module for a stock lua5.4: the interpreter provides the Lua symbols.
$(B)/smartlead/core.so: $(CORE_OBJ) | $(B)/smartlead
	$(CC) $(REQ_CFLAGS) $(CFLAGS) -shared -o $@ $^ $(PKG_LIBS) -lm

$(B)/obj $(B)/smartlead:
	mkdir -p $@

# The editor's types (LuaCATS ---@meta files): the Client's methods from the registry as built,
# the rest from tools/api_doc.lua. lua-language-server reads them from `workspace.library`.
TOOLS_ENV = LUA_PATH="tools/?.lua;lua/?.lua;lua/?/init.lua" LUA_CPATH="$(B)/?.so;;"
$(B)/types/smartlead.lua: tools/gen_annotations.lua tools/api_model.lua tools/api_doc.lua $(B)/smartlead/core.so
	$(TOOLS_ENV) $(LUA) tools/gen_annotations.lua $(B)/types

# doc/reference.md from the same sources (committed; spec/reference_spec.lua fails when it is stale).
.PHONY: reference
reference: $(B)/smartlead/core.so
	$(TOOLS_ENV) $(LUA) tools/gen_reference.lua doc/reference.md

# Installs the missing Debian packages among $(1): as root directly, otherwise it prints the
# exact apt-get line and fails.
define install_missing
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	line="apt-get install -y --no-install-recommends $$(echo $$missing)"; \
	if [ "$$(id -u)" != 0 ]; then echo "missing packages; run as root: apt-get update && $$line" >&2; exit 1; fi; \
	echo "installing: $$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$line >/dev/null
endef

deps:
	$(call install_missing,$(DEB_PACKAGES))

test: deps
	$(MAKE) all
	sh spec/run.sh

# The whole suite against the AddressSanitizer + UBSan builds of the module and the host.
ASAN_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
check-asan: deps
	$(MAKE) B=build-asan CFLAGS="$(ASAN_CFLAGS)" build-asan/smartlua build-asan/smartlead/core.so
	sh spec/run.sh asan

# The whole suite under valgrind memcheck: zero errors, zero definite or indirect leaks.
check-valgrind: deps
	$(MAKE) all
	sh spec/run.sh valgrind

# luacheck (.luacheckrc) on the Lua trees, and every C file compiled with the warnings as errors.
LINT_PACKAGES = lua-check
lint: deps
	$(call install_missing,$(LINT_PACKAGES))
	luacheck -q lua spec examples tools
	@for f in src/*.c; do $(CC) $(REQ_CFLAGS) -Werror -fsyntax-only $(PKG_CFLAGS) $$f || exit 1; done; echo "C: no warnings"

# The fleet report in a real headless browser (tools/check_report.lua): chromium --dump-dom and
# --screenshot of a 30-day simulated history, no network; writes build/report/. Packages it needs:
CHECK_REPORT_PACKAGES = chromium
.PHONY: check-report
check-report: deps
	$(call install_missing,$(CHECK_REPORT_PACKAGES))
	$(MAKE) all
	build/smartlua tools/check_report.lua build/report

demo: deps
	$(MAKE) all
	build/smartlua --mock examples/fleet_report.lua

# doc/smartlua.1 from the command line's definitions (a spec checks the committed page is current).
man: $(B)/smartlua
	$(B)/smartlua -e 'io.write(require("smartlead.cli.man").roff())' > doc/smartlua.1

# Where install puts things; LuaRocks (rockspecs/) points them into its tree.
BINDIR   ?= $(PREFIX)/bin
LUADIR   ?= $(PREFIX)/share/lua/5.4
LIBDIR   ?= $(PREFIX)/lib/lua/5.4
TYPESDIR ?= $(PREFIX)/share/smartlua/types
SHARE     = $(DESTDIR)$(PREFIX)/share

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/smartlead $(DESTDIR)$(LUADIR)/smartlead $(DESTDIR)$(TYPESDIR)
	install -m 755 $(B)/smartlua $(DESTDIR)$(BINDIR)/smartlua
	install -m 755 $(B)/smartlead/core.so $(DESTDIR)$(LIBDIR)/smartlead/core.so
	for f in $(LUA_FILES); do install -D -m 644 $$f $(DESTDIR)$(LUADIR)/$${f#lua/}; done
	for f in $$(cd $(B)/types && find . -name "*.lua"); do install -D -m 644 $(B)/types/$$f $(DESTDIR)$(TYPESDIR)/$${f#./}; done
	install -D -m 644 doc/smartlua.1 $(SHARE)/man/man1/smartlua.1
	install -d $(SHARE)/bash-completion/completions $(SHARE)/zsh/site-functions $(SHARE)/fish/vendor_completions.d
	$(B)/smartlua completion bash > $(SHARE)/bash-completion/completions/smartlua
	$(B)/smartlua completion zsh > $(SHARE)/zsh/site-functions/_smartlua
	$(B)/smartlua completion fish > $(SHARE)/fish/vendor_completions.d/smartlua.fish

clean:
	rm -rf build build-asan build-fuzz

# ---------------------------------------------------------------------------- bench
# `make bench`: smartlua against idiomatic Python (requests) and Node (fetch) baselines on the
# mock server, then the JSON cost of one 100-account page (bench/json_page.lua); prints medians
# and ratios and writes bench/results.md. BENCH_REPEAT=1 for a quick run, BENCH_ONLY=W1,W3 (or
# JSON) and BENCH_CLIENTS=smartlua,node to narrow it. Packages only the bench needs:
BENCH_PACKAGES = python3 python3-requests time
# Node: any node on PATH will do (this image has Node 20); else Debian's nodejs.
BENCH_NODE = $(if $(shell command -v node 2>/dev/null),,nodejs)

.PHONY: bench
bench: deps
	$(call install_missing,$(BENCH_PACKAGES) $(BENCH_NODE))
	$(MAKE) all
	/usr/bin/python3 bench/run.py

# ---------------------------------------------------------------------------- fuzzing
include fuzz/fuzz.mk
