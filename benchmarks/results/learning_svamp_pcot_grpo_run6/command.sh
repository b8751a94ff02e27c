#!/bin/bash
# GRPO control for learning run 6 (fixed with run 6, before any result): the same warm-up and 512 questions, run 6's
# budget in samples (64 rollouts x 8 questions x 4 samples = 2,048), lr 3e-6 as PPO; warm-up evaluation copied from
# run 4. Spans sessions: rerun to resume from the last checkpoint.
cd /work/exp
export PYTHONPATH=/work/exp HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/grpo-pcot-run6 \
  --method grpo --cot pcot --sft_dir /work/exp-out/sft-pcot/sft --train_limit 512 --dev_size 300 \
  --rollouts 64 --batch_size 8 --num_mini_batches 4 --num_generations 4 --learning_rate 3e-6 \
  --max_completion_length 160 --save_every 4 --eval_batch_size 64 --seed 42
