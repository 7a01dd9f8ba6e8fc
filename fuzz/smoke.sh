#!/usr/bin/env bash
# fuzz/smoke.sh TARGET_BINARY SEED_DIR SECONDS: the `ctest -L fuzz` check of one libFuzzer target
# (-DFLUXION_FUZZ=ON builds only). Fuzzes a throw-away copy of the seeds for SECONDS, with the
# limits of tools/fuzz.sh; fails on any finding (libFuzzer's own non-zero exit).
set -euo pipefail
target=$1 seeds=$2 seconds=$3
# scratch in memory where possible (see tools/fuzz.sh)
scratch_root=/dev/shm
[ -d "$scratch_root" ] && [ -w "$scratch_root" ] || scratch_root=${TMPDIR:-/tmp}
work=$(mktemp -d -p "$scratch_root")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/tmp"
cp "$seeds"/* "$work/corpus"/
# LibTorch's caches live until exit (no leak checks); a failed allocation is the parser's to report
status=0
TMPDIR=$work/tmp ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
  "$target" "$work/corpus" -max_total_time="$seconds" -max_len=1048576 -rss_limit_mb=2048 -timeout=20 \
  -artifact_prefix="$work/" -print_final_stats=1 > "$work/log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
  tail -60 "$work/log"
else
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec)" "$work/log"
fi
exit "$status"
