#!/bin/bash
# ReFT PPO, run 9 again with another RL seed (fixed 2026-12-01 before it ran, after run 9 and its control): run 9's
# warm-up (its SHA-256 checked against run 9's warm-up.sha256), run 9's settings, seed 43 for the RL stage (data order,
# sampling, value head). Rationale: run 9 (seed 42) gained +1.6 on test, its continued-SFT control +1.5; how much of
# such a gain is the RL seed? One more seed, nothing chosen between them: both are reported. Evaluated on all 1,000
# test problems only (greedy), paired against run 9's warm-up predictions (copied); no dev evaluation, to fit the
# session. Code: 1873c69 (TRL's redundant rollout forward skipped: the same outputs, faster).
set -e
cd /work/exp10
export PYTHONPATH=/work/exp10 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=/work/exp-out/ppo-pcot-run9-seed43
echo "$(sha256sum /work/exp-out/ppo-pcot-run9/sft/model.safetensors | cut -d' ' -f1)  sft/model.safetensors (the warm-up, float32)" \
  | cmp - benchmarks/results/learning_svamp_pcot_ppo_run9/warm-up.sha256
mkdir -p $out/eval && [ -d $out/eval/warm-up ] || cp -r /work/exp-out/ppo-pcot-run9/eval/warm-up $out/eval/
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir $out \
  --method ppo --cot pcot --sft_dir /work/exp-out/ppo-pcot-run9/sft --train_limit 512 --dev_size 300 \
  --rollouts 16 --batch_size 8 --num_mini_batches 4 --learning_rate 1e-5 --kl_coef 0.01 --lam 1.0 \
  --critic_learning_rate 1e-4 --critic_warmup_rollouts 1 --critic_detach_backbone 1 --max_completion_length 160 \
  --save_every 4 --eval_batch_size 64 --seed 43 --splits test
