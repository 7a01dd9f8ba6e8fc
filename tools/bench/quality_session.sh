#!/usr/bin/env bash
# Training quality at equal wall-clock compute on one GPU (issue 12): fluxion against the official
# SiT code (willisma/SiT, in $SIT_SRC), SiT-S/2 on Fashion-MNIST (32x32x1), batch 256, lr 1e-4,
# EMA 0.999, bf16; each side samples 10,000 class-balanced images (Euler, 50 steps, no guidance)
# from its EMA, evaluated against the Fashion-MNIST test set in the classifier's feature space.
#   tools/bench/gpu_session.sh build          # first: the fluxion binary in $BUILD
#   [RUNS="fx off"] [SEEDS="0 1"] [SECONDS_BUDGET=300] [FX_STEPS=7000] tools/bench/quality_session.sh
# fx   fluxion train --config train/configs/sit.toml for FX_STEPS steps (fluxion has no wall-clock
#      limit: choose FX_STEPS to fit the budget; the run's loop time is reported beside it)
# off  tools/bench/sit_fmnist_official.py for SECONDS_BUDGET seconds (torch.compile included;
#      OFF_ARGS adds options, e.g. --no-compile), which samples its own EMA; fluxion also samples
#      the official EMA (row off-S/fx-sampler), a cross-check of sampling against training
# Every run and evaluation is kept in $WORK/quality; each call rewrites the table of all of them
# to $OUT/quality.txt, so the sides and seeds may run in separate calls (RUNS=table: only the
# table). $OUT (default ./gpu-results) gets quality.txt, quality-logs.tar.gz (logs, eval JSON,
# metrics.jsonl, grids) and the grids of the first seed of this call. One side of one seed takes
# about the budget plus 2-3 minutes (sampling, evaluation; the first evaluation also trains the
# Fashion-MNIST classifier, cached in $FLUXION_CACHE), e.g. RUNS=fx SEEDS=0, then RUNS=off SEEDS=0.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/bench/gpu_env.sh
q=$work/quality
mkdir -p "$q/logs" "$q/grids"
budget=${SECONDS_BUDGET:-300}
fx_steps=${FX_STEPS:-7000}
n=${N_SAMPLES:-10000}
read -r -a off_args <<< "${OFF_ARGS:-}"
sampling=(--n "$n" --batch 2500 --sampler euler --steps 50 --classes balanced --device cuda)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }  # seconds since $1

# evaluate NAME NPZ: FD, KID, precision/recall against the test set -> $q/eval-NAME.json
evaluate() {
  "$fx" eval --samples "$2" --ref fashion-mnist:test --features fmnist --metrics fd,kid,pr \
    --device cuda --json "$q/eval-$1.json" > "$q/logs/eval-$1.log" 2>&1 \
    || { echo "eval $1 failed:"; tail -5 "$q/logs/eval-$1.log"; return 1; }
  tail -6 "$q/logs/eval-$1.log"
}

# fxsample NAME CKPT SEED: fluxion's Euler-50 samples of a checkpoint -> $q/NAME.npz, grid
fxsample() {
  local t0; t0=$(now)
  "$fx" sample --ckpt "$2" "${sampling[@]}" --seed "$3" --npz "$q/$1.npz" --grid "$q/grids/grid-$1.png" \
    > "$q/logs/sample-$1.log" 2>&1 || { echo "sample $1 failed:"; tail -5 "$q/logs/sample-$1.log"; return 1; }
  echo "sample $1: $(tail -1 "$q/logs/sample-$1.log") ($(since "$t0") s wall)"
}

# info NAME KEY=VALUE...: what the table needs besides the evaluation -> $q/info-NAME.json
info() {
  local name=$1; shift
  python3 - "$q/info-$name.json" "$@" <<'PY'
import json, sys
out = {}
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    try:
        out[k] = json.loads(v)
    except ValueError:
        out[k] = v
json.dump(out, open(sys.argv[1], "w"))
PY
}

case " ${RUNS:-fx off} " in
  *" off "*) [ -d "${SIT_SRC:-}" ] || { echo "RUNS has off: set SIT_SRC to the official SiT folder"; exit 2; } ;;
