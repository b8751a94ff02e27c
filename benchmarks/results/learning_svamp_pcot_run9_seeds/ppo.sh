#!/bin/bash
# ReFT PPO, run 9's setting with RL seed SEED (one of 44, 45, 46; fixed 2026-12-01 before any of them ran; see PLAN.md).
# Identical to learning_svamp_pcot_ppo_run9_seed43/command.sh but for the seed and the output folder: run 9's warm-up
# (SHA-256 checked), run 9's settings, greedy on all 1,000 test problems, paired against run 9's warm-up predictions.
# Code: 1d21c85 (the worktree is checked: that commit, nothing uncommitted). Usage: ppo.sh SEED
set -e
seed=$1; [[ $seed =~ ^4[4-6]$ ]] || { echo "usage: ppo.sh SEED (44, 45 or 46)" >&2; exit 2; }
cd /work/exp10
[ "$(git rev-parse --short=7 HEAD)" = 1d21c85 ] && [ -z "$(git status --porcelain)" ] \
  || { echo "/work/exp10 is not a clean checkout of 1d21c85" >&2; exit 1; }
export PYTHONPATH=/work/exp10 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=/work/exp-out/run9-seeds/ppo-seed$seed
echo "$(sha256sum /work/exp-out/ppo-pcot-run9/sft/model.safetensors | cut -d' ' -f1)  sft/model.safetensors (the warm-up, float32)" \
  | cmp - benchmarks/results/learning_svamp_pcot_ppo_run9/warm-up.sha256
mkdir -p $out/eval && [ -d $out/eval/warm-up ] || cp -r /work/exp-out/ppo-pcot-run9/eval/warm-up $out/eval/
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir $out \
  --method ppo --cot pcot --sft_dir /work/exp-out/ppo-pcot-run9/sft --train_limit 512 --dev_size 300 \
  --rollouts 16 --batch_size 8 --num_mini_batches 4 --learning_rate 1e-5 --kl_coef 0.01 --lam 1.0 \
  --critic_learning_rate 1e-4 --critic_warmup_rollouts 1 --critic_detach_backbone 1 --max_completion_length 160 \
  --save_every 4 --eval_batch_size 64 --seed $seed --splits test
