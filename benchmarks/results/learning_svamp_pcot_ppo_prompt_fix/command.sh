#!/bin/bash
# ReFT PPO, learning run 3: run 2's warm-up and settings unchanged; the only change is the P-CoT prompt, which now ends
# at the docstring's closing quotes (commit e727adf): the warm-up and the ReFT model are evaluated, and PPO samples,
# from prompts whose tokens start the SFT text's. Evaluation decodes with hf_decoding=shrinking (same greedy tokens).
cd /work/exp
export PYTHONPATH=/work/exp HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/ppo-pcot-fix \
  --method ppo --cot pcot --sft_dir /work/exp-out/ppo-pcot/sft --train_limit 512 --dev_size 300 \
  --rollouts 40 --rl_minutes 40 --batch_size 8 --num_mini_batches 4 --learning_rate 3e-6 --kl_coef 0.01 --lam 1.0 \
  --critic_learning_rate 1e-4 --critic_warmup_rollouts 1 --critic_detach_backbone 1 --max_completion_length 160 \
  --save_every 4 --eval_batch_size 64 --seed 42
