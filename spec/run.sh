#!/bin/sh
# Runs every spec twice: under Debian's stock lua5.4 (loading build/smartlead/core.so) and
# inside the smartlua host (embedded modules), then under valgrind. Ends with one line
# "N passed, N failed". SKIP_VALGRIND=1 skips the valgrind pass.
cd "$(dirname "$0")/.." || exit 1
BUSTED=${BUSTED:-/usr/bin/busted}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# journals and other state the runs write stay in the scratch dir, not in the user's home
export XDG_STATE_HOME="$out/state"
status=0

run_suite() { # name, interpreter...
  name=$1; shift
  "$@" "$BUSTED" -o TAP "$SPEC_FILTER" > "$out/$name.tap" 2>&1
  rc=$?
  [ $rc -eq 0 ] || status=1
  # busted's TAP lines: "ok N - name" / "not ok N - name"; keep failures visible
  grep -E '^not ok' -A 12 "$out/$name.tap" | sed "s/^/[$name] /"
  p=$(grep -cE '^ok ' "$out/$name.tap"); f=$(grep -cE '^not ok ' "$out/$name.tap")
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
    echo "[$name] no test ran:"; tail -20 "$out/$name.tap"; f=1; status=1
  fi
  if [ $rc -eq 99 ]; then # valgrind's own exit code: memory errors or leaks
    echo "[$name] valgrind found memory errors or leaks:"; grep -E '^==[0-9]+==' "$out/$name.tap" | head -60
    f=$((f + 1))
  fi
  echo "[$name] $p passed, $f failed"
  passed=$((passed + p)); failed=$((failed + f))
}

passed=0; failed=0
SPEC_FILTER=${SPEC_FILTER:-spec}
run_suite lua5.4 lua5.4
# --no-journal: the specs' writes (many failing on purpose) are fixtures, not a user's run whose
# writes should be journaled and whose failed writes make the exit code 4
run_suite smartlua build/smartlua --no-journal
# The whole client life under valgrind: create, many requests, errors, close, collection.
if [ "${SKIP_VALGRIND:-0}" != 1 ]; then
  # arrivals lag their starts under valgrind: timing specs allow more slack
  export SMARTLUA_SPEC_TIMING_SLACK=0.3
  run_suite valgrind valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 lua5.4
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
