#!/usr/bin/env bash
# Issue 11's GPU figures: discriminator-guided RL finetuning (`fluxion finetune`) of the default
# Fashion-MNIST flow model on one GPU, evaluated guidance-free like the base.
#
#   tools/bench/gpu_session.sh build                  # first: the fluxion binary in $BUILD
#   [DEADLINE=540] [STEPS=600] [BETAS="0.5 1 2"] [PARALLEL=3] tools/bench/drl_session.sh
#   (call it again with the same settings to continue: everything is resumable)
# Resuming needs $WORK of the first call: on the device machine, call again while it is still
# warm (it is given back ~30 s after a call returns, and a fresh one starts bare); WORK under an
# ignored folder of the repository (e.g. WORK=$PWD/runs/drl-gpu) is kept there between calls.
#
# Phases, each skipped when its result exists:
#  1. base: `fluxion train --device cuda --steps 6000 --batch 256` (SiT-T/4, the train defaults)
#  2. base evaluation: N_SAMPLES class-balanced guidance-free samples (--cfg 1) with the evaluation
#     sampler (SAMPLER/SAMPLER_STEPS: Heun 25 = 50 NFE, the finetune's own evaluation sampler),
#     `fluxion eval --features fmnist --metrics fd,kid,pr`, and FD in FEATURES2 (a second
#     classifier the discriminator did not use; skipped with a note when `fluxion eval` refuses it)
#  3. the discriminator, once: a 1-step finetune run that trains it on DISC_SAMPLES base samples
#     and real images; every beta run reuses its file with --disc
#  4. one finetune per beta in BETAS (PARALLEL at once on the GPU), STEPS RL steps, a checkpoint
#     every CKPT_EVERY steps (all kept); a run killed at the deadline continues with --resume
#  5. the EMA weights at EVAL_STEPS evaluated exactly like the base, while the finetunes run
#  6. $OUT/drl.txt (the table), drl.json / drl.jsonl (its rows, the configs, the phases' wall times),
#     drl-files.tar.gz (sample grids of every evaluation, metrics.jsonl of every run, logs)
#
# Knobs (environment): DEADLINE (s, 540), DEVICE (cuda; cpu for a smoke test), BASE_STEPS (6000),
# BASE_BATCH (256), BASE_ARGS, STEPS (600), CKPT_EVERY (25), EVAL_STEPS ("50 100 200 400 600";
# STEPS is always added), BETAS ("0.5 1 2"), ADV_NORM (global), ADV_CLIP (5; 100 with none), ALGO (grpo),
# RL_GROUPS (20), GROUP_SIZE (24), ROLLOUT_STEPS (10), MICRO_BATCH (0), LR (1e-4), DISC_SAMPLES
# (10000), FT_ARGS (more `fluxion finetune` options; one given there replaces the script's value),
# EXTRA_RUNS ("name=finetune options;...": runs beside the beta sweep, e.g. "n1=--adv-norm none
# --adv-clip 100 --beta 1", raw logits with the principled beta = 1), PARALLEL (3), EVAL_PARALLEL (1), N_SAMPLES (10000), SAMPLE_BATCH (2500), SAMPLER
# (heun), SAMPLER_STEPS (25), SAMPLE_PRECISION (fp32: the precision the finetune's rollouts, its
# discriminator samples and previews run in), FEATURES (fmnist), FEATURES2 (fmnist-resnet; empty:
# none), METRICS2 (fd), TAG (drl: the folder $WORK/TAG, so a second sweep does not mix with this one)
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/bench/gpu_env.sh
start=$(date +%s)
deadline=$((start + ${DEADLINE:-540}))
left() { echo $((deadline - $(date +%s))); }
tl() { local l; l=$(left); [ "$l" -lt 1 ] && l=1; echo "$l"; }  # for timeout (0 there means none)
dev=${DEVICE:-cuda}
d=$work/${TAG:-drl}
mkdir -p "$d/logs" "$d/eval" "$d/grids"
call=$(( $(cat "$d/calls" 2>/dev/null || echo 0) + 1 )); echo "$call" > "$d/calls"

