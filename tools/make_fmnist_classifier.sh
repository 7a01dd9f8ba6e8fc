#!/usr/bin/env bash
# Re-trains the Fashion-MNIST classifier that fluxion ships (metrics/weights/) and that
# `--features fmnist` uses: 6 epochs of Adam, seed 0, on the CPU with Debian's LibTorch
# (metrics/fmnist_classifier.cpp), into a fresh cache, then compares it with the shipped file.
#   tools/make_fmnist_classifier.sh [--install]   (--install replaces the shipped file)
set -euo pipefail
cd "$(dirname "$0")/.."
fx=${FLUXION_BUILD_DIR:-build}/fluxion
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
FLUXION_CACHE=$cache "$fx" stats --images fashion-mnist:test --features "fmnist:$cache/fmnist_classifier.safetensors" \
  --device cpu -o "$cache/ref.npz"
"$fx" inspect "$cache/fmnist_classifier.safetensors" | grep -i accuracy || true
shipped=metrics/weights/fmnist_classifier.safetensors
if [ "${1:-}" = --install ]; then
  mkdir -p metrics/weights && cp "$cache/fmnist_classifier.safetensors" "$shipped"
  echo "installed $shipped"
elif cmp -s "$cache/fmnist_classifier.safetensors" "$shipped"; then
  echo "identical to $shipped"
else
  echo "differs from $shipped (another CPU, BLAS or LibTorch build rounds differently)"
fi
