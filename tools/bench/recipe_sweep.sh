#!/usr/bin/env bash
# Training recipes at an equal wall-clock budget on one GPU (issue 12 item 4): a queue of runs,
# each trained for the number of steps it would do in BUDGET seconds alone, then sampled and
# evaluated in the Fashion-MNIST classifier's feature space (10,000 class-balanced samples).
#
#   tools/bench/gpu_session.sh build                       # first: the fluxion binary in $BUILD
#   [DEADLINE=570] [PARALLEL=3] tools/bench/recipe_sweep.sh SPEC_FILE
#
# SPEC_FILE, one run per line (# comments):
#   NAME | STEPS | TRAIN ARGS | SAMPLING VARIANTS
#   STEPS       a number, or `300s`: the steps this run does in 300 s when it has the GPU to itself,
#               from a solo probe of its model, batch and precision (probe-*.json in $WORK/sweep)
#   TRAIN ARGS  `fluxion train` options (--device cuda is added), or for NAME off-*: options of
#               tools/bench/sit_fmnist_official.py (the official code). Its STEPS: `Ns`, the GPU to
#               itself for N seconds (torch.compile included); a number, or `=off-NAME` (as many
#               steps as that official run did in its budget), sharing the GPU like fluxion runs
#   VARIANTS    `tag=fluxion sample options; tag=...` (default `e50=--sampler euler --steps 50`);
#               official runs are sampled by their own script (Euler 50) and by these variants
# Because every run's length is fixed in steps, fluxion runs may share the GPU (PARALLEL at once)
# without changing what they learn; solo probes fix the steps, shared runs only save device time.
# Everything is resumable: a run killed at DEADLINE (seconds after the start) continues from its
# last checkpoint on the next call; finished evaluations are kept. $OUT/sweep.txt gets the table.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/bench/gpu_env.sh
spec=${1:?usage: recipe_sweep.sh SPEC_FILE}
s=$work/sweep
mkdir -p "$s/logs" "$s/grids"
start=$(date +%s)
deadline=$((start + ${DEADLINE:-570}))
parallel=${PARALLEL:-3}
n=${N_SAMPLES:-10000}
dev=${DEVICE:-cuda}  # cpu: a smoke test of the script
left() { echo $((deadline - $(date +%s))); }

# json FILE EXPR: a value of a JSON file (EXPR in Python, `j` is the object)
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# probe_key ARGS...: what a run's speed depends on (model, batch, precision, attention)
probe_key() {
  local model=SiT-T/4 batch=16 precision=auto attention=softmax
  while [ $# -gt 0 ]; do
    case "$1" in
      --model) model=$2; shift ;;
      --batch) batch=$2; shift ;;
      --precision) precision=$2; shift ;;
      --attention) attention=$2; shift ;;
    esac
    shift
  done
  echo "${model//\//}-b$batch-$precision-$attention"
}

# probe KEY ARGS...: solo steps per second of fluxion's training loop -> $s/probe-KEY.json
probe() {
  local key=$1; shift
  [ -f "$s/probe-$key.json" ] && return 0
  local d=$work/probe-$key
  rm -rf "$d"
  "$fx" train "$@" --device "$dev" --steps 300 --log-every 50 --ckpt-every 100000 --sample-every 100000 \
    --grid-images 0 --out "$d" > "$s/logs/probe-$key.log" 2>&1 || { tail -3 "$s/logs/probe-$key.log"; return 1; }
  # steady rate between steps 50 and 300; step 1 to 50 (warm-up) is counted as it ran
  python3 - "$d/metrics.jsonl" "$s/probe-$key.json" <<'PY'
import json, sys
rows = {r["step"]: r["elapsed_s"] for r in map(json.loads, filter(str.strip, open(sys.argv[1])))}
rate = (300 - 50) / (rows[300] - rows[50])
json.dump(dict(first_50_s=rows[50], steps_per_s=rate), open(sys.argv[2], "w"))
print(f"probe: 50 steps in {rows[50]:.2f} s, then {rate:.2f} steps/s")
PY
}

# steps_for KEY SECONDS: the steps a run does alone in SECONDS (its first 50 as they ran)
steps_for() {
  python3 -c "import json,sys; p=json.load(open(sys.argv[1])); print(int(50 + (float(sys.argv[2]) - p['first_50_s']) * p['steps_per_s']))" \
    "$s/probe-$1.json" "$2"
}

