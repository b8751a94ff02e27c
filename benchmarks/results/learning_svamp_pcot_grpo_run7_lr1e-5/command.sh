#!/bin/bash
# GRPO control for learning run 7 (fixed 2026-11-30 with run 7, before any of it ran): only if run 7's dev rule picks
# lr 1e-5 or 3e-5 for ReFT. The same warm-up and 512 questions, ReFT's budget in samples (16 rollouts x 8 questions x 4
# samples = 512), the learning rate ReFT was given; evaluated on the same splits as ReFT (test and dev).
# Usage: run_grpo_run7.sh LR [SPLIT ...]   (default: test dev)
lr=$1; shift
cd /work/exp7
export PYTHONPATH=/work/exp7 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=/work/exp-out/grpo-pcot-run7-lr$lr
mkdir -p $out/eval && [ -d $out/eval/warm-up ] || cp -r /work/exp-out/ppo-pcot-run4/eval/warm-up $out/eval/
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir $out \
  --method grpo --cot pcot --sft_dir /work/exp-out/sft-pcot/sft --train_limit 512 --dev_size 300 \
  --rollouts 16 --batch_size 8 --num_mini_batches 4 --num_generations 4 --learning_rate $lr \
  --max_completion_length 160 --save_every 4 --eval_batch_size 64 --seed 42 --splits ${@:-test dev}
