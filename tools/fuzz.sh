#!/usr/bin/env bash
# Fuzzes every parser that reads a file (fuzz/fuzz_*.cpp) with libFuzzer, ASan and UBSan.
#   tools/fuzz.sh [SECONDS] [TARGET...]     (default 60 s each, every target)
# Builds with clang into build-fuzz/ (FLUXION_FUZZ=ON), seeds each corpus from fuzz_make_seeds,
# keeps the corpora in build-fuzz/corpus/<target> between runs, writes crashing inputs to
# build-fuzz/findings/<target>/, and prints executions and findings per target. Exit status 1
# when any target found something. Inputs are capped at 1 MiB (-max_len) and 2 GiB of memory.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}; shift || true
build=${FLUXION_FUZZ_BUILD_DIR:-build-fuzz}
mkdir -p "$build"
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLUXION_FUZZ=ON \
    -DFLUXION_BUILD_TESTS=OFF -DFLUXION_USE_PCH=OFF > "$build/configure.log" 2>&1 \
    || { tail -20 "$build/configure.log"; rm -f "$build/CMakeCache.txt"; exit 2; }
fi
cmake --build "$build" --target fuzz_targets -j "${FLUXION_JOBS:-$(nproc)}" > "$build/build.log" 2>&1 \
  || { grep -m5 -E "error|Error" "$build/build.log"; exit 2; }
mkdir -p "$build/seeds" && "$build/fuzz_make_seeds" "$build/seeds" > /dev/null
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(cd "$build" && ls fuzz_* | grep -v make_seeds))
status=0
printf '%-24s %12s %10s %8s\n' target executions exec/s findings
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t findings=$build/findings/$t
  mkdir -p "$corpus" "$findings"
  [ -d "$build/seeds/$t" ] && cp -n "$build/seeds/$t"/* "$corpus"/ 2>/dev/null
  # the scratch files of the targets go to a private folder
  scratch=$(mktemp -d)
  TMPDIR=$scratch ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/$t" "$corpus" -max_total_time="$seconds" -max_len=1048576 -rss_limit_mb=2048 -timeout=20 \
    -artifact_prefix="$findings/" -print_final_stats=1 > "$build/$t.log" 2>&1
  rm -rf "$scratch"
  execs=$(grep -m1 "stat::number_of_executed_units" "$build/$t.log" | awk '{print $2}')
  rate=$(grep -m1 "stat::average_exec_per_sec" "$build/$t.log" | awk '{print $2}')
  found=$(ls "$findings" | wc -l)
  printf '%-24s %12s %10s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "$found"
  [ "$found" -eq 0 ] && [ -n "$execs" ] || status=1
done
exit $status
