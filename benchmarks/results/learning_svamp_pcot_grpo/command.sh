#!/bin/bash
# GRPO control for learning run 2: same warm-up, same training questions, same samples budget (12 rollouts x 32)
cd /work/exp
export PYTHONPATH=/work/exp HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/grpo-pcot \
  --method grpo --cot pcot --sft_dir /work/exp-out/ppo-pcot/sft --train_limit 512 --dev_size 300 \
  --rollouts 12 --batch_size 8 --num_mini_batches 4 --num_generations 4 --learning_rate 3e-6 \
  --max_completion_length 160 --save_every 4 --eval_batch_size 64 --seed 42
