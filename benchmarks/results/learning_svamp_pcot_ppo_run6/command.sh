#!/bin/bash
# ReFT PPO, learning run 6 (fixed 2026-11-30 after run 5, before any run-6 result): run 4 exactly (same warm-up,
# settings, seed, the warm-up's own 512 questions) with 4x the budget: 64 rollouts = 2,048 samples = 4 passes over the
# 512 questions, as the paper's ReFT samples its training set epoch after epoch. About 2.3 h: it spans sessions,
# resuming from its last checkpoint (every 4 rollouts) when rerun. Warm-up evaluation copied from run 4.
# Its controls, fixed now: GRPO at 2,048 samples (64 rollouts x 8 questions x 4) from the same warm-up; continued SFT
# for the same wall time is already bounded by run 4's control (34.6 min: -0.6 on test, -5.0 on dev, overfitting).
cd /work/exp
export PYTHONPATH=/work/exp HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/ppo-pcot-run6 \
  --method ppo --cot pcot --sft_dir /work/exp-out/sft-pcot/sft --train_limit 512 --dev_size 300 \
  --rollouts 64 --batch_size 8 --num_mini_batches 4 --learning_rate 3e-6 --kl_coef 0.01 --lam 1.0 \
  --critic_learning_rate 1e-4 --critic_warmup_rollouts 1 --critic_detach_backbone 1 --max_completion_length 160 \
  --save_every 4 --eval_batch_size 64 --seed 42
