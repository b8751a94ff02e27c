"""CPU learning benchmark: does ReFT improve on its warm-up? SmolLM2-135M-Instruct on SVAMP N-CoT.

Warm-up (SFT) on the ReFT authors' SVAMP training set, then ReFT PPO from it, then greedy accuracy of both on all
1,000 SVAMP test problems, with the PPO training curves. The pipeline is the demo's (`reft_trl.scripts.demo`), run
with the sizes below; the paper's reference point for a model of this size is Galactica-125M on SVAMP P-CoT,
35.6 -> 39.4.

    python benchmarks/bench_learning_svamp.py                           # the settings in BENCHMARKS.md
    python benchmarks/bench_learning_svamp.py --train_limit 0 --ppo_steps 400   # more of everything (hours)

Writes `results.json`, `training_curves.png` and the per-question predictions (`eval/sft`, `eval/reft`) to
`--output_dir`, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys

from reft_trl.scripts.demo import DemoArguments
from reft_trl.scripts.demo import main as run_pipeline

DEFAULTS = dict(
    task="svamp",
    cot="ncot",
    train_limit=512,
    sft_epochs=1.0,
    sft_learning_rate=5e-5,
    ppo_steps=64,
    ppo_learning_rate=2e-6,
    kl_coef=0.05,
    batch_size=8,
    max_completion_length=128,
    eval_limit=0,  # all 1,000 test problems
    eval_batch_size=32,
    output_dir="outputs/bench-learning-svamp",
)


def parse_args(argv=None) -> DemoArguments:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in DEFAULTS.items():
        parser.add_argument(f"--{name}", type=type(default), default=default)
    parser.add_argument("--seed", type=int, default=42)
    return DemoArguments(**vars(parser.parse_args(argv)))


def main(argv=None) -> dict:
    args = parse_args(argv)
    results = run_pipeline(args)
    accuracy = results["greedy_accuracy"]
    warm_up, reft = accuracy["warm-up (SFT)"], accuracy["ReFT"]
    summary = {
        "command": "python " + " ".join([os.path.relpath(__file__), *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}",
        "warm_up_accuracy": warm_up,
        "reft_accuracy": reft,
        "gain_points": 100 * (reft - warm_up),
        "n_test": results["n_test"],
        "timings": results["timings"],
    }
    with open(os.path.join(args.output_dir, "summary.json"), "w") as handle:
        json.dump(summary, handle, indent=2)
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
