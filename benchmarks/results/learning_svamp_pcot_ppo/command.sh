#!/bin/bash
# ReFT PPO on SVAMP P-CoT, settings fixed before the run (see BENCHMARKS.md)
cd /work/exp
export PYTHONPATH=/work/exp HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/ppo-pcot \
  --method ppo --cot pcot --train_limit 512 --dev_size 300 --sft_epochs 2 --sft_learning_rate 5e-5 \
  --rollouts 40 --rl_minutes 40 --batch_size 8 --num_mini_batches 4 --learning_rate 3e-6 --kl_coef 0.01 --lam 1.0 \
  --critic_learning_rate 1e-4 --critic_warmup_rollouts 1 --critic_detach_backbone 1 --max_completion_length 160 \
  --save_every 4 --eval_batch_size 64 --seed 42
