#!/bin/bash
# bf16 against float32 on a processor with native bf16 (AVX512-BF16), side by side in one job (fixed 2026-12-01 before
# it ran): the issue "Fast on a CPU"'s bf16 part measured where it applies. Run alone, after the learning run.
# 1. PPO rollouts of ReFTPPOTrainer (bench_ppo_step's settings: 8 completions of up to 64 tokens, 2 PPO epochs),
#    --precision fp32 / bf16 / bf16 / fp32, 4 rollouts each (the first a warm-up).
# 2. Generation (bench_generation.py): float32, float32 weights under bf16 autocast, bf16 weights, bf16 weights with the
#    shrinking loop (evaluation's); greedy batch 64 x 160 tokens, sampling batch 8 x 64 tokens; machine limits.
# 3. Greedy evaluation of all 1,000 SVAMP P-CoT test questions by the re-trained run 9 warm-up, bf16 weights, as
#    `bench_learning_svamp.py` evaluates (batch 64, 160 new tokens, shrinking); its float32 twin is that run's
#    own evaluation (eval/warm-up, timings.json eval_warm-up_s).
set -e
cd "$(dirname "$0")/../../.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=benchmarks/results/cpu_bf16 warm=/work/exp-out/run9-seeds/ppo-seed45/sft py=.venv/bin/python
git rev-parse HEAD > $out/commit.txt; uptime | tee $out/load.txt
i=0
for precision in fp32 bf16 bf16 fp32; do
  i=$((i + 1))
  $py benchmarks/bench_ppo_step.py --trainers reft --precision $precision --steps 4 \
    --json $out/ppo_step_${i}_$precision.json 2>&1 | tail -40 > $out/ppo_step_${i}_$precision.txt
  uptime | tee -a $out/load.txt
done
$py benchmarks/bench_generation.py --model $warm --variants fp32 autocast bf16 bf16_shrinking --batch_sizes 64 \
  --sample_batch_sizes 8 --skip_refresh --output_dir $out 2>&1 | tail -40 > $out/generation.txt
uptime | tee -a $out/load.txt
start=$(date +%s.%N)
.venv/bin/reft-trl eval --model_name_or_path $warm --task svamp --cot pcot --split test --max_new_tokens 160 \
  --batch_size 64 --backend hf --hf_decoding shrinking --dtype bfloat16 --output_dir $out/eval_warm_up_bf16/test \
  > $out/eval_warm_up_bf16.log 2>&1
echo "{\"seconds\": $(echo "$(date +%s.%N) - $start" | bc)}" > $out/eval_warm_up_bf16_seconds.json
uptime | tee -a $out/load.txt
