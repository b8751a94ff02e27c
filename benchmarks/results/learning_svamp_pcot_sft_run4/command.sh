#!/bin/bash
# Continued-SFT control for learning run 4: run 4's warm-up (run 2's continued-SFT model), the same 512 questions
# with their gold programs, lr 5e-5 constant, for run 4's PPO wall time (minutes passed as $1, from its timings.json);
# the warm-up's evaluation is run 4's (copied)
cd /work/exp
export PYTHONPATH=/work/exp HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/sft-pcot-run4 \
  --method sft --cot pcot --sft_dir /work/exp-out/sft-pcot/sft --train_limit 512 --dev_size 300 \
  --rollouts 200 --rl_minutes "$1" --batch_size 8 --num_mini_batches 4 --learning_rate 5e-5 \
  --max_completion_length 160 --save_every 4 --eval_batch_size 64 --seed 42
