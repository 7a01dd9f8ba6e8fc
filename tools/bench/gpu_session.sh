#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md, on a host prepared by tools/gpu_deps.sh (see README).
#   tools/bench/gpu_session.sh build|tests|asan|kernels|graphs|bench|baseline|profile|profile-block|trajectory|train|fid   (results: $OUT or ./gpu-results)
# `asan` builds the whole suite with ASan + UBSan against this host's CUDA LibTorch into
# $ASAN_BUILD (/tmp/fluxion-asan) and runs every label but slow and cuda (docs/reliability.md).
# `fid` times Inception feature extraction of 50,000 PNGs against pytorch-fid on the same files;
# it needs pytorch-fid's sources in $PYTORCH_FID_SRC (a checkout's src/ folder) and uses weights
# made by the golden fill rule (tools/bench/filled_inception.py), since nothing is downloaded.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/bench/gpu_env.sh

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
  asan)
    # the `build` phase's configuration (tools/gpu_deps.sh), the sanitizers in CMake's initial flags
    asan=${ASAN_BUILD:-/tmp/fluxion-asan}
    # protect_shadow_gap=0: CUDA maps memory where ASan keeps its shadow gap
    export ASAN_OPTIONS=detect_leaks=0:alloc_dealloc_mismatch=0:protect_shadow_gap=0
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    CXXFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g1" \
      LDFLAGS="-fsanitize=address,undefined" FLUXION_JOBS=$(nproc) tools/gpu_deps.sh build "$asan" \
      > "$out/asan_build.log" 2>&1 || { tail -30 "$out/asan_build.log"; exit 1; }
    (cd "$asan" && ctest -LE "slow|cuda" -j "$(nproc)" --output-on-failure > "$out/asan_ctest.log" 2>&1)
    grep -E "tests passed|\*\*\*Failed|Exception|Total Test time" "$out/asan_ctest.log" | head -20
    ;;
  kernels)
    # fluxion's own CUDA kernels: their cuda tests and the emulated ones, then bench with the kernels
    # on and off in one binary (FLUXION_FUSED_KERNELS), alternating, so that both columns come from
    # the same build. `build` has them wherever nvcc is found; otherwise (or built with
    # -DFLUXION_CUDA_KERNELS=OFF) a second build with them goes to $KERNELS_BUILD.
    if "$fx" --version 2>/dev/null | grep -q "fused CUDA kernels: on"; then
      kb=$build
    else
      kb=${KERNELS_BUILD:-/tmp/fluxion-kernels}
      FLUXION_CMAKE_ARGS=-DFLUXION_CUDA_KERNELS=ON FLUXION_JOBS=$(nproc) tools/gpu_deps.sh build "$kb" \
        > "$out/kernels_build.log" 2>&1 || { tail -40 "$out/kernels_build.log"; exit 1; }
    fi
    (cd "$kb" && ctest -L cuda -R "fused|modulate|rope|gated|golden|graph" --output-on-failure > "$out/kernels_ctest.log" 2>&1
     ctest -R "emulated|kernels" --output-on-failure >> "$out/kernels_ctest.log" 2>&1)
    grep -E "tests passed|Failed|\*\*\*" "$out/kernels_ctest.log" | tail -20
    "$kb/fluxion" --version
    for k in 1 0 1 0; do
      echo "== FLUXION_FUSED_KERNELS=$k"
      FLUXION_FUSED_KERNELS=$k "$kb/fluxion" bench --what train --model SiT-S/2 --device cuda --precision bf16 --batch 256 --iterations 20
    done 2>&1 | tee "$out/kernels_bench.txt"
    for k in 1 0; do
      echo "== FLUXION_FUSED_KERNELS=$k"
      FLUXION_FUSED_KERNELS=$k "$kb/fluxion" bench --what train --model SiT-B/2 --device cuda --precision bf16 --batch 256 --iterations 10
      FLUXION_FUSED_KERNELS=$k "$kb/fluxion" bench --what sample --model SiT-B/2 --device cuda --precision bf16 --batch 256 --sampler heun --steps 25 --iterations 3 --warmup 1
      # issue 13 item 6: the block without token mixing (the floor), softmax and LINA linear attention
      FLUXION_FUSED_KERNELS=$k "$kb/fluxion" bench --what block --device cuda --precision bf16 --attention none,softmax,linear --tokens 1024,2048,4096 --batch 4
      # JiT: RMSNorm + modulate, the rotary embedding and the gated residual
      FLUXION_FUSED_KERNELS=$k "$kb/fluxion" bench --what train --model JiT-B/16 --image-size 256 --device cuda --precision bf16 --batch 64 --iterations 10
    done 2>&1 | tee -a "$out/kernels_bench.txt"
    ;;
  graphs)
    # The training step replayed from a CUDA graph (train/graphed_step.h): its cuda test, bench with
    # and without, and the fmnist-300s recipe trained 3,000 steps both ways (steps/s from
    # metrics.jsonl; the two final checkpoints must hold the same tensors to the bit).
    (cd "$build" && ctest -R "graphed|CUDA graph" --output-on-failure) 2>&1 | tail -8 | tee "$out/graphs.txt"
    for g in true false; do
      "$fx" bench --what train --model SiT-T/4 --image-size 32 --channels 1 --device cuda --precision bf16 \
        --batch 256 --iterations 100 --cuda-graphs $g
      "$fx" bench --what train --model SiT-S/2 --device cuda --precision bf16 --batch 256 --iterations 20 --cuda-graphs $g
      "$fx" bench --what train --model SiT-B/2 --device cuda --precision bf16 --batch 256 --iterations 10 --cuda-graphs $g
      rm -rf "$work/graphs_$g"
      /usr/bin/time -f "%e s wall" "$fx" train --config train/configs/fmnist-300s.toml --device cuda --steps 3000 \
        --cuda-graphs $g --grid-images 0 --log-every 500 --ckpt-every 3000 --sample-every 3000 --out "$work/graphs_$g" \
        2>&1 | grep -v "%|" | tail -3
      grep -o '"images_per_s":[0-9.]*' "$work/graphs_$g/metrics.jsonl" | tail -2
    done 2>&1 | tee -a "$out/graphs.txt"
    python3 tools/bench/same_tensors.py "$work"/graphs_{true,false}/checkpoints/last.safetensors | tee -a "$out/graphs.txt"
    ;;
  bench)
    # block: none is the block without token mixing, the floor each attention kind adds its mixing to
    { "$fx" bench --what block --device cuda --precision bf16 --attention none,softmax,linear --tokens 256,1024,2048,4096 --batch 4
      "$fx" bench --what block --device cuda --precision fp32 --attention none,softmax,linear --tokens 256,1024,2048,4096 --batch 4
      "$fx" bench --what train --model SiT-XL/2 --device cuda --precision bf16 --batch 64 --iterations 10
      "$fx" bench --what train --model SiT-S/2 --device cuda --precision bf16 --batch 256 --iterations 20
      "$fx" bench --what train --model SiT-B/2 --device cuda --precision bf16 --batch 256 --iterations 10
      "$fx" bench --what sample --model SiT-XL/2 --device cuda --precision bf16 --batch 256 --sampler euler --steps 50 --iterations 2 --warmup 1
      "$fx" bench --what sample --model SiT-B/2 --device cuda --precision bf16 --batch 256 --sampler heun --steps 25 --iterations 3 --warmup 1
    } 2>&1 | tee "$out/bench.txt"
    ;;
  train)
    # RUNS: flow, dale (fluxion's log input, noise output) and dale-authors (their linear input,
    # score output and (sigma^2 t)^2 weighting); each trains STEPS steps, then 10,000 samples are
    # evaluated against the Fashion-MNIST test set.
    steps=${STEPS:-6000}
    for run in ${RUNS:-flow dale dale-authors}; do
      case "$run" in
        flow) args=(--objective flow); sampler=(--sampler heun --steps 25) ;;
        dale) args=(--objective dale); sampler=(--sampler dls) ;;
        dale-authors) args=(--objective dale --dale-input linear --dale-output score --dale-weighting sigma2t)
                      sampler=(--sampler dls) ;;
        *) echo "unknown run $run"; exit 2 ;;
      esac
      rm -rf "$work/$run"
      /usr/bin/time -f "%e s wall" "$fx" train "${args[@]}" --device cuda --steps "$steps" --batch 256 \
        --ckpt-every 2000 --sample-every 2000 --log-every 100 --out "$work/$run" > "$out/train_$run.log" 2>&1
      tail -3 "$out/train_$run.log"
      cp "$work/$run/metrics.jsonl" "$out/metrics_$run.jsonl"
      /usr/bin/time -f "%e s wall" "$fx" sample --ckpt "$work/$run/checkpoints/last.safetensors" --n 10000 --batch 2500 \
        "${sampler[@]}" --device cuda --npz "$work/$run.npz" > "$out/sample_$run.log" 2>&1
      tail -2 "$out/sample_$run.log"
      "$fx" sample --ckpt "$work/$run/checkpoints/last.safetensors" --n 100 --batch 100 "${sampler[@]}" \
        --device cuda --grid "$out/grid_$run.png" > /dev/null 2>&1
      "$fx" eval --samples "$work/$run.npz" --ref fashion-mnist:test --features fmnist --metrics fd,kid,pr \
        --device cuda --json "$out/eval_$run.json" 2>&1 | tail -8
    done
    ;;
  default-sizes)
    # The default run's length: the CPU default's recipe (fp32, SiT-T/4, lr 1e-3, EMA 0.995) at
    # several (steps, batch) of about the same image count, on the GPU for speed; FD of 10,000
    # samples (Heun 25) in the classifier space, as `tools/run_default.sh` reports it.
    for sb in ${SIZES:-1000x64 1500x64 1800x32 1200x48 3000x32}; do
      steps=${sb%x*}; batch=${sb#*x}; dir="$work/size-$sb"
      rm -rf "$dir"
      "$fx" train --device cuda --precision fp32 --steps "$steps" --batch "$batch" --out "$dir" > "$out/size_$sb.log" 2>&1
      "$fx" sample --ckpt "$dir/checkpoints/last.safetensors" --n 10000 --batch 2500 --sampler heun --steps 25 \
        --device cuda --npz "$dir/s.npz" --grid "$out/grid_size_$sb.png" > /dev/null 2>&1
      echo "$sb: $("$fx" eval --samples "$dir/s.npz" --ref fashion-mnist:test --features fmnist --metrics fd,pr \
        --device cuda --json "$out/eval_size_$sb.json" 2>&1 | tr '\n' ' ' | cut -c1-300)"
    done
    ;;
  baseline)
    # The PyTorch rows beside `bench`: the official SiT model code (models.py) in $SIT_SRC.
    # MODES: eager (the official code as it is) and/or compile (torch.compile of the same model).
    for mode in ${MODES:-eager compile}; do
      b=(python3 tools/bench/sit_pytorch_baseline.py "$SIT_SRC")
      [ "$mode" = compile ] && b+=(--compile)
      { echo "== $mode"
        "${b[@]}" --what train --model SiT-XL/2 --batch 64 --iterations 10
        "${b[@]}" --what train --model SiT-S/2 --batch 256 --iterations 20
        "${b[@]}" --what train --model SiT-B/2 --batch 256 --iterations 10
        "${b[@]}" --what sample --model SiT-XL/2 --batch 256 --sampler euler --steps 50 --iterations 2 --warmup 1
        "${b[@]}" --what sample --model SiT-B/2 --batch 256 --sampler heun --steps 25 --iterations 3 --warmup 1
      } 2>&1 | tee -a "$out/baseline.txt"
    done
    ;;
  profile)
    # Kernel tables of one workload in fluxion and in the official code (eager and compiled):
    # Chrome traces of 3 iterations after the timed ones, then tools/bench/trace_table.py.
    # WHAT="train SiT-S/2 256" by default; e.g. WHAT="sample SiT-XL/2 64".
    read -r what model batch <<< "${WHAT:-train SiT-S/2 256}"
    tag=${what}_${model//\//}
    "$fx" bench --what "$what" --model "$model" --device cuda --precision bf16 --batch "$batch" --iterations 10 \
      --profile "$out/trace_fluxion_$tag.json" | tee "$out/profile_$tag.txt"
    for mode in eager compile; do
      b=(python3 tools/bench/sit_pytorch_baseline.py "$SIT_SRC" --what "$what" --model "$model" --batch "$batch"
         --iterations 10 --profile "$out/trace_${mode}_$tag.json")
      [ "$mode" = compile ] && b+=(--compile)
      "${b[@]}" | tee -a "$out/profile_$tag.txt"
    done
    python3 tools/bench/trace_table.py "$out"/trace_{fluxion,eager,compile}_"$tag".json --per 3 --top 30 \
      | tee -a "$out/profile_$tag.txt"
    gzip -f "$out"/trace_*_"$tag".json
    ;;
  profile-block)
    # Kernel tables of the block at TOKENS (4096) tokens, bf16: the floor, softmax and LINA linear
    # attention (issue 13 item 6: where the linear block's time above the floor goes).
    tokens=${TOKENS:-4096}
    "$fx" bench --what block --device cuda --precision bf16 --attention none,softmax,linear --tokens "$tokens" \
      --batch 4 --profile "$out/trace_block.json" | tee "$out/profile_block.txt"
    python3 tools/bench/trace_table.py "$out"/trace_block.{none,softmax,linear}-"$tokens".json --per 3 --top 25 \
      | tee -a "$out/profile_block.txt"
    gzip -f "$out"/trace_block.*.json
    ;;
  trajectory)
    # The golden training trajectory of the official SiT code (tests/golden/, see its script).
    python3 tests/python/train_trajectory.py "$SIT_SRC" "$out/train_trajectory.safetensors" 2>&1 | tee "$out/trajectory.txt"
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
