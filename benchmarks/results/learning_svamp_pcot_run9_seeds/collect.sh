#!/bin/bash
# Copies one finished run of run_rewarmed.sh from /work/exp-out into <method>_seed<N>/ (logs, curves, settings, timings,
# greedy predictions of the run and of the warm-up it started from, the warm-up's SHA-256 when this run trained it)
# and writes its paired test against that warm-up and against run 9's warm-up into paired_test.txt.
# Usage (from the repository root): bash benchmarks/results/learning_svamp_pcot_run9_seeds/collect.sh ppo 46
set -e
method=$1 seed=$2
src=/work/exp-out/run9-seeds/$method-seed$seed
here=benchmarks/results/learning_svamp_pcot_run9_seeds
dst=$here/${method}_seed$seed
[ -f $src/summary.json ] || { echo "$src has no summary.json: the run has not finished" >&2; exit 1; }
mkdir -p $dst/eval
for f in log_history.json sft_log_history.json run.log settings.json summary.json timings.json training_curves.png \
  commit.txt warm-up.sha256; do
  [ -f $src/$f ] && cp $src/$f $dst/
done
cp $src/$method/wall_clock.json $dst/
for model in warm-up $method; do
  mkdir -p $dst/eval/$model && cp -r $src/eval/$model/test $dst/eval/$model/
done
name=$([ $method = ppo ] && echo "ReFT" || echo "continued SFT")
label="$name run 9, seed $seed"
run9=benchmarks/results/learning_svamp_pcot_ppo_run9/eval/warm-up
{ echo "# python benchmarks/compare_learning_runs.py --splits test --model warm-up=$dst/eval/warm-up --model \"$label\"=$dst/eval/$method --model \"warm-up of run 9\"=$run9"
  echo
  .venv/bin/python benchmarks/compare_learning_runs.py --splits test --model warm-up=$dst/eval/warm-up \
    --model "$label"=$dst/eval/$method --model "warm-up of run 9"=$run9; } > $dst/paired_test.txt
cat $dst/paired_test.txt
