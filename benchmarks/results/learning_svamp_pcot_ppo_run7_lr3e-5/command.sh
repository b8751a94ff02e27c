#!/bin/bash
# ReFT PPO, learning run 7 (fixed 2026-11-30 after run 6, before any run-7 result): the policy's learning rate chosen
# on the dev split, the test set untouched. Run 4 exactly (same warm-up, settings, seed, the warm-up's 512 questions,
# 16 rollouts = 512 samples) at lr $1 (1e-5 or 3e-5), evaluated on dev only (--splits dev). Decision rule, fixed now:
# among lr 3e-6 (run 4: 60.3 % dev), 1e-5 and 3e-5, the highest dev accuracy (a tie: the smaller lr) is evaluated on
# the test set (rerun this script as `run_ppo_run7.sh LR test dev`: the trained model is reused), with a GRPO control at the same
# lr and budget; if 3e-6 wins, run 4 stands and nothing is evaluated on test. Warm-up dev evaluation copied from run 4.
# Usage: run_ppo_run7.sh LR [SPLIT ...]   (default: dev)
lr=$1; shift
cd /work/exp7
export PYTHONPATH=/work/exp7 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=/work/exp-out/ppo-pcot-run7-lr$lr
mkdir -p $out/eval && [ -d $out/eval/warm-up ] || cp -r /work/exp-out/ppo-pcot-run4/eval/warm-up $out/eval/
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir $out \
  --method ppo --cot pcot --sft_dir /work/exp-out/sft-pcot/sft --train_limit 512 --dev_size 300 \
  --rollouts 16 --batch_size 8 --num_mini_batches 4 --learning_rate $lr --kl_coef 0.01 --lam 1.0 \
  --critic_learning_rate 1e-4 --critic_warmup_rollouts 1 --critic_detach_backbone 1 --max_completion_length 160 \
  --save_every 4 --eval_batch_size 64 --seed 42 --splits ${@:-dev}