# sample_eval NAME CKPT VARIANTS: each variant's 10,000 samples -> eval-NAME@TAG.json
sample_eval() {
  local name=$1 ckpt=$2 variants=$3 v tag args
  IFS=';' read -r -a list <<< "${variants:-e50=--sampler euler --steps 50}"
  for v in "${list[@]}"; do
    v=$(echo "$v" | sed 's/^ *//; s/ *$//'); [ -z "$v" ] && continue
    tag=${v%%=*}; read -r -a args <<< "${v#*=}"
    [ -f "$s/eval-$name@$tag.json" ] && continue
    "$fx" sample --ckpt "$ckpt" --n "$n" --batch $((n < 2500 ? n : 2500)) --classes balanced --device "$dev" --seed 0 "${args[@]}" \
      --npz "$s/$name@$tag.npz" --grid "$s/grids/$name@$tag.png" > "$s/logs/sample-$name@$tag.log" 2>&1 \
      || { echo "sample $name@$tag failed: $(tail -1 "$s/logs/sample-$name@$tag.log")"; continue; }
    "$fx" eval --samples "$s/$name@$tag.npz" --ref fashion-mnist:test --features fmnist --metrics fd,kid,pr \
      --device "$dev" --json "$s/eval-$name@$tag.json" > "$s/logs/eval-$name@$tag.log" 2>&1 \
      || { echo "eval $name@$tag failed: $(tail -1 "$s/logs/eval-$name@$tag.log")"; continue; }
    rm -f "$s/$name@$tag.npz"
    echo "$name@$tag: FD $(json "$s/eval-$name@$tag.json" 'round(j["fd"], 2)')"
  done
}

