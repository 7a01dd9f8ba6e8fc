#!/usr/bin/env bash
# Fuzzes every parser that reads a file (fuzz/fuzz_*.cpp) with libFuzzer, ASan and UBSan.
#   tools/fuzz.sh [SECONDS] [TARGET...]     (default 60 s each, every target, one after the other)
# FLUXION_FUZZ_RUNS=N also stops each target after N executions (whichever comes first);
# FLUXION_JOBS=N compiles with N jobs (default: all cores); FLUXION_FUZZ_NICE=N (default 10) is
# the niceness of the fuzzing, which takes one core.
# Builds with clang into build-fuzz/ (FLUXION_FUZZ=ON: only the parsers, see
# cmake/FluxionFuzz.cmake), seeds each corpus from fuzz_make_seeds, keeps the corpora in
# build-fuzz/corpus/<target> between runs, writes crashing inputs to build-fuzz/findings/<target>/
# and the log to build-fuzz/<target>.log, and prints executions and findings per target. Exit
# status 1 when any target found something. Inputs are capped at 1 MiB (-max_len), memory at
# 2 GiB (-rss_limit_mb, and so any single allocation above it), 20 s per input (-timeout).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}; shift || true
build=${FLUXION_FUZZ_BUILD_DIR:-build-fuzz}
mkdir -p "$build"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLUXION_FUZZ=ON \
    -DFLUXION_BUILD_TESTS=OFF -DFLUXION_USE_PCH=OFF > "$build/configure.log" 2>&1 \
    || { tail -20 "$build/configure.log"; rm -f "$build/CMakeCache.txt"; exit 2; }
fi
cmake --build "$build" --target fuzz_targets -j "${FLUXION_JOBS:-$(nproc)}" > "$build/build.log" 2>&1 \
  || { grep -m10 -E "error|Error|undefined" "$build/build.log"; exit 2; }
rm -rf "$build/seeds" && mkdir -p "$build/seeds" && "$build/fuzz_make_seeds" "$build/seeds" > /dev/null || exit 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(cd "$build" && find . -maxdepth 1 -type f -executable -name 'fuzz_*' ! -name fuzz_make_seeds -printf '%f\n' | sort))
runs=()
[ -n "${FLUXION_FUZZ_RUNS:-}" ] && runs=(-runs="$FLUXION_FUZZ_RUNS")
scratch_root=/dev/shm
[ -d "$scratch_root" ] && [ -w "$scratch_root" ] || scratch_root=${TMPDIR:-/tmp}
status=0
printf '%-24s %12s %10s %8s %8s\n' target executions exec/s seconds findings
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t findings=$build/findings/$t
  mkdir -p "$corpus" "$findings"
  [ -d "$build/seeds/$t" ] && cp -n "$build/seeds/$t"/* "$corpus"/ 2>/dev/null
  # the scratch files of the targets go to a private folder in memory: on ext4, rewriting a file
  # through truncation flushes it to disk at close (auto_da_alloc), 10x slower per input
  scratch=$(mktemp -d -p "$scratch_root")
  start=$(date +%s)
  TMPDIR=$scratch ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    nice -n "${FLUXION_FUZZ_NICE:-10}" "$build/$t" "$corpus" -max_total_time="$seconds" "${runs[@]}" \
    -max_len=1048576 -rss_limit_mb=2048 -timeout=20 \
    -artifact_prefix="$findings/" -print_final_stats=1 > "$build/$t.log" 2>&1
  rc=$?
  elapsed=$(( $(date +%s) - start ))
  rm -rf "$scratch"
  execs=$(grep -m1 "stat::number_of_executed_units" "$build/$t.log" | awk '{print $2}')
  rate=$(grep -m1 "stat::average_exec_per_sec" "$build/$t.log" | awk '{print $2}')
  found=$(ls "$findings" | wc -l)
  printf '%-24s %12s %10s %8s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "$elapsed" "$found"
  [ "$rc" -eq 0 ] && [ "$found" -eq 0 ] && [ -n "$execs" ] || status=1
done
exit $status