base_steps=${BASE_STEPS:-6000}
steps=${STEPS:-600}
ckpt_every=${CKPT_EVERY:-25}
log_every=5; [ $((ckpt_every % 5)) -eq 0 ] || log_every=1  # every checkpoint step logged (its wall time)
n=${N_SAMPLES:-10000}
sample_batch=${SAMPLE_BATCH:-2500}
[ "$sample_batch" -gt "$n" ] && sample_batch=$n
sampler=(--sampler "${SAMPLER:-heun}" --steps "${SAMPLER_STEPS:-25}")
features=${FEATURES:-fmnist}
features2=${FEATURES2-fmnist-resnet}
parallel=${PARALLEL:-3}
eval_parallel=${EVAL_PARALLEL:-1}
base_ckpt=$d/base/checkpoints/last.safetensors
disc_file=$d/disc/disc.safetensors
read -r -a ft_extra <<< "${FT_ARGS:-}"
# global: the group-mean baseline and one batch-wide std (beta is then relative to that std);
# none keeps beta = 1 on raw logits principled but has no baseline (see the report in drl.txt)
adv_norm=${ADV_NORM:-global}
adv_clip=5; [ "$adv_norm" = none ] && adv_clip=100  # none: raw returns, the clip would bias them

# the evaluation steps: EVAL_STEPS up to STEPS (multiples of CKPT_EVERY), and STEPS
eval_steps=()
for s in ${EVAL_STEPS:-50 100 200 400 600} "$steps"; do
  [ "$s" -le "$steps" ] && { [ $((s % ckpt_every)) -eq 0 ] || [ "$s" -eq "$steps" ]; } || continue
  [[ " ${eval_steps[*]} " == *" $s "* ]] || eval_steps+=("$s")
done

log() { echo "[$(( $(date +%s) - start )) s] $*"; }
# phase NAME T0 RC: the script's own wall time of a phase -> phases.jsonl
phase() {
  echo "{\"call\": $call, \"phase\": \"$1\", \"seconds\": $(( $(date +%s) - $2 )), \"rc\": $3}" >> "$d/phases.jsonl"
}

