#!/bin/bash
# Learning run 2, continued: the same PPO settings resumed from its last checkpoint (step 93 = 11.6 rollouts) to 24
# rollouts (192 optimizer steps, 768 sampled programs); budget in rollouts, no wall-clock cap
cd /work/exp2
export PYTHONPATH=/work/exp2 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/ppo-pcot-24 \
  --method ppo --cot pcot --sft_dir /work/exp-out/ppo-pcot/sft --train_limit 512 --dev_size 300 \
  --rollouts 24 --batch_size 8 --num_mini_batches 4 --learning_rate 3e-6 --kl_coef 0.01 --lam 1.0 \
  --critic_learning_rate 1e-4 --critic_warmup_rollouts 1 --critic_detach_backbone 1 --max_completion_length 160 \
  --save_every 4 --eval_batch_size 64 --seed 42
