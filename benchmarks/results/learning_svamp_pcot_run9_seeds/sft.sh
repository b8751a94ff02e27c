#!/bin/bash
# Continued-SFT control, run 9's setting with seed SEED (one of 43, 44, 45; fixed 2026-12-01 before any of them ran;
# see PLAN.md). Identical to learning_svamp_pcot_sft_run9/command.sh (run with 68 minutes, seed 42) but for the seed,
# the output folder and the splits (test only, as the ReFT seeds): run 9's warm-up (SHA-256 checked), the same 512
# training questions with their gold programs, lr 5e-5 constant, 68 minutes of training wall time (the seed-42
# control's budget: run 9's PPO time, 68.3 min). Code: 25b5621 (the worktree is checked: that commit, nothing
# uncommitted). Usage: sft.sh SEED
set -e
seed=$1; [[ $seed =~ ^4[3-5]$ ]] || { echo "usage: sft.sh SEED (43, 44 or 45)" >&2; exit 2; }
cd /work/exp9
[ "$(git rev-parse --short=7 HEAD)" = 25b5621 ] && [ -z "$(git status --porcelain)" ] \
  || { echo "/work/exp9 is not a clean checkout of 25b5621" >&2; exit 1; }
export PYTHONPATH=/work/exp9 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=/work/exp-out/run9-seeds/sft-seed$seed
echo "$(sha256sum /work/exp-out/ppo-pcot-run9/sft/model.safetensors | cut -d' ' -f1)  sft/model.safetensors (the warm-up, float32)" \
  | cmp - benchmarks/results/learning_svamp_pcot_ppo_run9/warm-up.sha256
mkdir -p $out/eval && [ -d $out/eval/warm-up ] || cp -r /work/exp-out/ppo-pcot-run9/eval/warm-up $out/eval/
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir $out \
  --method sft --cot pcot --sft_dir /work/exp-out/ppo-pcot-run9/sft --train_limit 512 --dev_size 300 \
  --rollouts 100 --rl_minutes 68 --batch_size 8 --num_mini_batches 4 --learning_rate 5e-5 \
  --max_completion_length 160 --save_every 4 --eval_batch_size 64 --seed $seed --splits test
