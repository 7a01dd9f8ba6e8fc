#!/usr/bin/env bash
# Installs what is missing, builds fluxion and runs the test suite (all labels except the opt-in
# `slow`), then lists the skipped tests with their reasons (`cuda` tests skip without a GPU).
# Extra arguments go to ctest, e.g. -L unit. With CI set (a CPU machine with ../shared), a skip
# of anything but a `cuda` test fails the run: it means the machine lacks what the suite needs.
# FLUXION_SANITIZE=address,undefined builds into build-sanitize/ with those sanitizers (LibTorch
# itself is not instrumented; leak checks are off, since LibTorch's caches live until exit).
set -euo pipefail
cd "$(dirname "$0")/.."
# CTest registers each Catch2 case by name and splits names at ';' into broken half-tests.
if grep -n 'TEST_CASE("[^"]*;' tests/*.cpp; then
  echo "run_tests.sh: test names must not contain ';'" >&2
  exit 1
fi
tools/install_deps.sh
if [ -n "${FLUXION_SANITIZE:-}" ]; then
  export FLUXION_BUILD_DIR=${FLUXION_BUILD_DIR:-build-sanitize}
  flags="-fsanitize=$FLUXION_SANITIZE -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
  tools/build.sh -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=$FLUXION_SANITIZE" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=$FLUXION_SANITIZE"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:alloc_dealloc_mismatch=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
else
  tools/build.sh
fi
cd "${FLUXION_BUILD_DIR:-build}"
status=0
ctest --output-on-failure -j "$(nproc)" -LE slow "$@" || status=$?

# CTest names the skipped tests but not why; the why is the "SKIPPED: <reason>" line that
# test::skip_test printed, which CTest keeps in its log under the test's name.
skips=$(awk '/^[0-9]+\/[0-9]+ Test: / { sub(/^[0-9]+\/[0-9]+ Test: /, ""); name = $0 }
             /^SKIPPED: / { sub(/^SKIPPED: /, ""); print name "  (" $0 ")" }' \
          Testing/Temporary/LastTest.log 2>/dev/null | sort) || true
if [ -z "$skips" ]; then
  echo "run_tests.sh: no test skipped"
else
  echo "run_tests.sh: skipped tests: $(wc -l <<<"$skips")"
  sed 's/^/  /' <<<"$skips"
  if [ -n "${CI:-}" ] && grep -qv '^cuda:' <<<"$skips"; then
    echo "run_tests.sh: in CI only cuda tests may skip" >&2
    status=1
  fi
fi
exit "$status"
