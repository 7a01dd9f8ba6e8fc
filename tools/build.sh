#!/usr/bin/env bash
# Configures and builds fluxion into build/ (or $FLUXION_BUILD_DIR) with Ninja.
# Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${FLUXION_BUILD_DIR:-build}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
fi
jobs=${FLUXION_JOBS:-$(nproc)}
cmake --build "$build_dir" -j "$jobs"
