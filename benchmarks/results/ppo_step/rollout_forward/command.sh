#!/bin/bash
# Rollout cost of the explicit log-prob + value forward (c3ac24d) against the earlier divert: /work/exp9 is a worktree at
# 6438e5f (before the change), /work/main at c3ac24d (after it).
# bench_ppo_step.py's default rollout (8 completions x 64 tokens, 2 PPO epochs), old, new, new, old.
set -e
for which in old new new old; do
  if [ $which = old ]; then repo=/work/exp9; else repo=/work/main; fi
  cd $repo
  PYTHONPATH=$repo HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false /work/main/.venv/bin/python benchmarks/bench_ppo_step.py \
    --project-python /work/main/.venv/bin/python --trainers reft --steps 3 \
    --json /work/exp-out/bench/ppo_step_$which-$(date +%H%M%S).json
done
