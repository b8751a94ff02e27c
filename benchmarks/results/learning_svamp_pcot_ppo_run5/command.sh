#!/bin/bash
# ReFT PPO, learning run 5: run 4 (same warm-up, settings and budget: 16 rollouts x 32 = 512 samples) on 512 training
# questions the warm-up never saw (rows 512..1023 of the authors' SVAMP training file) instead of its own 512, whose
# sampled accuracy sat at ~77 % through run 4. The warm-up's evaluation is run 4's (copied: same model and prompts).
cd /work/exp
export PYTHONPATH=/work/exp HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/ppo-pcot-run5 \
  --method ppo --cot pcot --sft_dir /work/exp-out/sft-pcot/sft --train_limit 512 --rl_start 512 --rl_limit 512 \
  --dev_size 300 --rollouts 16 --batch_size 8 --num_mini_batches 4 --learning_rate 3e-6 --kl_coef 0.01 --lam 1.0 \
  --critic_learning_rate 1e-4 --critic_warmup_rollouts 1 --critic_detach_backbone 1 --max_completion_length 160 \
  --save_every 4 --eval_batch_size 64 --seed 42
