"""Greedy evaluation throughput of each generation backend, side by side: the SVAMP P-CoT test set through
`reft_trl.evaluation.evaluate`, as the learning benchmark and the demo evaluate.

For each backend in `--backends` (in turn, one process): the model is loaded (CTranslate2 converts the checkpoint
first, once; that conversion is timed apart and cached for later calls), then the same questions are evaluated
greedily with the same batch size and completion budget. Reported per backend: wall time of the evaluation, tokens
generated (the completions re-tokenized) and tokens/s, accuracy; and against the first backend, the share of
identical completions and the paired accuracy difference with its bootstrap 95 % interval and exact McNemar p (the
backends decode the same model with different arithmetic: Hugging Face in bf16 where the CPU supports it, CTranslate2
in float32, or with int8 weights and matmuls for `ctranslate2_int8`, a quantized model).

    python benchmarks/bench_evaluation.py --model path/to/sft-checkpoint                       # 1,000 questions
    python benchmarks/bench_evaluation.py --model path/to/sft-checkpoint --limit 256 --backends hf ctranslate2_int8
    python benchmarks/bench_evaluation.py --model path/to/tiny --limit 8 --max_new_tokens 8    # smoke
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BACKENDS = ("hf", "ctranslate2", "ctranslate2_int8")
"""Hugging Face (bf16 weights where the CPU supports them), CTranslate2 in float32, CTranslate2 with int8 weights and
matmuls (`compute_type="int8_float32"`: a quantized model)."""
RESULTS = Path(__file__).resolve().parent / "results" / "evaluation"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--model", default=None, help="checkpoint folder (default: the embedded SmolLM2-135M-Instruct)")
    add("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS[:2]))
    add("--limit", type=int, default=0, help="test questions (0 = all 1,000)")
    add("--batch_size", type=int, default=64)
    add("--max_new_tokens", type=int, default=160)
    add("--output", default=None, help="JSON file (default: benchmarks/results/evaluation/evaluation_<time>.json)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    from transformers import AutoTokenizer

    from reft_trl.data import load_task
    from reft_trl.embedded_model import smollm2_path

    path = args.model or smollm2_path()
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    test = load_task("svamp", cot="pcot", split="test", limit=args.limit or None, program_prefix_in_prompt=True)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for backend in args.backends:
            results.append(measure(backend, path, tokenizer, test, args, os.path.join(scratch, backend)))
    compare(results)
    report = {
        "command": "python benchmarks/bench_evaluation.py " + shlex.join(argv),
        "model": path,
        "questions": len(test),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
        "load_average_at_end": os.getloadavg(),
        "results": [{key: value for key, value in r.items() if key != "records"} for r in results],
    }
    output = Path(args.output or RESULTS / f"evaluation_{datetime.datetime.now():%Y%m%d-%H%M%S}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(format_table(report["results"]))
    print(f"[bench] written to {output}")
    return report


def measure(backend: str, path: str, tokenizer, test, args, folder: str) -> dict:
    """Load (and for CTranslate2 convert) the model, then one greedy evaluation of `test`, timed."""
    import torch

    from reft_trl.evaluation import evaluate
    from reft_trl.evaluation.report import read_predictions
    from reft_trl.precision import cpu_supports_bf16

    started = time.perf_counter()
    if backend.startswith("ctranslate2"):
        from reft_trl.ctranslate2_generation import load_ctranslate2_model

        dtype = "int8_float32" if backend == "ctranslate2_int8" else "float32"
        model = load_ctranslate2_model(path, compute_type=dtype)
    else:
        from transformers import AutoModelForCausalLM

        dtype = "bfloat16" if cpu_supports_bf16() else "float32"
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).eval()
    load_s = time.perf_counter() - started
    summary = evaluate(
        model, tokenizer, test, "svamp", "pcot", mode="greedy", max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size, output_dir=folder, backend=backend.split("_int8")[0], print_summary=False,
    )  # fmt: skip
    records = {record["item_id"]: record for record in read_predictions(summary["predictions"])}
    completions = [records[item]["completions"][0] for item in test["item_id"]]
    tokens = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in completions)
    seconds = summary["timings"]["generation_s"]
    return {
        "backend": backend,
        "weights": dtype,
        "load_s": load_s,
        "generation_s": seconds,
        "tokens": tokens,
        "tokens_per_s": tokens / seconds,
        "accuracy": summary["accuracy"],
        "records": [bool(records[item]["score"]) for item in test["item_id"]],
        "completions": completions,
    }


def compare(results: list[dict]) -> None:
    """Each backend against the first: identical completions, paired accuracy difference, speed ratio."""
    from reft_trl.evaluation.paired import paired_comparison

    first = results[0]
    for result in results[1:]:
        pairs = list(zip(first["completions"], result["completions"], strict=True))
        result["same_completions"] = sum(a == b for a, b in pairs) / len(pairs)
        result["paired_vs_first"] = paired_comparison(first["records"], result["records"])
        result["speedup_vs_first"] = first["generation_s"] / result["generation_s"]
    for result in results:
        del result["completions"]


def format_table(results: list[dict]) -> str:
    lines = [f"{'backend':<17} {'weights':<12} {'load s':>7} {'eval s':>7} {'tokens':>7} {'tok/s':>6} {'acc':>6} "
             f"{'x first':>7} {'same':>5}"]  # fmt: skip
    for r in results:
        lines.append(
            f"{r['backend']:<17} {r['weights']:<12} {r['load_s']:>7.1f} {r['generation_s']:>7.1f} {r['tokens']:>7} "
            f"{r['tokens_per_s']:>6.0f} {r['accuracy']:>6.3f} {r.get('speedup_vs_first', 1.0):>7.2f} "
            f"{r.get('same_completions', 1.0):>5.0%}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
