#!/bin/bash
# ReFTPPOTrainer against TRL 1.12's PPOTrainer in bf16 mixed precision, on a processor with native bf16 (AVX512-BF16):
# the issue "Fast on a CPU"'s PPO target (<= 0.5x TRL 1.12's time per rollout at the same precision, peak memory
# <= 0.6x), measured where bf16 applies. Settings of the fp32 runs beside it (8 completions x 64 tokens, 2 PPO epochs),
# 5 rollouts per trainer (the first a warm-up), `--precision bf16` for both (TRL 1.12 through ACCELERATE_MIXED_PRECISION;
# under bf16 only its update is autocast), in both orders. Fixed before it ran. Needs .venv-trl112
# (benchmarks/requirements-trl112.txt).
# Repeated (../trl112_bf16 is the first measurement, 2026-12-02 at 4e741c4) now that ReFTPPOTrainer's rollouts decode
# from weights packed for oneDNN by default (`rollout_pack_weights`); TRL 1.12's side is unchanged.
set -e
cd "$(dirname "$0")/../../../.."
out=benchmarks/results/ppo_step/trl112_bf16_packed
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
git rev-parse HEAD > $out/commit.txt; uptime | tee $out/load.txt
for order in "reft trl112" "trl112 reft"; do
  .venv/bin/python benchmarks/bench_ppo_step.py --trainers $order --precision bf16 --steps 5 --repeats 1 \
    --json $out/ppo_step_$(echo $order | tr ' ' '-')_$(date +%Y%m%d-%H%M%S).json 2>&1 | tail -30
  uptime | tee -a $out/load.txt
done
