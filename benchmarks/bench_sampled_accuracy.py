"""Sampled accuracy of learning-benchmark models: one completion per question at the rollouts' temperature.

Greedy accuracy asks whether training moved each question's most likely answer; PPO first sharpens the sampling
distribution (the sampled accuracy on the training questions rises long before the greedy one moves). This measures
the same on held-out questions: for each `--model NAME=DIR`, `--num_samples` completions per question (temperature
1, no top-k / top-p: the rollouts' sampling), on the SVAMP test set and the development split of
`bench_learning_svamp.py`, written as `OUTPUT_DIR/NAME/{test,dev}/` (pass@1 records, one score per question: the
share of its samples that are correct). With `--num_samples 1` the scores are 0 / 1 and
`compare_learning_runs.py --model NAME=OUTPUT_DIR/NAME ...` pairs the models question by question.

`--splits train` measures the first `--train_limit` training questions instead (`OUTPUT_DIR/NAME/train/`): the
warm-up's pass rate on each, which `bench_learning_svamp.py --rl_pass_rates` reads to spend RL's samples on the
questions the warm-up solves only sometimes.

    python benchmarks/bench_sampled_accuracy.py --output_dir outputs/sampled \\
        --model warm-up=outputs/bench-ppo/sft --model ReFT=outputs/bench-ppo/ppo
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--model", action="append", required=True, help="NAME=DIR of a saved model (repeat)")
    add("--output_dir", required=True)
    add("--cot", choices=("ncot", "pcot"), default="pcot")
    add("--dev_size", type=int, default=300, help="last N training questions: bench_learning_svamp's dev split")
    add("--eval_limit", type=int, default=0, help="test questions (0 = all 1,000)")
    add("--train_limit", type=int, default=512, help="first N training questions: the 'train' split")
    add(
        "--splits", nargs="+", choices=("test", "dev", "train"), default=["test", "dev"],
        help="the SVAMP test set, the dev split, the first --train_limit training questions",
    )  # fmt: skip
    add("--num_samples", type=int, default=1, help="completions per question")
    add("--temperature", type=float, default=1.0)
    add("--max_new_tokens", type=int, default=160)
    add("--batch_size", type=int, default=64)
    add("--seed", type=int, default=42)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    models = {}
    for item in args.model:
        name, separator, folder = item.partition("=")
        if not separator or not os.path.isfile(os.path.join(folder, "config.json")):
            raise SystemExit(f"--model {item!r}: expected NAME=DIR with a saved model (config.json) in DIR.")
        models[name] = folder
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reft_trl.data import load_task
    from reft_trl.evaluation import evaluate
    from reft_trl.precision import cpu_supports_bf16

    prompt_kwargs = dict(program_prefix_in_prompt=args.cot == "pcot")
    train = load_task("svamp", cot=args.cot, split="train", **prompt_kwargs)
    if args.train_limit > len(train) - args.dev_size:
        raise SystemExit(
            f"--train_limit {args.train_limit} reaches the last {args.dev_size} (dev) training questions."
        )
    splits = {
        "test": lambda: load_task("svamp", cot=args.cot, split="test", limit=args.eval_limit or None, **prompt_kwargs),
        "dev": lambda: train.select(range(len(train) - args.dev_size, len(train))),
        "train": lambda: train.select(range(args.train_limit)),
    }
    splits = {split: splits[split]() for split in args.splits}
    dtype = torch.bfloat16 if cpu_supports_bf16() else torch.float32
    accuracies = {}
    for name, folder in models.items():
        tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
        for split, rows in splits.items():
            started = time.perf_counter()
            summary = evaluate(
                model, tokenizer, rows, "svamp", args.cot, mode="pass@k", k=1, num_samples=args.num_samples,
                temperature=args.temperature, top_k=0, top_p=1.0, max_new_tokens=args.max_new_tokens,
                batch_size=args.batch_size, output_dir=os.path.join(args.output_dir, name, split), backend="hf",
                seed=args.seed, resume=True, print_summary=False,
            )  # fmt: skip
            accuracies[(name, split)] = summary["accuracy"]
            print(
                f"[sampled] {name} {split}: {100 * summary['accuracy']:.1f} % ({time.perf_counter() - started:.0f} s)"
            )
    return accuracies


if __name__ == "__main__":
    main()
