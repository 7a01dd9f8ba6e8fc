#!/usr/bin/env bash
# Formats every tracked C++ file with the committed .clang-format (Debian's clang-format 14);
# --check only lists the files that differ and fails when there are any.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format > /dev/null || { echo "format.sh: clang-format not found (apt-get install clang-format)" >&2; exit 1; }
if [ "${1:-}" = --check ]; then
  bad=$(git ls-files '*.cpp' '*.h' '*.cu' | while read -r f; do clang-format --style=file "$f" | cmp -s - "$f" || echo "$f"; done)
  [ -z "$bad" ] && { echo "format.sh: all files formatted"; exit 0; }
  echo "format.sh: not formatted (run tools/format.sh):"; sed 's/^/  /' <<<"$bad"; exit 1
fi
git ls-files '*.cpp' '*.h' '*.cu' | xargs clang-format --style=file -i
