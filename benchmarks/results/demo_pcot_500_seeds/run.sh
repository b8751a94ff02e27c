#!/bin/bash
# The demo over more seeds (PLAN.md beside this script): for each SEED given, `reft-trl demo --seed SEED` with every
# other option at its default, then, for the seeds PLAN.md names, the continued-SFT control from that run's warm-up
# (../demo_pcot_500/sft_control.py, data order seeded by SEED). Run it from a fresh clone under /tmp, after `bash .ci/run`
# there (which installs .venv), this job alone on the machine:
#   bash benchmarks/results/demo_pcot_500_seeds/run.sh 42 43 44 45 46 47   (PLAN.md: 42 first, then 43-47)
# Each run writes under /work/exp-out/demo-seeds/seedSEED and copies what is kept into $RESULTS/seedSEED (default: this
# folder in the clone): results.json, curves, the greedy predictions as eval/<model>/test/ (the layout that
# benchmarks/summarize_seeds.py reads; warm-up = the demo's eval/sft), the control's log and JSON, machine.txt.
# A seed whose results are already in $RESULTS/seedSEED from an earlier machine is skipped; one finished on this machine
# (results.json and the curves in its output folder) is only copied again; one cut off runs again from the start.
set -eo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
results=${RESULTS:-$here}
controls=" 42 43 44 "  # PLAN.md: the continued-SFT control for these seeds
cd "$repo"
git diff --quiet HEAD || { echo "$repo: uncommitted changes to tracked files; run from a fresh clone" >&2; exit 1; }
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
for seed in "$@"; do
  out=/work/exp-out/demo-seeds/seed$seed dst=$results/seed$seed
  mkdir -p "$out" "$dst"
  if [ -f "$dst/results.json" ] && [ ! -f "$out/results.json" ]; then
    echo "seed $seed: already in $dst (from an earlier machine); not run again" >&2
    continue
  fi
  if [ ! -f "$out/results.json" ] || [ ! -f "$out/training_curves.png" ]; then
    { echo "commit $(git rev-parse HEAD)"; lscpu 2>/dev/null | grep 'Model name' || true
      echo "native bf16: $(grep -o -w 'amx_bf16\|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ' || true)"
      echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$dst/machine.txt"
    start=$(date +%s)
    .venv/bin/reft-trl demo --seed "$seed" --output_dir "$out" 2>&1 | tee "$out/demo.log"
    echo "demo wall time: $(( $(date +%s) - start )) s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)" \
      >> "$dst/machine.txt"
  fi
  cp "$out/results.json" "$out/training_curves.png" "$dst/"
  tail -n 40 "$out/demo.log" > "$dst/demo_tail.txt" 2>/dev/null || true
  for model in sft:warm-up reft:reft; do
    mkdir -p "$dst/eval/${model#*:}/test" && cp "$out/eval/${model%%:*}"/svamp-pcot-greedy.* "$dst/eval/${model#*:}/test/"
  done
  if [[ $controls == *" $seed "* ]]; then
    [ -f "$out/sft_control.json" ] \
      || .venv/bin/python benchmarks/results/demo_pcot_500/sft_control.py "$out" "$seed" 2>&1 | tee "$out/sft_control.log"
    cp "$out/sft_control.json" "$out/sft_control.log" "$dst/"
    mkdir -p "$dst/eval/sft-control/test" && cp "$out/eval/sft-control"/svamp-pcot-greedy.* "$dst/eval/sft-control/test/"
  fi
done
