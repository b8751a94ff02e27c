#!/bin/bash
# Continued-SFT control for learning run 9 (fixed 2026-11-30 with run 9, before any of it ran): run 9's warm-up, the
# same 512 training questions with their gold programs, the warm-up's learning rate (5e-5, constant), for run 9's PPO
# wall time: MINUTES = run 9's rl_s (timings.json) / 60, rounded up. The warm-up's evaluation is run 9's (copied).
# Usage: command.sh MINUTES
set -e
cd /work/exp9
export PYTHONPATH=/work/exp9 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=/work/exp-out/sft-pcot-run9
mkdir -p $out/eval && [ -d $out/eval/warm-up ] || cp -r /work/exp-out/ppo-pcot-run9/eval/warm-up $out/eval/
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir $out \
  --method sft --cot pcot --sft_dir /work/exp-out/ppo-pcot-run9/sft --train_limit 512 --dev_size 300 \
  --rollouts 100 --rl_minutes $1 --batch_size 8 --num_mini_batches 4 --learning_rate 5e-5 \
  --max_completion_length 160 --save_every 4 --eval_batch_size 64 --seed 42 --splits test dev
