#!/bin/bash
# ReFT PPO, learning run 9 (fixed 2026-11-30 after run 8, before any run-9 result). Run 3 with one change: the policy's
# learning rate 1e-5 (chosen on dev in run 7) instead of 3e-6. Rationale: from the 2-epoch warm-up, continued
# SFT (+3.6) and online self-training (+3.5, 512 samples) showed headroom on test that ReFT at lr 3e-6 (+1.4, KL 0.29
# nat per sequence) did not take. The warm-up is trained again with run 2's command (this machine holds no earlier
# checkpoint); if its greedy test and dev predictions equal run 3's warm-up's, run 3's controls are this run's controls
# at the same budget (512 samples; continued SFT 40 minutes). Budget: 16 rollouts x 32 = 512 samples, the first 32 of
# which train only the critic, as in run 3. One run, seed 42; evaluated on test and dev, paired against its warm-up.
set -e
cd /work/exp9
export PYTHONPATH=/work/exp9 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/ppo-pcot-run9 \
  --method ppo --cot pcot --train_limit 512 --dev_size 300 --sft_epochs 2 --sft_learning_rate 5e-5 \
  --rollouts 16 --batch_size 8 --num_mini_batches 4 --learning_rate 1e-5 --kl_coef 0.01 --lam 1.0 \
  --critic_learning_rate 1e-4 --critic_warmup_rollouts 1 --critic_detach_backbone 1 --max_completion_length 160 \
  --save_every 4 --eval_batch_size 64 --seed 42 --splits test dev
