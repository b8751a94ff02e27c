#!/bin/bash
# GRPO control for learning run 8 (fixed 2026-11-30 with run 8, before any of it ran): the same warm-up, the same
# questions (the warm-up's 512 training questions with 1, 2 or 3 of 4 sampled programs correct, from run 8's pass-rate
# file), ReFT's budget in samples (16 rollouts x 8 questions x 4 samples = 512) and learning rate (1e-5); evaluated on
# test and dev. Run after run_ppo_run8.sh (it reads that run's pass rates).
set -e
cd /work/exp8
export PYTHONPATH=/work/exp8 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=/work/exp-out/grpo-pcot-run8
mkdir -p $out/eval && [ -d $out/eval/warm-up ] || cp -r /work/exp-out/ppo-pcot-run4/eval/warm-up $out/eval/
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir $out \
  --method grpo --cot pcot --sft_dir /work/exp-out/sft-pcot/sft --train_limit 512 --dev_size 300 \
  --rl_pass_rates /work/exp-out/ppo-pcot-run8/pass_rates/warm-up/train/svamp-pcot-pass@1.predictions.jsonl \
  --rollouts 16 --batch_size 8 --num_mini_batches 4 --num_generations 4 --learning_rate 1e-5 \
  --max_completion_length 160 --save_every 4 --eval_batch_size 64 --seed 42 --splits test dev
