#!/bin/bash
# Continued-SFT control for learning run 2: same warm-up, same 512 training questions (with their gold programs),
# the warm-up's learning rate (5e-5, constant), for PPO's wall time (40 minutes)
cd /work/exp2
export PYTHONPATH=/work/exp2 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/sft-pcot \
  --method sft --cot pcot --sft_dir /work/exp-out/ppo-pcot/sft --train_limit 512 --dev_size 300 \
  --rollouts 100 --rl_minutes 40 --batch_size 8 --num_mini_batches 4 --learning_rate 5e-5 \
  --max_completion_length 160 --save_every 4 --eval_batch_size 64 --seed 42
