#!/bin/bash
# Run 10b (PLAN.md beside this script), one session's share: run 10's session.sh with the policy's learning rate 3e-5,
# carrying its checkpoint, log and sessions.md line in this folder. From a clone of main with .venv installed, alone:
#   bash benchmarks/results/learning_svamp_pcot_ppo_run10b_lora/session.sh MINUTES
# then `.venv/bin/python benchmarks/results/learning_svamp_pcot_ppo_run10b_lora/dev_check.py` and commit this folder.
# Work files go to /work/exp-out/run10b (OUT to change it).
set -eo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RUN_DIR="$here" OUT="${OUT:-/work/exp-out/run10b}" LEARNING_RATE=3e-5 \
  exec bash "$here/../learning_svamp_pcot_ppo_run10_lora/session.sh" "$@"
