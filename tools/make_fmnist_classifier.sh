#!/usr/bin/env bash
# Re-trains one of the Fashion-MNIST feature networks that fluxion ships (metrics/weights/) on the
# CPU with Debian's LibTorch, into a fresh cache, then compares it with the shipped file:
#   classifier (default)  `--features fmnist`: conv-conv-fc-fc, 6 epochs of Adam, seed 0
#                         (metrics/fmnist_classifier.cpp), a few minutes
#   resnet                `--features fmnist-resnet`: a small ResNet with BatchNorm and average
#                         pooling, 4 epochs of AdamW with cosine lr and random flips, seed 0
#                         (metrics/fmnist_resnet.cpp), about ten minutes on 2 cores
#   tools/make_fmnist_classifier.sh [classifier|resnet] [--install]   (--install replaces the shipped file)
set -euo pipefail
cd "$(dirname "$0")/.."
net=classifier
case "${1:-}" in
  classifier | resnet) net=$1; shift ;;
esac
case "$net" in
  classifier) spec=fmnist file=fmnist_classifier.safetensors ;;
  resnet) spec=fmnist-resnet file=fmnist_resnet.safetensors ;;
esac
fx=${FLUXION_BUILD_DIR:-build}/fluxion
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
start=$(date +%s)
FLUXION_CACHE=$cache "$fx" stats --images fashion-mnist:test --features "$spec:$cache/$file" \
  --device cpu -o "$cache/ref.npz"
echo "trained and measured in $(($(date +%s) - start)) s"
"$fx" inspect "$cache/$file" | grep -i -E "accuracy|recipe" || true
shipped=metrics/weights/$file
if [ "${1:-}" = --install ]; then
  mkdir -p metrics/weights && cp "$cache/$file" "$shipped"
  echo "installed $shipped"
elif cmp -s "$cache/$file" "$shipped"; then
  echo "identical to $shipped"
else
  echo "differs from $shipped (another CPU, BLAS or LibTorch build rounds differently)"
fi