esac
first_seed=""
for s in ${SEEDS:-0 1}; do
  [ -z "$first_seed" ] && first_seed=$s
  for run in ${RUNS:-fx off}; do
    case "$run" in
      fx)
        d=$q/fx-$s
        rm -rf "$d" "$q/fx-$s.npz" "$q/eval-fx-$s.json" "$q/info-fx-$s.json"
        echo "== fluxion seed $s: $fx_steps steps"
        t0=$(now)
        "$fx" train --config train/configs/sit.toml --model SiT-S/2 --image-size 32 --ema 0.999 \
          --device cuda --seed "$s" --steps "$fx_steps" --log-every 100 --ckpt-every "$fx_steps" \
          --sample-every "$fx_steps" --out "$d" > "$q/logs/train-fx-$s.log" 2>&1
        rc=$?
        wall=$(since "$t0")
        tail -2 "$q/logs/train-fx-$s.log"
        [ $rc -eq 0 ] || { echo "fluxion train failed (rc $rc)"; continue; }
        # The loop's own time: elapsed_s of the last metrics line (after the model is built and
        # the data loaded, before the final grid and checkpoint), comparable to the official
        # script's budget.
        read -r steps loop loss < <(python3 -c '
import json, sys
last = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
print(last["step"], last["elapsed_s"], last["loss"])' "$d/metrics.jsonl")
        info "fx-$s" run=fluxion seed="$s" steps="$steps" train_s="$loop" wall_s="$wall" loss="$loss" batch=256
        echo "fluxion seed $s: $steps steps, loop $loop s, process $wall s;" \
          "FX_STEPS for a loop of $budget s: $(awk -v n="$steps" -v l="$loop" -v b="$budget" 'BEGIN { printf "%d", n * b / l }')"
        fxsample "fx-$s" "$d/checkpoints/last.safetensors" "$s" && evaluate "fx-$s" "$q/fx-$s.npz"
        ;;
      off)
        d=$q/off-$s
        rm -rf "$d" "$q/off-$s-fxsampler.npz" "$q/eval-off-$s.json" "$q/info-off-$s.json" \
          "$q/eval-off-$s-fxsampler.json" "$q/info-off-$s-fxsampler.json"
        echo "== official SiT seed $s: $budget s"
        t0=$(now)
        python3 tools/bench/sit_fmnist_official.py "$SIT_SRC" --out "$d" --seconds "$budget" --seed "$s" \
          --n-samples "$n" --sample-steps 50 "${off_args[@]}" > "$q/logs/train-off-$s.log" 2>&1
        rc=$?
        wall=$(since "$t0")
        tail -3 "$q/logs/train-off-$s.log"
        [ $rc -eq 0 ] || { echo "official run failed (rc $rc)"; continue; }
        read -r steps secs loss batch < <(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
print(j["steps"], j["seconds"], j["final_loss"], j["batch"])' "$d/summary.json")
        # wall_s here includes the script's own sampling of 10,000 images
        info "off-$s" run=official seed="$s" steps="$steps" train_s="$secs" wall_s="$wall" loss="$loss" batch="$batch"
        evaluate "off-$s" "$d/samples.npz"
        # Cross-check: fluxion samples the official EMA (same sampler settings, its own noise).
        if fxsample "off-$s-fxsampler" "$d/ema.safetensors" "$s"; then
          info "off-$s-fxsampler" run="official weights, fluxion sampler" seed="$s" steps="$steps" train_s="$secs"
          evaluate "off-$s-fxsampler" "$q/off-$s-fxsampler.npz"
        fi
        ;;
      table) ;;
      *) echo "unknown run $run (fx, off, table)"; exit 2 ;;
    esac
  done
done

# The table of every run in $q.
{
  echo "equal wall-clock quality, SiT-S/2 on Fashion-MNIST 32x32, batch 256, lr 1e-4, EMA 0.999, bf16"
  echo "budget ${budget} s (official); fluxion ${fx_steps} steps; 10,000 Euler-50 samples, fmnist features vs test set"
  "$fx" --version 2>/dev/null | head -3
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1
  python3 - "$q" <<'PY'
import glob, json, os, sys
q = sys.argv[1]
rows = []
for name in sorted(os.path.basename(p)[5:-5] for p in glob.glob(os.path.join(q, "info-*.json"))):
    path = os.path.join(q, f"info-{name}.json")
    info = json.load(open(path))
    ev_path = os.path.join(q, f"eval-{name}.json")
    ev = json.load(open(ev_path)) if os.path.exists(ev_path) else {}
    rows.append((name, info, ev))
def f(v, fmt):
    return format(v, fmt) if isinstance(v, (int, float)) else "-"
print(f"{'run':<20} {'steps':>6} {'train s':>8} {'wall s':>8} {'img/s':>7} {'loss':>7} "
      f"{'FD':>8} {'KID':>9} {'prec':>6} {'recall':>6}")
for name, i, e in rows:
    ok = isinstance(i.get("steps"), int) and isinstance(i.get("train_s"), (int, float)) and i["train_s"] > 0
    ips = i["steps"] * i.get("batch", 256) / i["train_s"] if ok and "batch" in i else None
    print(f"{name:<20} {f(i.get('steps'), 'd'):>6} {f(i.get('train_s'), '.1f'):>8} {f(i.get('wall_s'), '.1f'):>8} "
          f"{f(ips, '.0f'):>7} {f(i.get('loss'), '.4f'):>7} {f(e.get('fd'), '.3f'):>8} "
          f"{f(e.get('kid_mean'), '.5f'):>9} {f(e.get('precision'), '.3f'):>6} {f(e.get('recall'), '.3f'):>6}")
print("train s: fluxion's loop (metrics.jsonl elapsed_s at the last step), the official script's budgeted"
      " loop incl. torch.compile; wall s: the whole process (fluxion: with data loading, the final grid and"
      " checkpoint; official: with its own 10,000-image sampling)")
PY
  for f in "$q"/off-*/summary.json; do [ -f "$f" ] && cat "$f"; done
} 2>&1 | tee "$out/quality.txt"

# Logs, evaluations, run records and grids in one file; the grids of this call's first seed beside it.
(cd "$q" && tar -czf - logs grids $(ls -d eval-*.json info-*.json fx-*/metrics.jsonl fx-*/config.toml \
  fx-*/samples off-*/summary.json 2>/dev/null)) > "$out/quality-logs.tar.gz"
if [ -n "$first_seed" ]; then
  for g in "$q/grids/grid-fx-$first_seed.png" "$q/grids/grid-off-$first_seed-fxsampler.png"; do
    [ -f "$g" ] && cp "$g" "$out/"
  done
fi
ls -la "$out"
