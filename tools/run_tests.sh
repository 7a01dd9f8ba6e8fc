#!/usr/bin/env bash
# Installs what is missing, builds fluxion and runs the test suite (all labels except the opt-in
# `slow`; `cuda` tests skip themselves without a GPU). Extra arguments go to ctest, e.g. -L unit.
set -euo pipefail
cd "$(dirname "$0")/.."
# CTest registers each Catch2 case by name and splits names at ';' into broken half-tests.
if grep -n 'TEST_CASE("[^"]*;' tests/*.cpp; then
  echo "run_tests.sh: test names must not contain ';'" >&2
  exit 1
fi
tools/install_deps.sh
tools/build.sh
cd "${FLUXION_BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" -LE slow "$@"
