#!/usr/bin/env bash
# The default job: installs what is missing, builds fluxion, trains the class-conditional model
# on Fashion-MNIST (runs/default) with train/configs/fmnist-cpu.toml, samples a grid and 1,000
# images, and reports metrics against the Fashion-MNIST test set. Re-running continues or reuses
# what is already there. Extra arguments go to `fluxion train` (e.g. --steps 600).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh
fx=${FLUXION_BUILD_DIR:-build}/fluxion
run=${FLUXION_RUN:-runs/default}
recipe=train/configs/fmnist-cpu.toml

# Two data-parallel ranks train what one process trains (the same batches, to float rounding) and
# sample the same files byte for byte, but use two cores better than one process's intra-op
# threads do (docs/benchmarks.md).
ranks=("$fx")
if [ "$(nproc)" -ge 2 ] && "$fx" --version | grep -q "data parallel: .*gloo"; then
  ranks=("$fx" launch --nproc 2 --)
fi
resume=()
[ -f "$run/checkpoints/last.safetensors" ] && resume=(--resume)
"${ranks[@]}" train --config "$recipe" "${resume[@]}" --out "$run" "$@"
"${ranks[@]}" sample --config "$recipe" --ckpt "$run/checkpoints/last.safetensors" \
  --out "$run/final" --grid "$run/grid.png" --npz "$run/samples.npz"
"$fx" eval --samples "$run/samples.npz" --ref fashion-mnist:test --features fmnist \
    --metrics fd,kid,pr --json "$run/eval.json"
echo "default run: $run (grid: $run/grid.png, report: $run/report.html)"
