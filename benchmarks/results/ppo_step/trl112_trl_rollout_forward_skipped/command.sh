#!/bin/bash
# ReFTPPOTrainer against TRL 1.12's PPOTrainer once the policy forward TRL's rollout runs for its own old log-probs
# is skipped (ours replace them; the explicit log-prob + value forward stays): the settings of BENCHMARKS.md's runs C
# and D (8 completions x 64 tokens, 2 PPO epochs, fp32, 5 rollouts per trainer), in both orders. Needs .venv-trl112 (benchmarks/requirements-trl112.txt).
set -e
cd "$(dirname "$0")/../../../.."
out=benchmarks/results/ppo_step/trl112_trl_rollout_forward_skipped
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
for order in "reft trl112" "trl112 reft"; do
  .venv/bin/python benchmarks/bench_ppo_step.py --trainers $order --steps 5 --repeats 1 \
    --json $out/ppo_step_$(echo $order | tr ' ' '-')_$(date +%Y%m%d-%H%M%S).json
done
