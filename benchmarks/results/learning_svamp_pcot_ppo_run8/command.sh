#!/bin/bash
# ReFT PPO, learning run 8 (fixed 2026-11-30 after run 7, before any run-8 result): RL's samples spent on the
# questions the warm-up solves sometimes but not always. Stage 1: the warm-up's pass rate on each of its 512 training
# questions (the RL questions of runs 4 and 7): 4 programs per question at the rollouts' sampling (temperature 1,
# top-k 0, top-p 1, 160 tokens, seed 42): 2,048 samples. Stage 2: run 7's dev-chosen setting (run 4 at lr 1e-5: the
# same warm-up, settings, seed, 16 rollouts x 32 = 512 samples) on the questions with 1, 2 or 3 of 4 correct only;
# evaluated on dev and test, paired against the warm-up (evaluations copied from run 4) and against run 7's lr 1e-5
# (the same setting on all 512 questions). One run; nothing else of it was run or discarded.
set -e
cd /work/exp8
export PYTHONPATH=/work/exp8 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=/work/exp-out/ppo-pcot-run8
/work/main/.venv/bin/python benchmarks/bench_sampled_accuracy.py --output_dir $out/pass_rates \
  --model warm-up=/work/exp-out/sft-pcot/sft --cot pcot --splits train --train_limit 512 --dev_size 300 \
  --num_samples 4 --temperature 1.0 --max_new_tokens 160 --batch_size 64 --seed 42
mkdir -p $out/eval && [ -d $out/eval/warm-up ] || cp -r /work/exp-out/ppo-pcot-run4/eval/warm-up $out/eval/
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir $out \
  --method ppo --cot pcot --sft_dir /work/exp-out/sft-pcot/sft --train_limit 512 --dev_size 300 \
  --rl_pass_rates $out/pass_rates/warm-up/train/svamp-pcot-pass@1.predictions.jsonl \
  --rollouts 16 --batch_size 8 --num_mini_batches 4 --learning_rate 1e-5 --kl_coef 0.01 --lam 1.0 \
  --critic_learning_rate 1e-4 --critic_warmup_rollouts 1 --critic_detach_backbone 1 --max_completion_length 160 \
  --save_every 4 --eval_batch_size 64 --seed 42 --splits test dev