# ft_args NAME OPTS...: the finetune options of a new run; a default is left out when FT_ARGS or
# the run's own OPTS name the same option
ft_args() {
  local given=" ${*:2} ${ft_extra[*]} " args=()
  local defaults=(--ckpt "$base_ckpt" --data fashion-mnist:train --features "$features" --device "$dev"
    --out "$d/$1" --disc-samples "${DISC_SAMPLES:-10000}" --algo "${ALGO:-grpo}" --adv-norm "$adv_norm"
    --adv-clip "${ADV_CLIP:-$adv_clip}" --groups "${RL_GROUPS:-20}" --group-size "${GROUP_SIZE:-24}"
    --rollout-steps "${ROLLOUT_STEPS:-10}" --micro-batch "${MICRO_BATCH:-0}" --lr "${LR:-1e-4}"
    --sampler "${SAMPLER:-heun}" --sampler-steps "${SAMPLER_STEPS:-25}" --log-every "$log_every" --ckpt-every "$ckpt_every"
    --sample-every "$ckpt_every" --keep-checkpoints 0)
  local i
  for ((i = 0; i < ${#defaults[@]}; i += 2)); do
    [[ "$given" == *" ${defaults[i]} "* ]] || args+=("${defaults[i]}" "${defaults[i + 1]}")
  done
  echo "${args[@]}" "${@:2}" "${ft_extra[@]}"
}

# 1. The base.
if [ ! -f "$d/base.done" ]; then
  resume=()
  if [ -f "$base_ckpt" ]; then resume=(--resume); else rm -rf "$d/base"; fi
  log "base: ${#resume[@]} resume; $base_steps steps x ${BASE_BATCH:-256}"
  t0=$(date +%s)
  # shellcheck disable=SC2086
  timeout "$(tl)" "$fx" train "${resume[@]}" --device "$dev" --steps "$base_steps" --batch "${BASE_BATCH:-256}" \
    --ckpt-every 500 --sample-every "$base_steps" --log-every 100 --out "$d/base" ${BASE_ARGS:-} >> "$d/logs/base.log" 2>&1
  rc=$?
  phase base "$t0" "$rc"
  [ $rc -eq 0 ] && touch "$d/base.done"
  tail -2 "$d/logs/base.log"
  [ $rc -eq 0 ] || { log "base stopped (rc $rc); call again"; exit 1; }
fi

# sample_eval NAME CKPT: N_SAMPLES guidance-free samples -> eval/NAME.json (FEATURES: fd, kid, pr)
# and eval/NAME.f2.json (FEATURES2); the samples are deleted once both are done
f2_refused() { [ -z "$features2" ] || { [ -f "$d/eval/f2-refused" ] && [ "$(head -1 "$d/eval/f2-refused")" = "$(stat -c %Y-%s "$fx")" ]; }; }
sample_eval() {
  local name=$1 ckpt=$2 e=$d/eval/$1 rc t0
  if [ ! -f "$e.npz.done" ] && { [ ! -f "$e.json" ] || { ! f2_refused && [ ! -f "$e.f2.json" ]; }; }; then
    t0=$(date +%s)
    "$fx" sample --ckpt "$ckpt" --n "$n" --batch "$sample_batch" --classes balanced --seed 0 --cfg 1 "${sampler[@]}" \
      --precision "${SAMPLE_PRECISION:-fp32}" --device "$dev" --npz "$e.npz" --grid "$d/grids/$name.png" \
      > "$d/logs/sample-$name.log" 2>&1
    rc=$?; phase "sample $name" "$t0" $rc
    [ $rc -eq 0 ] || { log "sample $name failed: $(tail -1 "$d/logs/sample-$name.log")"; return 1; }
    touch "$e.npz.done"
  fi
  if [ ! -f "$e.json" ]; then
    t0=$(date +%s)
    "$fx" eval --samples "$e.npz" --ref fashion-mnist:test --features "$features" --metrics fd,kid,pr \
      --device "$dev" --json "$e.tmp.json" > "$d/logs/eval-$name.log" 2>&1
    rc=$?; phase "eval $name" "$t0" $rc
    [ $rc -eq 0 ] && mv "$e.tmp.json" "$e.json" || { log "eval $name failed: $(tail -1 "$d/logs/eval-$name.log")"; return 1; }
  fi
  if ! f2_refused && [ ! -f "$e.f2.json" ]; then
    t0=$(date +%s)
    "$fx" eval --samples "$e.npz" --ref fashion-mnist:test --features "$features2" --metrics "${METRICS2:-fd}" \
      --device "$dev" --json "$e.f2.tmp.json" > "$d/logs/eval2-$name.log" 2>&1
    rc=$?; phase "eval2 $name" "$t0" $rc
    if [ $rc -eq 0 ]; then
      mv "$e.f2.tmp.json" "$e.f2.json"
    elif [ $rc -ne 124 ] && [ $rc -ne 137 ] && [ $rc -ne 143 ]; then
      # refused by this binary (e.g. an unknown extractor): noted, and not asked again until it changes
      { stat -c %Y-%s "$fx"; echo "--features $features2 skipped: $(tail -1 "$d/logs/eval2-$name.log")"; } > "$d/eval/f2-refused"
      log "$(tail -1 "$d/eval/f2-refused")"
    fi
  fi
  if [ -f "$e.json" ] && { f2_refused || [ -f "$e.f2.json" ]; }; then rm -f "$e.npz" "$e.npz.done"; fi
  [ -f "$e.json" ] && log "$name: FD $(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['fd'], 2))" "$e.json")"
}

# 2. + 3. The base's evaluation and the discriminator, side by side.
eval_pids=()
if [ ! -f "$d/eval/base.json" ] || { ! f2_refused && [ ! -f "$d/eval/base.f2.json" ]; }; then
  log "base evaluation"
  timeout "$(tl)" bash -c "$(declare -f sample_eval f2_refused phase log); $(declare -p d fx n sample_batch sampler features features2 dev call start); sample_eval base \"$base_ckpt\"" &
  eval_pids+=($!)
fi
if [ ! -f "$d/disc.done" ]; then
  rm -rf "$d/disc"
  log "discriminator: ${DISC_SAMPLES:-10000} base samples and real images"
  t0=$(date +%s)
  # shellcheck disable=SC2046
  timeout "$(tl)" "$fx" finetune $(ft_args disc --steps 1 --grid-images 0 --log-every 1 --ckpt-every 1 --sample-every 1) \
    > "$d/logs/disc.log" 2>&1
  rc=$?
  phase disc "$t0" "$rc"
  grep "discriminator (" "$d/logs/disc.log" | tail -1
  [ $rc -eq 0 ] && [ -f "$disc_file" ] && touch "$d/disc.done"
  [ -f "$d/disc.done" ] || { log "discriminator stopped (rc $rc): $(tail -1 "$d/logs/disc.log")"; wait; exit 1; }
fi

# 4. + 5. The finetunes and the evaluations of their checkpoints.
runs=() run_opts=()
for b in ${BETAS:-0.5 1 2}; do runs+=("b$b"); run_opts+=("--beta $b"); done
IFS=';' read -r -a extra <<< "${EXTRA_RUNS:-}"
for x in "${extra[@]}"; do
  x=$(echo "$x" | sed 's/^ *//; s/ *$//'); [ -z "$x" ] && continue
  runs+=("${x%%=*}"); run_opts+=("${x#*=}")
done

# ft_run NAME OPTS: a finetune to STEPS (new, or resumed from its last checkpoint)
ft_run() {
  local name=$1 dir=$d/$1 rc
  if [ -f "$dir/checkpoints/last.safetensors" ]; then
    "$fx" finetune --resume --out "$dir" --steps "$steps" --device "$dev" >> "$d/logs/ft-$name.log" 2>&1
  else
    rm -rf "$dir"
    # shellcheck disable=SC2046,SC2086
    "$fx" finetune $(ft_args "$name" --disc "$disc_file" $2) --steps "$steps" >> "$d/logs/ft-$name.log" 2>&1
  fi
  rc=$?
  [ $rc -eq 0 ] && echo "$steps" > "$d/$name.done"
  return $rc
}
ft_done() { [ -f "$d/$1.done" ] && [ "$(cat "$d/$1.done")" -ge "$steps" ]; }

declare -A ft_pid=() ev_busy=()
ev_pid_list=()
running() { kill -0 "$1" 2>/dev/null; }
min_ft=${MIN_FT_SECONDS:-45}   # not worth starting a finetune with less left (the next call resumes it)
min_eval=${MIN_EVAL_SECONDS:-40}
while :; do
  busy=0
  for r in "${!ft_pid[@]}"; do
    if running "${ft_pid[$r]}"; then busy=$((busy + 1)); else
      wait "${ft_pid[$r]}"; rc=$?
      log "finetune $r ended (rc $rc): $(grep -v '%|' "$d/logs/ft-$r.log" | tail -1)"
      unset "ft_pid[$r]"
    fi
  done
  for i in "${!runs[@]}"; do
    r=${runs[$i]}
    [ -n "${ft_pid[$r]:-}" ] && continue
    ft_done "$r" && continue
    [ "$busy" -ge "$parallel" ] && break
    [ -f "$d/$r.failed" ] && [ "$(cat "$d/$r.failed")" = "$call" ] && continue
    [ "$(left)" -lt "$min_ft" ] && continue
    log "finetune $r (${run_opts[$i]}) to step $steps"
    ( t0=$(date +%s)
      timeout "$(tl)" bash -c "$(declare -f ft_run ft_args); $(declare -p d fx dev steps ckpt_every log_every features base_ckpt disc_file ft_extra adv_norm adv_clip); ft_run \"\$@\"" _ "$r" "${run_opts[$i]}"
      rc=$?
      phase "finetune $r" "$t0" "$rc"  # rc 124: stopped at the deadline, resumed by the next call
      [ $rc -ne 0 ] && [ $rc -ne 124 ] && echo "$call" > "$d/$r.failed"
      exit $rc ) &
    ft_pid[$r]=$!
    busy=$((busy + 1))
  done
  # evaluations: finished ones are reaped, then the next pending checkpoints start
  alive=()
  for p in "${eval_pids[@]}" "${ev_pid_list[@]}"; do running "$p" && alive+=("$p"); done
  eval_pids=() ev_pid_list=("${alive[@]}")
  pending=0
  cap=$eval_parallel
  [ ${#ft_pid[@]} -eq 0 ] && [ "$parallel" -gt "$cap" ] && cap=$parallel  # the GPU is free for evaluations
  for s in "${eval_steps[@]}"; do
    for r in "${runs[@]}"; do
      name=$r@$s
      [ -f "$d/eval/$name.json" ] && { f2_refused || [ -f "$d/eval/$name.f2.json" ]; } && continue
      ck=$d/$r/checkpoints/$(printf 'step-%07d.safetensors' "$s")
      [ -f "$ck" ] || { [ -n "${ft_pid[$r]:-}" ] && pending=$((pending + 1)); continue; }
      pending=$((pending + 1))
      [ -n "${ev_busy[$name]:-}" ] && running "${ev_busy[$name]}" && continue
      [ ${#ev_pid_list[@]} -ge "$cap" ] && continue
      [ "$(left)" -lt "$min_eval" ] && continue
      [ -f "$d/eval/$name.tried" ] && [ "$(cat "$d/eval/$name.tried")" = "$call" ] && continue
      echo "$call" > "$d/eval/$name.tried"
      timeout "$(tl)" bash -c "$(declare -f sample_eval f2_refused phase log); $(declare -p d fx n sample_batch sampler features features2 dev call start); sample_eval \"\$1\" \"\$2\"" _ "$name" "$ck" &
      ev_busy[$name]=$!
      ev_pid_list+=($!)
    done
  done
  [ ${#ft_pid[@]} -eq 0 ] && [ ${#ev_pid_list[@]} -eq 0 ] && [ ${#eval_pids[@]} -eq 0 ] && break
  sleep 2
done
wait

# 6. The table: every evaluated checkpoint against the base.
# $OUT gets four files (the device machine returns at most 8): drl.txt, drl.json, drl.jsonl and
# drl-files.tar.gz (grids, metrics.jsonl and config.json of every run, evaluations, phases, logs)
python3 - "$d" "$out" "$features" "${features2:-none}" "$n" "${SAMPLER:-heun} ${SAMPLER_STEPS:-25}" \
  "${SAMPLE_PRECISION:-fp32}" "$parallel" "${runs[*]}" "$(IFS='|'; echo "${run_opts[*]}")" <<'PY' 2>&1 | tee "$out/drl.txt"
import glob, json, os, sys
d, out, f1, f2, n, sampler, precision, parallel = sys.argv[1:9]
runs = sys.argv[9].split()
opts = dict(zip(runs, sys.argv[10].split("|")))

def rows_of(path):
    return [json.loads(l) for l in open(path) if l.strip()] if os.path.exists(path) else []

def load(p):
    return json.load(open(p)) if os.path.exists(p) else {}

def wall_at(metrics):
    """cumulative RL-loop seconds at each logged step; elapsed_s restarts at every resume"""
    out, offset, prev = {}, 0.0, None
    for r in metrics:
        if "elapsed_s" not in r:
            continue
        if prev is not None and r["elapsed_s"] < prev:
            offset += prev
        prev = r["elapsed_s"]
        out[r["step"]] = offset + r["elapsed_s"]
    return out

def config_of(run):
    c = load(os.path.join(d, run, "config.json"))
    return c

base = load(os.path.join(d, "eval", "base.json"))
base2 = load(os.path.join(d, "eval", "base.f2.json"))
base_metrics = rows_of(os.path.join(d, "base", "metrics.jsonl"))
disc_metrics = rows_of(os.path.join(d, "disc", "metrics.jsonl"))
disc_acc = next((r["disc_holdout_accuracy"] for r in disc_metrics if "disc_holdout_accuracy" in r), None)
phases = rows_of(os.path.join(d, "phases.jsonl"))
disc_s = next((p["seconds"] for p in reversed(phases) if p["phase"] == "disc" and p["rc"] == 0), None)
refused = open(os.path.join(d, "eval", "f2-refused")).read().splitlines()[1:] if os.path.exists(os.path.join(d, "eval", "f2-refused")) else []

def rel(x, b):
    return None if x is None or not b else 100.0 * (x - b) / b

table = []
def row(run, beta, step, wall, e, e2, reward=None, kl=None):
    fd, fd2 = e.get("fd"), e2.get("fd")
    return dict(run=run, beta=beta, step=step, wall_s=wall, fd=fd, fd_rel_pct=rel(fd, base.get("fd")),
                kid=e.get("kid_mean"), kid_rel_pct=rel(e.get("kid_mean"), base.get("kid_mean")), precision=e.get("precision"), recall=e.get("recall"),
                fd2=fd2, fd2_rel_pct=rel(fd2, base2.get("fd")), heldout_reward=reward, train_kl=kl)

if base:
    bw = base_metrics[-1].get("elapsed_s") if base_metrics else None
    table.append(row("base", None, base_metrics[-1]["step"] if base_metrics else None, bw, base, base2))
for run in runs:
    m = rows_of(os.path.join(d, run, "metrics.jsonl"))
    walls = wall_at(m)
    rewards = {r["step"]: r["eval"]["reward"] for r in m if "eval" in r}
    kls = {r["step"]: r["kl"] for r in m if "kl" in r}
    c = config_of(run)
    for p in glob.glob(os.path.join(d, "eval", f"{run}@*.json")):
        tag = os.path.basename(p)[:-5]
        if tag.endswith(".f2") or tag.endswith(".tmp"):
            continue
        step = int(tag.split("@")[1])
        table.append(row(run, c.get("beta"), step, walls.get(step), load(p),
                         load(os.path.join(d, "eval", f"{tag}.f2.json")), rewards.get(step), kls.get(step)))
table.sort(key=lambda r: (r["run"] != "base", runs.index(r["run"]) if r["run"] in runs else -1, r["step"] or 0))

def f(x, spec, width):
    return f"{'-':>{width}}" if x is None else format(x, spec).rjust(width)

print(f"DRL finetuning of the default Fashion-MNIST model: {n} class-balanced guidance-free samples per row, "
      f"{sampler} ({precision}), FD/KID/P/R in '{f1}' space, FD2 in '{f2}' space; relative change against the base (KID: raw kid_mean)")
print(f"discriminator: held-out accuracy {disc_acc}, {disc_s} s (shared by every run); wall = the RL loop's "
      f"seconds with up to {parallel} runs and an evaluation sharing the GPU (base: its training)")
for line in refused:
    print(line)
for run in runs:
    c = config_of(run)
    if c:
        keys = ["algo", "adv_norm", "adv_clip", "beta", "groups", "group_size", "rollout_steps", "noise_level",
                "sde_window", "inner_epochs", "lr", "ema_decay", "clip_range", "kl_to_go"]
        print(f"  {run} ({opts.get(run, '')}): " + ", ".join(f"{k} {c.get(k)}" for k in keys))
print(f"{'run':<10} {'beta':>5} {'step':>5} {'wall s':>7} {'FD':>8} {'dFD%':>7} {'KID':>9} {'dKID%':>7} {'prec':>6} "
      f"{'recall':>6} {'FD2':>8} {'dFD2%':>7} {'reward':>7} {'KL/dim':>8}")
for r in table:
    print(f"{r['run']:<10} {f(r['beta'], 'g', 5)} {f(r['step'], 'd', 5)} {f(r['wall_s'], '.1f', 7)} "
          f"{f(r['fd'], '.2f', 8)} {f(r['fd_rel_pct'], '+.1f', 7)} {f(r['kid'], '.2f', 9)} {f(r['kid_rel_pct'], '+.1f', 7)} {f(r['precision'], '.3f', 6)} "
          f"{f(r['recall'], '.3f', 6)} {f(r['fd2'], '.2f', 8)} {f(r['fd2_rel_pct'], '+.1f', 7)} "
          f"{f(r['heldout_reward'], '.3f', 7)} {f(r['train_kl'], '.5f', 8)}")
summary = dict(features=f1, features2=f2, n_samples=int(n), sampler=sampler, precision=precision,
               disc_holdout_accuracy=disc_acc, disc_seconds=disc_s, notes=refused,
               configs={run: config_of(run) for run in runs}, rows=table, phases=phases)
json.dump(summary, open(os.path.join(out, "drl.json"), "w"), indent=1)
with open(os.path.join(out, "drl.jsonl"), "w") as fh:
    for r in table:
        fh.write(json.dumps(r) + "\n")
PY
(cd "$d" && tar -czf - grids logs phases.jsonl eval/*.json eval/f2-refused */config.json */metrics.jsonl \
   base/samples 2>/dev/null) > "$out/drl-files.tar.gz"
log "drl session call $call: done for now ($(left) s left)"
