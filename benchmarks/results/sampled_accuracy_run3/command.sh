#!/bin/bash
# Sampled accuracy (one completion per question at temperature 1, the rollouts' sampling) of run 3's models, on the
# first 500 SVAMP test problems and the 300 dev questions; arguments: NAME=DIR ...
cd /work/exp
export PYTHONPATH=/work/exp HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
args=(); for m in "$@"; do args+=(--model "$m"); done
exec /work/main/.venv/bin/python benchmarks/bench_sampled_accuracy.py --output_dir /work/exp-out/sampled-run3 \
  --cot pcot --dev_size 300 --eval_limit 500 --num_samples 1 --temperature 1.0 --max_new_tokens 160 --batch_size 64 --seed 42 "${args[@]}"
# run as: bash command.sh warm-up=/work/exp-out/ppo-pcot/sft ReFT=/work/exp-out/ppo-pcot-fix/ppo
