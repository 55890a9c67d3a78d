# libFuzzer targets for what the network sends and what users type (included by the top-level
# Makefile after its variables; needs B, CORE_SRC, REQ_CFLAGS, PKG_CFLAGS, LUA_LIBS, PKG_LIBS,
# LUA, SEED, LUA_FILES and the install_missing macro from there).
#
#   make fuzz                      every target for FUZZ_SECONDS (60) each, on a copy of its seeds;
#                                  fails on a finding, the reproducer left in $(B)-fuzz/crashes/
#   make fuzz FUZZ_TARGETS=fuzz_csv FUZZ_SECONDS=600    one target, longer
#   make fuzz-smoke                each target over its seed corpus only (seconds; for CI)
#   make fuzz-build / fuzz-deps / fuzz-clean
#
# Replay one input: $(B)-fuzz/fuzz_csv $(B)-fuzz/crashes/fuzz_csv-crash-...
FUZZ_SAVED_GOAL := $(.DEFAULT_GOAL)

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_B       ?= $(B)-fuzz
FUZZ_TARGETS ?= fuzz_json fuzz_headers fuzz_request fuzz_csv fuzz_journal fuzz_plan
FUZZ_ALL      = fuzz_json fuzz_headers fuzz_request fuzz_csv fuzz_journal fuzz_plan
FUZZ_PACKAGES = clang libclang-rt-14-dev

# -fno-sanitize-recover: undefined behaviour stops the run like a crash, so it is kept.
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

FUZZ_CORE_OBJ = $(CORE_SRC:src/%.c=$(FUZZ_B)/obj/%.o)
FUZZ_OWN_OBJ  = $(patsubst %,$(FUZZ_B)/obj/%.o,$(FUZZ_ALL) harness)
FUZZ_BINS     = $(addprefix $(FUZZ_B)/,$(FUZZ_ALL))

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-deps fuzz-clean

# The project's own build packages first (liblua5.4-dev, libcurl, libmicrohttpd, lua5.4), then clang.
fuzz-deps: deps
	$(call install_missing,$(FUZZ_PACKAGES))

fuzz-build: $(FUZZ_BINS)

$(FUZZ_B)/obj $(FUZZ_B)/crashes:
	mkdir -p $@

# The project's own sources, instrumented like the targets.
$(FUZZ_CORE_OBJ): $(FUZZ_B)/obj/%.o: src/%.c $(wildcard src/*.h) | $(FUZZ_B)/obj fuzz-deps
	$(FUZZ_CC) $(REQ_CFLAGS) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(FUZZ_OWN_OBJ): $(FUZZ_B)/obj/%.o: fuzz/%.c fuzz/harness.h $(wildcard src/*.h) | $(FUZZ_B)/obj fuzz-deps
	$(FUZZ_CC) $(REQ_CFLAGS) -Ifuzz $(FUZZ_CFLAGS) $(PKG_CFLAGS) -c $< -o $@

# The Lua modules compiled in, as in the shipped binary (the readers run from these).
$(FUZZ_B)/embedded_data.c: tools/embed.lua $(LUA_FILES) $(SEED) | $(FUZZ_B)/obj
	$(LUA) tools/embed.lua $@ $(SEED) $(LUA_FILES)

$(FUZZ_B)/obj/embedded_data.o: $(FUZZ_B)/embedded_data.c | $(FUZZ_B)/obj fuzz-deps
	$(FUZZ_CC) $(REQ_CFLAGS) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(FUZZ_BINS): $(FUZZ_B)/%: $(FUZZ_B)/obj/%.o $(FUZZ_B)/obj/harness.o $(FUZZ_CORE_OBJ) $(FUZZ_B)/obj/embedded_data.o
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(LUA_LIBS) $(PKG_LIBS) -lm -pthread

# Each target on a fresh copy of its seeds (the repository corpus never grows), with a bounded
# input size and a per-input timeout so that a hang or a quadratic blow-up counts as a finding.
fuzz: $(addprefix $(FUZZ_B)/,$(FUZZ_TARGETS)) | $(FUZZ_B)/crashes
	@FUZZ_B='$(FUZZ_B)' FUZZ_SECONDS='$(FUZZ_SECONDS)' sh fuzz/run.sh fuzz $(FUZZ_TARGETS)

fuzz-smoke: $(addprefix $(FUZZ_B)/,$(FUZZ_TARGETS)) | $(FUZZ_B)/crashes
	@FUZZ_B='$(FUZZ_B)' sh fuzz/run.sh smoke $(FUZZ_TARGETS)

fuzz-clean:
	rm -rf $(FUZZ_B)

# An include placed before the first rule must not make `make` alone run the fuzzers.
.DEFAULT_GOAL := $(FUZZ_SAVED_GOAL)