# fx_run NAME STEPS VARIANTS ARGS...: train (or resume) to STEPS, then sample and evaluate
fx_run() {
  local name=$1 steps=$2 variants=$3; shift 3
  local d=$work/run-$name last=0
  [ -f "$d/metrics.jsonl" ] && last=$(tail -1 "$d/metrics.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["step"])')
  if [ "$last" -lt "$steps" ] || [ ! -f "$d/checkpoints/last.safetensors" ]; then
    local resume=()
    [ -f "$d/checkpoints/last.safetensors" ] && resume=(--resume)
    [ ${#resume[@]} -eq 0 ] && rm -rf "$d"
    "$fx" train "$@" "${resume[@]}" --device "$dev" --steps "$steps" --log-every 100 --ckpt-every 500 \
      --sample-every "$steps" --out "$d" >> "$s/logs/train-$name.log" 2>&1 \
      || { echo "train $name stopped: $(tail -1 "$s/logs/train-$name.log")"; return 1; }
  fi
  cp "$d/metrics.jsonl" "$s/metrics-$name.jsonl"
  tail -1 "$d/metrics.jsonl" > "$s/done-$name.json"
  sample_eval "$name" "$d/checkpoints/last.safetensors" "$variants"
}

# off_run NAME VARIANTS ARGS...: the official code (ARGS: --seconds or --max-steps), its own
# Euler-50 samples evaluated, then fluxion's sampling VARIANTS of its EMA
off_run() {
  local name=$1 variants=$2; shift 2
  local d=$work/run-$name
  if [ ! -f "$d/summary.json" ]; then
    rm -rf "$d"
    python3 tools/bench/sit_fmnist_official.py "$SIT_SRC" --out "$d" --n-samples "$n" --sample-steps 50 "$@" \
      > "$s/logs/train-$name.log" 2>&1 || { echo "official $name failed: $(tail -1 "$s/logs/train-$name.log")"; return 1; }
  fi
  cp "$d/summary.json" "$s/done-$name.json"
  if [ ! -f "$s/eval-$name@own-e50.json" ]; then
    "$fx" eval --samples "$d/samples.npz" --ref fashion-mnist:test --features fmnist --metrics fd,kid,pr \
      --device "$dev" --json "$s/eval-$name@own-e50.json" > "$s/logs/eval-$name@own-e50.log" 2>&1
    echo "$name@own-e50: FD $(json "$s/eval-$name@own-e50.json" 'round(j["fd"], 2)')"
  fi
  [ -z "${variants// /}" ] || sample_eval "$name" "$d/ema.safetensors" "$variants"
}

# The queue. Official runs and probes need the GPU alone: they start only when nothing else runs.
pids=()
reap() { local alive=(); for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done; pids=("${alive[@]}"); }
wait_all() { for p in "${pids[@]}"; do wait "$p"; done; pids=(); }
while IFS='|' read -r name steps args variants; do
  name=$(echo "$name" | sed 's/^ *//; s/ *$//'); steps=$(echo "$steps" | sed 's/^ *//; s/ *$//')
  [ -z "$name" ] || [[ "$name" == \#* ]] && continue
  read -r -a argv <<< "$args"
  if [[ "$name" == off-* ]] && [[ "$steps" == *s ]]; then
    # alone on the GPU for its budget (torch.compile included); not resumable, so it starts only
    # when the budget and its sampling fit before the deadline
    seconds=${steps%s}
    if [ ! -f "$work/run-$name/summary.json" ]; then
      wait_all
      [ "$(left)" -lt $((seconds + 120)) ] && { echo "$name: $(left) s left, not enough; next call"; continue; }
    fi
    echo "== $name (official, ${seconds} s alone) at $(( $(date +%s) - start )) s"
    timeout "$(left)" bash -c "$(declare -f off_run sample_eval json); s=$s; work=$work; fx=$fx; n=$n; dev=$dev; SIT_SRC=${SIT_SRC:-}; off_run \"\$@\"" \
      _ "$name" "$variants" --seconds "$seconds" "${argv[@]}"
    continue
  fi
  if [[ "$name" == off-* ]]; then
    # a fixed number of steps (=NAME: as many as official run NAME did in its budget), sharing the GPU
    if [[ "$steps" == =* ]]; then
      ref=$work/run-${steps#=}/summary.json
      [ -f "$ref" ] || { echo "$name: ${steps#=} has not run yet"; continue; }
      steps=$(json "$ref" 'j["steps"]')
    fi
    while reap; [ ${#pids[@]} -ge "$parallel" ]; do sleep 2; done
    [ -f "$work/run-$name/summary.json" ] || [ "$(left)" -ge 400 ] || { echo "$name: $(left) s left, not enough; next call"; continue; }
    echo "== $name (official, $steps steps) at $(( $(date +%s) - start )) s"
    timeout "$(left)" bash -c "$(declare -f off_run sample_eval json); s=$s; work=$work; fx=$fx; n=$n; dev=$dev; SIT_SRC=${SIT_SRC:-}; off_run \"\$@\"" \
      _ "$name" "$variants" --seconds 100000 --max-steps "$steps" "${argv[@]}" &
    pids+=($!)
    continue
  fi
  if [[ "$steps" == *s ]]; then
    key=$(probe_key "${argv[@]}")
    if [ ! -f "$s/probe-$key.json" ]; then
      wait_all
      [ "$(left)" -lt 90 ] && { echo "probe $key: $(left) s left; next call"; continue; }
      echo "== probe $key"
      probe "$key" "${argv[@]}" || continue
    fi
    steps=$(steps_for "$key" "${steps%s}")
  fi
  while reap; [ ${#pids[@]} -ge "$parallel" ]; do sleep 2; done
  [ "$(left)" -le 30 ] && { echo "deadline: $name waits for the next call"; continue; }
  echo "== $name: $steps steps ($(( $(date +%s) - start )) s)"
  timeout "$(left)" bash -c "$(declare -f fx_run sample_eval json); s=$s; work=$work; fx=$fx; n=$n; dev=$dev; fx_run \"\$@\"" \
    _ "$name" "$steps" "$variants" "${argv[@]}" &
  pids+=($!)
done < "$spec"
wait_all

# The table of every run evaluated so far.
python3 - "$s" <<'PY' 2>&1 | tee "$out/sweep.txt"
import glob, json, os, sys
s = sys.argv[1]
print(f"{'run@variant':<34} {'steps':>6} {'loss':>7} {'FD':>8} {'KID':>9} {'prec':>6} {'recall':>6}")
for path in sorted(glob.glob(os.path.join(s, "eval-*.json"))):
    tag = os.path.basename(path)[5:-5]
    name = tag.split("@")[0]
    e = json.load(open(path))
    done = os.path.join(s, f"done-{name}.json")
    d = json.load(open(done)) if os.path.exists(done) else {}
    steps = d.get("step", d.get("steps", "-"))
    loss = d.get("loss", d.get("final_loss"))
    loss = f"{loss:.4f}" if isinstance(loss, float) else "-"
    print(f"{tag:<34} {steps:>6} {loss:>7} {e['fd']:>8.2f} {e.get('kid_mean', float('nan')):>9.2f} "
          f"{e.get('precision', float('nan')):>6.3f} {e.get('recall', float('nan')):>6.3f}")
for p in sorted(glob.glob(os.path.join(s, "probe-*.json"))):
    print(os.path.basename(p)[6:-5], open(p).read().strip())
PY
(cd "$s" && tar -czf - logs grids *.json metrics-*.jsonl 2>/dev/null) > "$out/sweep-logs.tar.gz"
echo "sweep: $(( $(date +%s) - start )) s"
