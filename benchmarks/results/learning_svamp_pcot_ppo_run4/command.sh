#!/bin/bash
# ReFT PPO, learning run 4: run 3's PPO settings from a longer warm-up, run 2's continued-SFT model (2 epochs + 3.1
# epochs at lr 5e-5 = about 5 epochs on the 512 questions; the authors' small-model scripts warm up for 10 epochs);
# budget in samples as run 3 / the online-ST control (16 rollouts x 32 = 512). The warm-up's evaluation is the
# continued-SFT control's (copied from /work/exp-out/sft-pcot-fix/eval/sft: same model, prompts and settings).
cd /work/exp
export PYTHONPATH=/work/exp HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec /work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir /work/exp-out/ppo-pcot-run4 \
  --method ppo --cot pcot --sft_dir /work/exp-out/sft-pcot/sft --train_limit 512 --dev_size 300 \
  --rollouts 16 --batch_size 8 --num_mini_batches 4 --learning_rate 3e-6 --kl_coef 0.01 --lam 1.0 \
  --critic_learning_rate 1e-4 --critic_warmup_rollouts 1 --critic_detach_backbone 1 --max_completion_length 160 \
  --save_every 4 --eval_batch_size 64 --seed 42
