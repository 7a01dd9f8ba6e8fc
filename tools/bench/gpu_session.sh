#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md, on a host prepared by tools/gpu_deps.sh (see README).
#   tools/bench/gpu_session.sh build|tests|bench|train|fid   (results go to $OUT or ./gpu-results)
# `fid` times Inception feature extraction of 50,000 PNGs against pytorch-fid on the same files;
# it needs pytorch-fid's sources in $PYTORCH_FID_SRC (a checkout's src/ folder) and uses weights
# made by the golden fill rule (tools/bench/filled_inception.py), since nothing is downloaded.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-gpu-results}
mkdir -p "$out"
build=${BUILD:-/tmp/fluxion-cuda}
fx=$build/fluxion
work=${WORK:-/tmp/fluxion-gpu}
mkdir -p "$work"
eval "$(tools/gpu_deps.sh env)"
export FLUXION_CACHE=${FLUXION_CACHE:-$work/cache}

case "$1" in
  build)
    FLUXION_JOBS=$(nproc) tools/gpu_deps.sh build "$build" > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
    "$fx" --version | tee "$out/version.txt"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$out/version.txt"
    ;;
  tests)
    (cd "$build" && ctest -L "unit|golden|cuda" -j 16 --output-on-failure > "$out/ctest.log" 2>&1)
    tail -6 "$out/ctest.log"; grep -E "\*\*\*Failed|Failed  " "$out/ctest.log" | head -20
    ;;
  bench)
    { "$fx" bench --what block --device cuda --precision bf16 --attention softmax,linear --tokens 256,1024,4096 --batch 4
      "$fx" bench --what block --device cuda --precision fp32 --attention softmax,linear --tokens 256,1024,4096 --batch 4
      "$fx" bench --what train --model SiT-XL/2 --device cuda --precision bf16 --batch 64 --iterations 10
      "$fx" bench --what train --model SiT-B/2 --device cuda --precision bf16 --batch 256 --iterations 10
      "$fx" bench --what sample --model SiT-XL/2 --device cuda --precision bf16 --batch 256 --sampler euler --steps 50 --iterations 2 --warmup 1
      "$fx" bench --what sample --model SiT-B/2 --device cuda --precision bf16 --batch 256 --sampler heun --steps 25 --iterations 3 --warmup 1
    } 2>&1 | tee "$out/bench.txt"
    ;;
  train)
    steps=${STEPS:-6000}
    for objective in flow dale; do
      rm -rf "$work/$objective"
      /usr/bin/time -f "%e s wall" "$fx" train --objective "$objective" --device cuda --steps "$steps" --batch 256 \
        --ckpt-every 2000 --sample-every 2000 --log-every 100 --out "$work/$objective" > "$out/train_$objective.log" 2>&1
      tail -3 "$out/train_$objective.log"
      cp "$work/$objective/metrics.jsonl" "$out/metrics_$objective.jsonl"
      cp "$work/$objective/samples/"step-*"$steps".png "$out/grid_$objective.png" 2>/dev/null
    done
    "$fx" sample --ckpt "$work/flow/checkpoints/last.safetensors" --n 10000 --batch 2500 --sampler heun --steps 25 \
      --device cuda --npz "$work/flow.npz" 2>&1 | tail -1
    "$fx" sample --ckpt "$work/dale/checkpoints/last.safetensors" --n 10000 --batch 2500 --sampler dls \
      --device cuda --npz "$work/dale.npz" 2>&1 | tail -1
    for m in flow dale; do
      "$fx" eval --samples "$work/$m.npz" --ref fashion-mnist:test --features fmnist --metrics fd,kid,pr,spectral \
        --device cuda --json "$out/eval_$m.json" 2>&1 | tail -8
    done
    ;;
  fid)
    n=${N:-50000}
    rm -rf "$work/png"
    "$fx" sample --ckpt "$work/flow/checkpoints/last.safetensors" --n "$n" --batch 2500 --sampler euler --steps 10 \
      --device cuda --out "$work/png" 2>&1 | tail -1
    python3 tools/bench/filled_inception.py "$PYTORCH_FID_SRC" "$work/inception.safetensors" | tee "$out/fid.txt"
    { echo "pytorch-fid:"; /usr/bin/time -f "%e s wall" env PYTHONPATH="$PYTORCH_FID_SRC" python3 -m pytorch_fid \
        --save-stats --device cuda --batch-size 250 --num-workers 16 "$work/png" "$work/pytorch_fid.npz"
      echo "fluxion:"; /usr/bin/time -f "%e s wall" "$fx" stats --images "$work/png" --features "inception:$work/inception.safetensors" \
        --device cuda --batch 250 -o "$work/fluxion.npz"
      echo "FD(fluxion stats, pytorch-fid stats):"; "$fx" fid "$work/fluxion.npz" "$work/pytorch_fid.npz"
    } 2>&1 | grep -v "%|" | tee -a "$out/fid.txt"
    ;;
  *) sed -n '2,6p' "$0"; exit 2 ;;
esac
