#!/bin/bash
# GRPO control for learning run 5: run 5's warm-up, the same fresh training questions (from row 512), run 5's budget
# in samples (16 rollouts x 8 questions x 4 samples = 512), lr 3e-6 as PPO; the warm-up's evaluation is run 4's (copied)
cd /work/exp
export PYTHONPATH=/work/exp HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/grpo-pcot-run5 \
  --method grpo --cot pcot --sft_dir /work/exp-out/sft-pcot/sft --train_limit 512 --rl_start 512 --rl_limit 512 \
  --dev_size 300 --rollouts 16 --batch_size 8 --num_mini_batches 4 --num_generations 4 --learning_rate 3e-6 \
  --max_completion_length 160 --save_every 4 --eval_batch_size 64 --seed 42
