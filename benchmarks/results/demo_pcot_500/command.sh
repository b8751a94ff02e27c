#!/bin/bash
# The demo's defaults (commit f62f5ee), from a fresh clone under /tmp, one run per seed, seeds fixed before running:
make demo                                                            # seed 42 -> outputs/demo
.venv/bin/reft-trl demo --seed 43 --output_dir outputs/demo-seed43  # the second seed, run once, right after
# Continued-SFT control from seed 42's warm-up for about PPO's wall time (28 steps of 8, lr 5e-5 constant), evaluated
# like the demo on the same 500 questions and paired against its predictions:
.venv/bin/python benchmarks/results/demo_pcot_500/sft_control.py outputs/demo
