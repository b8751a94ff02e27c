#!/bin/bash
# Runs 3-6 of PLAN.md after its deviation 1 (fixed 2026-12-01, twelfth session, before any of these runs): run 9's
# warm-up checkpoint was lost with the previous machine, so it is trained again by run 9's command (2 epochs, lr 5e-5,
# seed 42) in float32, as run 9's, by the first of these runs (ReFT seed 45); the others start from it. Each run is
# paired with that warm-up's own greedy predictions. Otherwise identical to ppo.sh / sft.sh: run 9's settings, float32
# forced (`--precision fp32`: this machine has native bf16, which `auto` would use), test split only.
# Code: the worktree /work/exp11 is checked: nothing uncommitted, and reft_trl/, the benchmark script and setup.cfg as
# in the commit that last changed this script in the worktree's history (its HEAD is recorded in the output folder's commit.txt).
# Usage: run_rewarmed.sh ppo SEED (45 or 46) | run_rewarmed.sh sft SEED (44 or 45). The worktree /work/exp11 at 64be420
# (`git worktree add --detach /work/exp11 64be420`): reft_trl/ as run 3 used it.
set -e
method=$1 seed=$2
[[ $method$seed =~ ^(ppo4[56]|sft4[45])$ ]] || { echo "usage: run_rewarmed.sh ppo 45|46 or sft 44|45" >&2; exit 2; }
cd /work/exp11
code=$(git log -1 --format=%h -- benchmarks/results/learning_svamp_pcot_run9_seeds/run_rewarmed.sh)
[ -z "$(git status --porcelain)" ] && git diff --quiet $code HEAD -- reft_trl benchmarks/bench_learning_svamp.py setup.cfg \
  || { echo "/work/exp11: uncommitted changes, or code other than $code's" >&2; exit 1; }
export PYTHONPATH=/work/exp11 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=/work/exp-out/run9-seeds/$method-seed$seed
# The warm-up: trained by the first run on this machine (ReFT seed 45 at first; on a new machine, whichever run comes
# first: deviation 1's rule), into its own sft/ (an SFT run: into /work/exp-out/run9-seeds/warm-up-for-sftN/sft, since
# its own sft/ is the control's) and evaluated in its eval/warm-up; later runs reuse that one.
first=
for dir in /work/exp-out/run9-seeds/*-seed*; do
  if [ "$dir" != "$out" ] && [ -f $dir/sft/model.safetensors ] \
    && [ -f $dir/eval/warm-up/test/svamp-pcot-greedy.summary.json ]; then first=$dir; break; fi
done
common=(--cot pcot --train_limit 512 --dev_size 300 --precision fp32 --batch_size 8 --num_mini_batches 4
  --max_completion_length 160 --save_every 4 --eval_batch_size 64 --seed "$seed" --splits test)
trained=
if [ "$method$seed" = ppo45 ] || [ -z "$first" ]; then
  trained=$out/sft  # resumes a warm-up cut short there
  # the pinned bench saves the SFT control in $out/sft too: an SFT run trains its warm-up beside, named by --sft_dir
  [ $method = sft ] && trained=/work/exp-out/run9-seeds/warm-up-for-sft$seed/sft
  warm=(--sft_seed 42 --sft_epochs 2 --sft_learning_rate 5e-5)
  [ $method = sft ] && warm+=(--sft_dir $trained)
else
  warm=(--sft_dir $first/sft)
  mkdir -p $out/eval && [ -d $out/eval/warm-up ] || cp -r $first/eval/warm-up $out/eval/
fi
if [ $method = ppo ]; then
  rl=(--rollouts 16 --learning_rate 1e-5 --kl_coef 0.01 --lam 1.0 --critic_learning_rate 1e-4
    --critic_warmup_rollouts 1 --critic_detach_backbone 1)
else
  rl=(--rollouts 100 --rl_minutes 68 --learning_rate 5e-5)
fi
mkdir -p $out && git rev-parse HEAD > $out/commit.txt
/work/main/.venv/bin/python benchmarks/bench_learning_svamp.py --output_dir $out --method $method \
  "${warm[@]}" "${common[@]}" "${rl[@]}"
# A warm-up trained here: its SHA-256 against run 3's (78b26060..., trained twice, on two machines, with the same weights)
if [ -n "$trained" ] && [ -f $trained/model.safetensors ]; then
  (cd $trained/.. && sha256sum sft/model.safetensors) | tee $out/warm-up.sha256
  grep -q ^78b26060dc19e3ffe1aa399dce98dad3acf678e3ca0a64c0f03ae304c7bb3689 $out/warm-up.sha256 \
    || echo "this warm-up differs from run 3's: pair this run and the later ones with its own eval/warm-up" >&2
fi
