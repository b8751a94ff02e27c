"""Run 10's check along the way (PLAN.md): the checkpoint carried in `carry/`, its LoRA adapter merged in float32 into
this machine's warm-up, greedy on the 300 dev questions, paired against the warm-up's dev answers. Appends a line to
`dev_checks.md`, keeps the predictions in `eval/checkpoint-N/dev/` and draws the curves so far in
`training_curves.png`. Run after `session.sh`, alone:

    .venv/bin/python benchmarks/results/learning_svamp_pcot_ppo_run10_lora/dev_check.py [OUT]   # OUT: /work/exp-out/run10
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))
SAMPLES_PER_STEP = 4  # 8 optimizer steps per rollout of 32 samples (4 mini-batches x 2 PPO epochs)


def main(out: str, here: Path = HERE) -> str:
    """Check the newest checkpoint in `here`/carry (run 10's folder, or run 10b's) trained in `out`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import bench_learning_svamp as bench
    import torch
    from transformers import AutoTokenizer

    from reft_trl.data import load_task
    from reft_trl.evaluation import evaluate
    from reft_trl.evaluation.paired import format_paired, paired_comparison
    from reft_trl.evaluation.report import read_predictions

    checkpoints = sorted(here.glob("carry/checkpoint-*"), key=lambda path: int(path.name.split("-")[-1]))
    if not checkpoints:
        raise SystemExit(f"no checkpoint in {here / 'carry'}: run session.sh first")
    checkpoint = checkpoints[-1]
    log = here / "dev_checks.md"
    done = [line for line in log.read_text().splitlines() if line.startswith(f"| {checkpoint.name} |")]
    if done:
        plot_curves(checkpoint, here)
        print(done[0])
        return done[0]
    recorded = json.loads(Path(out, bench.SETTINGS_FILE).read_text())
    args = argparse.Namespace(**{**vars(bench.parse_args([])), **recorded, "output_dir": out, "splits": ["dev"]})
    train = load_task("svamp", cot=args.cot, split="train", program_prefix_in_prompt=True)
    dev = train.select(bench.question_ranges(args, len(train))[2])
    warm_up_dir = bench.stage_dirs(args)[0]

    warm_up = bench._evaluate_splits(args, warm_up_dir, "warm-up", {"dev": dev})[0]["dev"]  # run 9's, copied
    folder = here / "eval" / checkpoint.name / "dev"
    started = time.perf_counter()
    model = bench.load_policy(str(checkpoint), torch.float32, warm_up_dir=warm_up_dir)
    tokenizer = AutoTokenizer.from_pretrained(warm_up_dir, padding_side="left")
    evaluate(
        model, tokenizer, dev, "svamp", args.cot, mode="greedy", max_new_tokens=args.max_completion_length,
        batch_size=args.eval_batch_size, output_dir=str(folder), backend="hf", hf_decoding=args.hf_decoding,
        print_summary=False, resume=True,
    )  # fmt: skip
    by_id = {
        row["item_id"]: row["score"] for row in read_predictions(folder / f"svamp-{args.cot}-greedy.predictions.jsonl")
    }
    adapter = [bool(by_id[item]) for item in dev["item_id"]]
    comparison = paired_comparison(warm_up, adapter)
    step = int(checkpoint.name.split("-")[-1])
    line = (
        f"| {checkpoint.name} | {step * SAMPLES_PER_STEP:,} | {100 * sum(adapter) / len(adapter):.1f} % | "
        f"{format_paired(comparison, 'warm-up', 'ReFT')} | {time.perf_counter() - started:.0f} s |"
    )
    with open(log, "a") as handle:
        handle.write(line + "\n")
    shutil.copy(Path(out, bench.SETTINGS_FILE), here / bench.SETTINGS_FILE)
    plot_curves(checkpoint, here)
    print(line)
    return line


def plot_curves(checkpoint: Path, here: Path) -> str | None:
    """The run's curves so far (every session's optimizer steps, from the checkpoint's `trainer_state.json`) in
    `here`/training_curves.png: the panels the benchmark draws at the end of a run."""
    from reft_trl.scripts.demo import plot_training_curves

    history = json.loads((checkpoint / "trainer_state.json").read_text())["log_history"]
    samples = int(checkpoint.name.split("-")[-1]) * SAMPLES_PER_STEP
    title = f"{here.name}: ReFT PPO (rank-1 LoRA) from the warm-up, {samples:,} samples so far"
    return plot_training_curves(history, str(here / "training_curves.png"), title=title)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/exp-out/run10")
