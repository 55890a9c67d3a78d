#!/bin/sh
# Runs every spec under the named suites (default: lua5.4 smartlua) and ends with one line
# "N passed, N failed".
#   lua5.4    Debian's stock lua5.4 loading build/smartlead/core.so
#   smartlua  inside the smartlua host (embedded modules)
#   valgrind  lua5.4 + core.so under valgrind memcheck: errors and definite/indirect leaks fail
#   asan      the AddressSanitizer + UBSan builds (make B=build-asan): the module in lua5.4,
#             and the host as every child process the specs start (scripts, commands, REPL)
# SPEC_FILTER=spec/x_spec.lua runs one file (default: spec examples/spec).
cd "$(dirname "$0")/.." || exit 1
BUSTED=${BUSTED:-/usr/bin/busted}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# journals and other state the runs write stay in the scratch dir, not in the user's home
export XDG_STATE_HOME="$out/state"
status=0

run_suite() { # name, interpreter...
  name=$1; shift
  "$@" "$BUSTED" $BUSTED_ARGS -o TAP $SPEC_FILTER > "$out/$name.tap" 2>&1
  rc=$?
  [ $rc -eq 0 ] || status=1
  # busted's TAP lines: "ok N - name" / "not ok N - name"; keep failures visible
  grep -E '^not ok' -A 12 "$out/$name.tap" | sed "s/^/[$name] /"
  p=$(grep -cE '^ok ' "$out/$name.tap"); f=$(grep -cE '^not ok ' "$out/$name.tap")
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
    echo "[$name] no test ran:"; tail -20 "$out/$name.tap"; f=1; status=1
  fi
  if [ $rc -eq 99 ]; then # valgrind's and the sanitizers' exit code: memory errors or leaks
    echo "[$name] memory errors or leaks:"; grep -E '^==[0-9]+==|^SUMMARY|runtime error' "$out/$name.tap" | head -60
    f=$((f + 1))
  fi
  echo "[$name] $p passed, $f failed"
  passed=$((passed + p)); failed=$((failed + f))
}

suite_lua() { run_suite lua5.4 lua5.4; }

# --no-journal: the specs' writes (many failing on purpose) are fixtures, not a user's run whose
# writes should be journaled and whose failed writes make the exit code 4
suite_smartlua() { run_suite smartlua build/smartlua --no-journal; }

suite_valgrind() {
  # arrivals lag their starts under valgrind: timing specs allow more slack, big specs scale down
  SMARTLUA_SPEC_TIMING_SLACK=0.3 SMARTLUA_SPEC_SCALE=0.1 \
    run_suite valgrind valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 lua5.4
}

suite_asan() {
  [ -x build-asan/smartlua ] && [ -f build-asan/smartlead/core.so ] || { echo "[asan] build-asan is missing: make check-asan"; failed=$((failed + 1)); status=1; return; }
  # lua5.4 itself is not instrumented: the runtime comes first so the module can load
  preload="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
  export ASAN_OPTIONS="detect_leaks=1:exitcode=99:abort_on_error=0" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=99"
  export LSAN_OPTIONS="suppressions=$(pwd)/spec/lsan.supp:print_suppressions=0"
  SMARTLUA_SPEC_SANITIZER=asan SMARTLUA_SPEC_TIMING_SLACK=0.15 SMARTLUA_SPEC_SCALE=0.25 SMARTLUA_BIN="$(pwd)/build-asan/smartlua" BUSTED_ARGS="--cpath=build-asan/?.so --helper=spec/asan_helper.lua" \
    run_suite asan-module env LD_PRELOAD="$preload" lua5.4
}

passed=0; failed=0
# the project's specs, and the examples' specs (examples/spec: written as a user writes them)
SPEC_FILTER=${SPEC_FILTER:-spec examples/spec}
[ $# -gt 0 ] || set -- lua5.4 smartlua
for suite in "$@"; do
  case $suite in
    lua5.4) suite_lua ;;
    smartlua) suite_smartlua ;;
    valgrind) suite_valgrind ;;
    asan) suite_asan ;;
    *) echo "spec/run.sh: unknown suite '$suite' (lua5.4, smartlua, valgrind, asan)"; exit 2 ;;
  esac
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
