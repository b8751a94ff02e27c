"""Greedy evaluation of SVAMP P-CoT questions with each Hugging Face decoding in turn, side by side: wall time, tokens
per second, and whether the decodings agree (identical completions, paired accuracy), through
`reft_trl.evaluation.evaluate` as the learning benchmark and the demo evaluate.

For each decoding in `--decodings` (`reft_trl.generation.HF_DECODINGS`; in turn, in one process, on the same model
loaded once): the same questions, batch size and completion budget. Reported per decoding: the evaluation's generation
time, the completion tokens (the completions re-tokenized, end-of-sequence left out) and tokens/s, accuracy; and
against the first decoding, the share of identical completions and the paired accuracy difference with its 95 %
interval and exact McNemar p. Before its timed evaluation each decoding decodes the first batch's questions a few
tokens untimed (first-call costs: thread pools, kernels, allocations). Whatever a decoding does per batch stays in its
time, as a user pays it: "fused" packs the weights for each batch it decodes.

The model: `--model` (default: the embedded SmolLM2-135M-Instruct), or a LoRA adapter (`--adapter`, a PEFT
checkpoint such as the learning benchmark's) merged into `--model` in float32 first, then cast to `--dtype`.
The questions: the first `--limit` of SVAMP's test split, or with `--split dev` the last `--limit` of its training
split (the learning benchmark's development split: `--dev_size` 300), which keeps the test set for final figures.

    python benchmarks/bench_evaluation.py --split dev --limit 300 --dtype float32 --model WARM_UP --adapter CHECKPOINT
    python benchmarks/bench_evaluation.py --limit 64 --decodings shrinking fused --dtype float32
    python benchmarks/bench_evaluation.py --model path/to/tiny --limit 8 --max_new_tokens 8         # smoke
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DECODINGS = ("dynamic", "static", "compiled", "shrinking", "fused")
"""`reft_trl.generation.HF_DECODINGS` but "auto" (one of these)."""
DTYPES = ("auto", "float32", "bfloat16")
WARM_UP_TOKENS = 8
"""New tokens of the untimed warm-up decoding before each timed evaluation."""
RESULTS = Path(__file__).resolve().parent / "results" / "evaluation"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--model", default=None, help="model folder (default: the embedded SmolLM2-135M-Instruct)")
    add("--adapter", default=None, help="a LoRA adapter folder trained on --model, merged into it (float32) first")
    add(
        "--decodings", nargs="+", choices=DECODINGS, default=["shrinking", "fused"], help="hf_decoding values, in turn"
    )
    add("--dtype", choices=DTYPES, default="auto", help="the weights' dtype (auto: bfloat16 where the CPU has it)")
    add("--split", choices=("test", "dev"), default="test", help="test: the first --limit test questions; dev: the "
        "last --limit training questions (the learning benchmark's development split)")  # fmt: skip
    add("--limit", type=int, default=0, help="questions (0: the whole test split; --split dev needs a number)")
    add("--batch_size", type=int, default=64)
    add("--max_new_tokens", type=int, default=160)
    add("--output", default=None, help="JSON file (default: benchmarks/results/evaluation/evaluation_<time>.json)")
    args = parser.parse_args(argv)
    if args.split == "dev" and args.limit <= 0:
        parser.error("--split dev takes the last --limit training questions: give --limit (the benchmark's: 300)")
    return args


def load_questions(split: str, limit: int):
    """SVAMP P-CoT rows in the learning benchmark's prompt format (the program's opening in the prompt)."""
    from reft_trl.data import load_task

    if split == "test":
        return load_task("svamp", cot="pcot", split="test", limit=limit or None, program_prefix_in_prompt=True)
    train = load_task("svamp", cot="pcot", split="train", program_prefix_in_prompt=True)
    if limit >= len(train):
        raise SystemExit(f"--limit {limit}: SVAMP's training split has {len(train)} questions.")
    return train.select(range(len(train) - limit, len(train)))


def load_model(model: str, adapter: str | None, dtype: str):
    import torch
    from bench_learning_svamp import load_policy

    from reft_trl.precision import cpu_supports_bf16

    if dtype == "auto":
        dtype = "bfloat16" if cpu_supports_bf16() else "float32"
    if adapter is None:
        if os.path.isfile(os.path.join(model, "adapter_config.json")):
            raise SystemExit(f"{model} holds a LoRA adapter: pass it as --adapter and its base model as --model.")
        policy = load_policy(model, getattr(torch, dtype))
    else:
        policy = load_policy(adapter, getattr(torch, dtype), warm_up_dir=model)
    return policy.eval(), dtype


def main(argv=None) -> dict:
    args = parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    from transformers import AutoTokenizer

    from reft_trl.embedded_model import smollm2_path

    path = args.model or smollm2_path()
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    questions = load_questions(args.split, args.limit)
    started = time.perf_counter()
    model, dtype = load_model(path, args.adapter, args.dtype)
    load_s = time.perf_counter() - started
    print(f"[bench] {len(questions)} {args.split} questions, {dtype} weights, decodings {', '.join(args.decodings)}")
    results = [measure(decoding, model, tokenizer, questions, args) for decoding in args.decodings]
    compare(results)
    report = {
        "command": "python benchmarks/bench_evaluation.py " + shlex.join(argv),
        "model": path,
        "adapter": args.adapter,
        "weights": dtype,
        "load_s": load_s,
        "split": args.split,
        "questions": len(questions),
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
        "load_average_at_end": os.getloadavg(),
        "results": results,
    }
    output = Path(args.output or RESULTS / f"evaluation_{datetime.datetime.now():%Y%m%d-%H%M%S}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(format_table(results))
    print(f"[bench] written to {output}")
    return report


def measure(decoding: str, model, tokenizer, questions, args) -> dict:
    """One greedy evaluation of `questions` with `hf_decoding=decoding`; its predictions kept in memory."""
    import tempfile

    from reft_trl.evaluation import evaluate
    from reft_trl.evaluation.report import read_predictions

    first_batch = questions.select(range(min(args.batch_size, len(questions))))
    evaluate(
        model, tokenizer, first_batch, "svamp", "pcot", mode="greedy", max_new_tokens=WARM_UP_TOKENS,
        batch_size=args.batch_size, output_dir=None, backend="hf", hf_decoding=decoding, print_summary=False,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        summary = evaluate(
            model, tokenizer, questions, "svamp", "pcot", mode="greedy", max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size, output_dir=folder, backend="hf", hf_decoding=decoding, print_summary=False,
        )  # fmt: skip
        records = {record["item_id"]: record for record in read_predictions(summary["predictions"])}
    completions = [records[item]["completions"][0] for item in questions["item_id"]]
    tokens = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in completions)
    seconds = summary["timings"]["generation_s"]
    return {
        "decoding": decoding,
        "generation_s": seconds,
        "tokens": tokens,
        "tokens_per_s": tokens / seconds,
        "accuracy": summary["accuracy"],
        "scores": [bool(records[item]["score"]) for item in questions["item_id"]],
        "completions": completions,
    }


def compare(results: list[dict]) -> None:
    """Each decoding against the first: identical completions, paired accuracy difference, speed ratio."""
    from reft_trl.evaluation.paired import paired_comparison

    first = results[0]
    for result in results[1:]:
        pairs = list(zip(first["completions"], result["completions"], strict=True))
        result["same_completions"] = sum(a == b for a, b in pairs) / len(pairs)
        result["paired_vs_first"] = paired_comparison(first["scores"], result["scores"])
        result["speedup_vs_first"] = first["generation_s"] / result["generation_s"]
    for result in results:
        del result["completions"]


def format_table(results: list[dict]) -> str:
    lines = [f"{'decoding':<10} {'eval s':>7} {'tokens':>7} {'tok/s':>6} {'acc':>6} {'x first':>7} {'same':>5}"]
    for r in results:
        lines.append(
            f"{r['decoding']:<10} {r['generation_s']:>7.1f} {r['tokens']:>7} {r['tokens_per_s']:>6.0f} "
            f"{r['accuracy']:>6.3f} {r.get('speedup_vs_first', 1.0):>7.2f} {r.get('same_completions', 1.0):>5.0%}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
