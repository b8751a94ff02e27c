#!/bin/bash
# Continued-SFT control for learning run 5: run 5's warm-up (run 4's), the same 512 fresh training questions (rows
# 512..1023) with their gold programs, lr 5e-5 constant, for run 5's PPO wall time (minutes passed as $1, from its
# timings.json); the warm-up's evaluation is run 4's (copied)
cd /work/exp
export PYTHONPATH=/work/exp HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/sft-pcot-run5 \
  --method sft --cot pcot --sft_dir /work/exp-out/sft-pcot/sft --train_limit 512 --rl_start 512 --rl_limit 512 \
  --dev_size 300 --rollouts 200 --rl_minutes "$1" --batch_size 8 --num_mini_batches 4 --learning_rate 5e-5 \
  --max_completion_length 160 --save_every 4 --eval_batch_size 64 --seed 42
