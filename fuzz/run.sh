#!/bin/sh
# fuzz/run.sh fuzz|smoke TARGET...  (make fuzz / make fuzz-smoke call it)
#   fuzz:  each target for FUZZ_SECONDS on a scratch copy of fuzz/corpus/TARGET
#   smoke: each target once over every seed file
# Prints "TARGET: N executions in S s, K crashes" per target; exits 1 when any target found
# something, whose input stays in $FUZZ_B/crashes/TARGET-crash-* (or -timeout-, -oom-, -leak-).
cd "$(dirname "$0")/.." || exit 1
mode=$1
shift
B=${FUZZ_B:-build-fuzz}
S=${FUZZ_SECONDS:-60}
crashes=$B/crashes
mkdir -p "$crashes" "$B/logs"

max_len() {
  case $1 in
    fuzz_headers | fuzz_request) echo 4096 ;;
    *) echo 16384 ;;
  esac
}

count_artifacts() { ls "$crashes" 2>/dev/null | grep -c "^$1-"; }

status=0
for t in "$@"; do
  bin=$B/$t
  seeds=fuzz/corpus/$t
  log=$B/logs/$t-$mode.log
  dict=
  [ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
  before=$(count_artifacts "$t")
  start=$(date +%s)
  if [ "$mode" = smoke ]; then
    # shellcheck disable=SC2046 # one argument per seed file
    "$bin" -artifact_prefix="$crashes/$t-" -timeout=10 $(find "$seeds" -type f | sort) >"$log" 2>&1
    rc=$?
    execs=$(grep -c '^Executed ' "$log")
  else
    work=$B/work/$t
    rm -rf "$work"
    mkdir -p "$work"
    cp "$seeds"/* "$work"/
    # shellcheck disable=SC2086 # $dict is empty or one flag
    "$bin" -max_total_time="$S" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$crashes/$t-" $dict "$work" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  fi
  secs=$(($(date +%s) - start))
  found=$(($(count_artifacts "$t") - before))
  [ "$rc" -ne 0 ] && [ "$found" -eq 0 ] && found=1 # died without an artifact: still a failure
  printf '%s: %s executions in %s s, %d crashes\n' "$t" "${execs:-0}" "$secs" "$found"
  if [ "$found" -gt 0 ]; then
    status=1
    grep -E 'FINDING|ERROR: |runtime error|^SUMMARY' "$log" | head -8 | sed "s/^/  /"
    newest=$(ls -t "$crashes" | grep "^$t-" | head -1)
    [ -n "$newest" ] && echo "  reproduce: $bin $crashes/$newest   (log: $log)"
  fi
done
exit $status
