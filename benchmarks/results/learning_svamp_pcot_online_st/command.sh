#!/bin/bash
# Online self-training control for run 3: run 2's warm-up, the fixed P-CoT prompt, the same 512 training questions,
# ReFT run 3's budget in samples (16 rollouts x 32 completions, one per question), the RL arms' learning rate (3e-6;
# the authors' online ST uses ReFT's learning rate), two passes per rollout as PPO's epochs; the warm-up's evaluation
# is run 3's (copied)
# Run twice with this same command: the first run was stopped at step 77 of 128 (end of a session), the second
# resumed from checkpoint-64 (run.log holds both)
cd /work/exp
export PYTHONPATH=/work/exp HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/onst-pcot-fix \
  --method online_st --cot pcot --sft_dir /work/exp-out/ppo-pcot/sft --train_limit 512 --dev_size 300 \
  --rollouts 16 --batch_size 8 --num_mini_batches 4 --learning_rate 3e-6 \
  --max_completion_length 160 --save_every 4 --eval_batch_size 64 --seed 42
