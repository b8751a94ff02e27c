#!/bin/bash
# Run 10 (PLAN.md beside this script), one session's share: the warm-up trained again (float32) and checked against
# run 9's, the RL stage resumed from the checkpoint carried in carry/ (or started, the first time), paused at the end
# of the first rollout after MINUTES of RL training, and its checkpoint carried back into carry/ with the session's log
# and its line in sessions.md. From a clone of main with .venv installed (`make install` or `bash .ci/run`), alone on
# the machine:
#   bash benchmarks/results/learning_svamp_pcot_ppo_run10_lora/session.sh MINUTES
# then `.venv/bin/python .../dev_check.py` and commit this folder. Work files go to /work/exp-out/run10 (OUT to change
# it). Run 9's warm-up weights (SHA-256): 523bd348... (its first machine), 78b26060... (three later trainings).
# Run 10b's session.sh calls this one with RUN_DIR (its folder), OUT and LEARNING_RATE (the policy's) set.
set -eo pipefail
minutes=${1:?usage: session.sh MINUTES (of RL training this session)}
repo=$(cd "$(dirname "$0")/../../.." && pwd)
here=${RUN_DIR:-$(cd "$(dirname "$0")" && pwd)}
out=${OUT:-/work/exp-out/run10}
learning_rate=${LEARNING_RATE:-1e-4}
known="523bd34835263883 78b26060dc19e3ff"
cd "$repo"
git diff --quiet HEAD -- reft_trl benchmarks/bench_learning_svamp.py setup.cfg \
  || { echo "$repo: uncommitted changes to the code this run uses; run from a clean clone" >&2; exit 1; }
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"  # this clone's reft_trl, in subprocesses too, whatever .venv holds
mkdir -p "$out/ppo"
last() { for d in "$1"/checkpoint-*; do if [ -d "$d" ]; then echo "${d##*-} $d"; fi; done | sort -n | tail -n 1 | cut -d' ' -f2-; }
step() { local d; d=$(last "$1"); if [ -n "$d" ]; then echo "${d##*-}"; fi; }
bench=(.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir "$out" --method ppo --cot pcot
  --train_limit 512 --dev_size 300 --precision fp32 --rl_precision auto --sft_seed 42 --sft_epochs 2
  --sft_learning_rate 5e-5 --rollouts 500 --batch_size 8 --num_mini_batches 4 --learning_rate "$learning_rate" --lora_r 1
  --lora_alpha 32 --kl_coef 0.01 --lam 1.0 --critic_learning_rate 1e-4 --critic_warmup_rollouts 1
  --critic_detach_backbone 1 --max_completion_length 160 --save_every 2 --eval_batch_size 64 --seed 42
  --splits test dev)
started=$(date -u +%Y%m%dT%H%M%SZ)

# 1. The warm-up (trained unless this machine holds it), checked against run 9's before the run goes on: the same
#    weights reuse run 9's evaluations; other weights are evaluated on this machine by the bench (PLAN.md, "Analysis")
"${bench[@]}" --warm_up_only 2>&1 | tee -a "$out/run.log"
sha=$(sha256sum "$out/sft/model.safetensors" | cut -c1-16)
if [[ " $known " == *" $sha "* ]]; then
  if [ ! -d "$out/eval/warm-up" ]; then
    mkdir -p "$out/eval" && cp -r benchmarks/results/learning_svamp_pcot_ppo_run9/eval/warm-up "$out/eval/"
  fi
else
  echo "session.sh: this warm-up ($sha...) is not run 9's: it is evaluated on this machine first" | tee -a "$out/run.log"
fi

# 2. The run so far: the checkpoint carried from the last session, unless this machine already holds a later one
here_step=$(step "$out/ppo") carried_step=$(step "$here/carry")
if [ -n "$carried_step" ] && [ "${here_step:-0}" -lt "$carried_step" ]; then
  rm -rf "$out"/ppo/checkpoint-*
  cp -r "$(last "$here/carry")" "$out/ppo/"
  cp "$here/carry/wall_clock.json" "$out/ppo/"
fi
from=$(step "$out/ppo")
from=${from:-0}
"${bench[@]}" --stop_after_minutes "$minutes" 2>&1 | tee -a "$out/run.log"

# 3. Carry the last checkpoint back (its number counts optimizer steps: 8 per rollout of 32 samples)
newest=$(last "$out/ppo")
if [ -n "$newest" ]; then
  rm -rf "$here/carry" && mkdir -p "$here/carry"
  cp -r "$newest" "$here/carry/" && cp "$out/ppo/wall_clock.json" "$here/carry/"
fi
to=$(step "$here/carry")
mkdir -p "$here/logs" && cp "$out/run.log" "$here/logs/session_$started.log"
for name in summary.json timings.json log_history.json training_curves.png; do
  if [ -f "$out/$name" ]; then cp "$out/$name" "$here/"; fi
done
bf16=$(grep -o -w 'amx_bf16\|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ' || true)
cpu=$(lscpu 2>/dev/null | grep 'Model name' | sed 's/.*: *//' || true)
echo "| $started | $(git rev-parse --short HEAD) | ${cpu:-?} | ${bf16:-none} | $sha | $from -> ${to:-0} ($(( (${to:-0} - from) / 8 )) rollouts) | $(cut -d' ' -f1-3 /proc/loadavg) |" \
  | tee -a "$here/sessions.md"
