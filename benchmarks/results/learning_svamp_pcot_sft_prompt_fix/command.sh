#!/bin/bash
# Continued-SFT control for run 3: run 2's continued-SFT model (SFT text does not depend on the prompt's boundary, so
# the fixed prompt changes only its evaluation), evaluated with run 3's fixed P-CoT prompt; warm-up eval is run 3's
cd /work/exp
export PYTHONPATH=/work/exp HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/sft-pcot-fix \
  --method sft --cot pcot --sft_dir /work/exp-out/ppo-pcot/sft --train_limit 512 --dev_size 300 \
  --rollouts 100 --rl_minutes 40 --batch_size 8 --num_mini_batches 4 --learning_rate 5e-5 \
  --max_completion_length 160 --save_every 4 --eval_batch_size 64 --seed 42
