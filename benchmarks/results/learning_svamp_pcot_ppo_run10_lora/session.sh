#!/bin/bash
# Run 10 (PLAN.md beside this script), one session's share: the warm-up trained again (float32), the RL stage resumed
# from the checkpoint carried in carry/ (or started, the first time), paused after MINUTES of RL training, and its
# checkpoint carried back into carry/ with the session's log and its line in sessions.md. From a clone of main with
# .venv installed (`make install` or `bash .ci/run`), alone on the machine:
#   bash benchmarks/results/learning_svamp_pcot_ppo_run10_lora/session.sh MINUTES
# then `.venv/bin/python .../dev_check.py` and commit this folder. Work files go to /work/exp-out/run10 (OUT to change it).
set -eo pipefail
minutes=${1:?usage: session.sh MINUTES (of RL training this session)}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
out=${OUT:-/work/exp-out/run10}
cd "$repo"
git diff --quiet HEAD -- reft_trl benchmarks/bench_learning_svamp.py setup.cfg \
  || { echo "$repo: uncommitted changes to the code this run uses; run from a clean clone" >&2; exit 1; }
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$out/ppo" "$out/eval"
# The warm-up's evaluations are run 9's (PLAN.md), copied once into this machine's run folder
[ -d "$out/eval/warm-up" ] || cp -r benchmarks/results/learning_svamp_pcot_ppo_run9/eval/warm-up "$out/eval/"
# The run so far: the checkpoint carried from the last session, unless this machine already holds a later one
last() { for d in "$1"/checkpoint-*; do if [ -d "$d" ]; then echo "${d##*-} $d"; fi; done | sort -n | tail -n 1 | cut -d' ' -f2-; }
step() { local d; d=$(last "$1"); if [ -n "$d" ]; then echo "${d##*-}"; fi; }
here_step=$(step "$out/ppo") carried_step=$(step "$here/carry")
if [ -n "$carried_step" ] && [ "${here_step:-0}" -lt "$carried_step" ]; then
  rm -rf "$out"/ppo/checkpoint-*
  cp -r "$(last "$here/carry")" "$out/ppo/"
  cp "$here/carry/wall_clock.json" "$out/ppo/"
fi
started=$(date -u +%FT%TZ) from=$(step "$out/ppo")
from=${from:-0}
.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir "$out" --method ppo --cot pcot --train_limit 512 \
  --dev_size 300 --precision fp32 --rl_precision auto --sft_seed 42 --sft_epochs 2 --sft_learning_rate 5e-5 \
  --rollouts 500 --batch_size 8 --num_mini_batches 4 --learning_rate 1e-4 --lora_r 1 --lora_alpha 32 \
  --kl_coef 0.01 --lam 1.0 --critic_learning_rate 1e-4 --critic_warmup_rollouts 1 --critic_detach_backbone 1 \
  --max_completion_length 160 --save_every 2 --eval_batch_size 64 --seed 42 --splits test dev \
  --stop_after_minutes "$minutes" 2>&1 | tee -a "$out/run.log"
# Carry the last checkpoint back (steps count optimizer steps: 8 per rollout)
rm -rf "$here/carry" && mkdir -p "$here/carry"
cp -r "$(last "$out/ppo")" "$here/carry/" && cp "$out/ppo/wall_clock.json" "$here/carry/"
to=$(step "$here/carry")
mkdir -p "$here/logs" && cp "$out/run.log" "$here/logs/session_$started.log"
for name in summary.json timings.json log_history.json training_curves.png; do
  [ -f "$out/$name" ] && cp "$out/$name" "$here/"
done
sha=$(sha256sum "$out/sft/model.safetensors" | cut -c1-16)
bf16=$(grep -o -w 'amx_bf16\|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')
cpu=$(lscpu 2>/dev/null | grep 'Model name' | sed 's/.*: *//')
echo "| $started | $(git rev-parse --short HEAD) | $cpu | ${bf16:-none} | $sha | $from -> $to ($(( (to - from) / 8 )) rollouts) | $(cut -d' ' -f1-3 /proc/loadavg) |" \
  | tee -a "$here/sessions.md"
