#!/usr/bin/env bash
# The default job: installs what is missing, builds fluxion, trains the class-conditional model
# on Fashion-MNIST (runs/default), samples a grid and 1,000 images, and reports metrics against
# the Fashion-MNIST test set. Re-running continues or reuses what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh
fx=${FLUXION_BUILD_DIR:-build}/fluxion
run=${FLUXION_RUN:-runs/default}

if [ -f "$run/checkpoints/last.safetensors" ]; then
  "$fx" train --resume --out "$run" "$@"
else
  "$fx" train --out "$run" "$@"
fi
"$fx" sample --ckpt "$run/checkpoints/last.safetensors" --n 1000 --batch 100 --sampler heun --steps 25 \
  --out "$run/final" --grid "$run/grid.png" --npz "$run/samples.npz"
"$fx" eval --samples "$run/samples.npz" --ref fashion-mnist:test --features fmnist \
    --metrics fd,kid,pr --json "$run/eval.json"
echo "default run: $run (grid: $run/grid.png, report: $run/report.html)"
