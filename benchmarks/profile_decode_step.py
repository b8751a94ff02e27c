"""Where one decode step of SmolLM2-135M goes on this CPU, at the PPO rollouts' batch size (issue "Fast on a CPU").

`bench_generation.py` finds a decode step at 5-19 % of its bound: per-step overhead, not arithmetic, sets the speed.
This splits the step, on B real SVAMP P-CoT prompts (left-padded as `reft_trl.generation` does) after their prefill:

- `generate`: transformers' `generate`, sampling at temperature 1 for `--new_tokens` steps (the rollouts' call);
- `loop`: the same decode as a bare Python loop (model forward with its cache, then `torch.multinomial`): what
  `generate`'s own machinery (logits processors, stopping criteria, cache bookkeeping) adds is the difference;
- `forward`: the model's forward alone on one new token per row, the cache cropped back after each call (no
  sampling): the model's share (attending to the prompt plus one position throughout, where the others' caches grow
  by one position a step; the crop's own cost included);
- `forward` with `torch.set_num_threads(1)`: whether the 2-thread pool's fork and join costs more than it saves on
  matmuls this small;
- `torch.profiler` over `--profile_steps` forwards: the operators by self CPU time, and how many run per step.

Each in turn, in one process, for each precision asked (`autocast`: float32 weights under bf16 autocast, the rollouts'
default; `bf16`: bfloat16 weights; `fp32`; `autocast_packed` and `bf16_packed`: the first two with every linear layer
computing from its weight packed once for oneDNN, `reft_trl.packed_linear`). Under `autocast` one context spans every
measurement, so the weights' bf16 casts are made once (a rollout's `generate` makes them once per call, a cost spread
over its steps and not counted here). Run it alone on the machine:

    python benchmarks/profile_decode_step.py                              # B = 8, autocast and bf16
    python benchmarks/profile_decode_step.py --model path/to/tiny --new_tokens 4 --repeats 1 --profile_steps 2  # smoke
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import inspect
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench_generation, beside this file
from bench_generation import write_report  # noqa: E402

from reft_trl.packed_linear import packed_linears  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "generation"
PRECISIONS = {
    "autocast": (torch.float32, True, False),
    "bf16": (torch.bfloat16, False, False),
    "fp32": (torch.float32, False, False),
    "autocast_packed": (torch.float32, True, True),
    "bf16_packed": (torch.bfloat16, False, True),
}
"""Each precision's weights' dtype, whether it runs under bf16 autocast, and whether its linear layers compute from
weights packed once for oneDNN (`reft_trl.packed_linear.packed_linears`)."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Model folder (default: SmolLM2-135M-Instruct, smollm2_path()).")
    parser.add_argument("--precisions", nargs="+", default=["autocast", "bf16"], choices=list(PRECISIONS))
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--new_tokens", type=int, default=64, help="Decode steps timed per call.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed calls of each kind (the median is reported).")
    parser.add_argument("--profile_steps", type=int, default=16)
    parser.add_argument("--top", type=int, default=15, help="Operators listed from the profile.")
    parser.add_argument("--output_dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    for name in ("batch_size", "new_tokens", "repeats", "profile_steps", "top"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def prompts(tokenizer, batch_size: int):
    """`batch_size` SVAMP P-CoT test prompts, left-padded: (input_ids, attention_mask)."""
    from reft_trl.data import load_task
    from reft_trl.generation import encode_prompt

    test = load_task("svamp", cot="pcot", split="test", program_prefix_in_prompt=True).shuffle(seed=0)
    ids = [encode_prompt(tokenizer, row["prompt"]) for row in test.select(range(batch_size))]
    width = max(map(len, ids))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids = torch.tensor([[pad] * (width - len(row)) + row for row in ids])
    attention_mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in ids])
    return input_ids, attention_mask


def forward_kwargs(model, cache) -> dict:
    """The cache under the name this transformers' forward takes (`cache`, formerly `past_key_values`), and only the
    last position's logits, as `reft_trl.generation.generate_shrinking` calls the model."""
    parameters = inspect.signature(model.forward).parameters
    kwargs = {"cache" if "cache" in parameters else "past_key_values": cache, "use_cache": True}
    if "logits_to_keep" in parameters:
        kwargs["logits_to_keep"] = 1
    return kwargs


def prefill(model, input_ids, attention_mask):
    """The prompts' forward: (cache, last logits, attention mask, next positions)."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    positions = (attention_mask.cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
    out = model(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, **forward_kwargs(model, cache)
    )
    return cache, out.logits[:, -1], attention_mask, positions[:, -1:] + 1


def time_generate(model, input_ids, attention_mask, new_tokens: int, pad_id: int) -> tuple[float, int]:
    """Seconds per decode step of `generate` (sampling, `new_tokens` decode steps after the prefill) and the number of
    steps timed: a logits processor stamps the clock after every forward, and the decode is the time between the first
    stamp (the prefill's) and the last."""
    from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList

    stamps = []

    class Stamp(LogitsProcessor):
        def __call__(self, input_ids, scores):
            stamps.append(time.perf_counter())
            return scores

    config = GenerationConfig(
        max_new_tokens=new_tokens + 1, min_new_tokens=new_tokens + 1, do_sample=True, temperature=1.0, top_k=0,
        top_p=1.0, pad_token_id=pad_id,
    )  # fmt: skip
    model.generate(
        input_ids=input_ids, attention_mask=attention_mask, generation_config=config,
        logits_processor=LogitsProcessorList([Stamp()]),
    )  # fmt: skip
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1), len(stamps) - 1


def decode_loop(model, input_ids, attention_mask, new_tokens: int, choose: str = "sample", keep_logits=False):
    """A bare decode loop: forward on the last token with the cache, then the next token drawn (`choose="sample"`,
    temperature 1) or taken greedily (`"greedy"`); with `"none"` the same token is fed again and the cache cropped
    back after every forward (the forward alone). `new_tokens` decode forwards after the prefill, as `time_generate`
    times. Returns (seconds per decode step, the tokens chosen: [B, new_tokens + 1], the first from the prefill, and
    with `keep_logits` the last position's logits of the prefill and of each decode step, else None)."""
    cache, logits, mask, position = prefill(model, input_ids, attention_mask)
    kwargs = forward_kwargs(model, cache)
    token = logits.argmax(-1, keepdim=True) if choose == "greedy" else torch.multinomial(softmax(logits), 1)
    tokens, one, kept = [token], torch.ones_like(token), [logits] if keep_logits else None
    start = time.perf_counter()
    for _ in range(new_tokens):
        step_mask = torch.cat([mask, one], dim=1)
        out = model(input_ids=token, attention_mask=step_mask, position_ids=position, **kwargs)
        if choose == "none":
            cache.crop(-1)
            continue
        logits = out.logits[:, -1]
        if keep_logits:
            kept.append(logits)
        token = logits.argmax(-1, keepdim=True) if choose == "greedy" else torch.multinomial(softmax(logits), 1)
        tokens.append(token)
        mask, position = step_mask, position + 1
    seconds = time.perf_counter() - start
    return seconds / new_tokens, torch.cat(tokens, dim=1), kept


def softmax(logits):
    return torch.softmax(logits.float(), -1)


def profile_steps(model, input_ids, attention_mask, steps: int, top: int) -> dict:
    """Operators of `steps` cache-cropped forwards by self CPU time (microseconds per step), and calls per step."""
    from torch.profiler import ProfilerActivity, profile

    cache, logits, mask, position = prefill(model, input_ids, attention_mask)
    token = logits.argmax(-1, keepdim=True)
    step_mask, kwargs = torch.cat([mask, torch.ones_like(token)], dim=1), forward_kwargs(model, cache)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            model(input_ids=token, attention_mask=step_mask, position_ids=position, **kwargs)
            cache.crop(-1)
    events = prof.key_averages()
    rows = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)
    total_us = sum(e.self_cpu_time_total for e in events) / steps
    return {
        "self_cpu_us_per_step": total_us,
        "operator_calls_per_step": sum(e.count for e in events if e.key.startswith("aten::")) / steps,
        "top": [
            {"op": e.key, "calls_per_step": e.count / steps, "self_us_per_step": e.self_cpu_time_total / steps}
            for e in rows[:top]
        ],
    }


def measure(model, tokenizer, args, autocast: bool, packed: bool = False) -> dict:
    input_ids, attention_mask = prompts(tokenizer, args.batch_size)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    precision = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    threads = torch.get_num_threads()
    result = {"prompt_tokens": int(input_ids.shape[1]), "threads": threads}
    packing = packed_linears(model, rows=args.batch_size) if packed else contextlib.nullcontext()
    with torch.no_grad(), precision, packing:
        decode_loop(model, input_ids, attention_mask, 4)  # warm-up: allocations, oneDNN primitives
        kinds = {
            "generate": lambda: time_generate(model, input_ids, attention_mask, args.new_tokens, pad_id)[0],
            "loop": lambda: decode_loop(model, input_ids, attention_mask, args.new_tokens)[0],
            "forward": lambda: decode_loop(model, input_ids, attention_mask, args.new_tokens, choose="none")[0],
        }
        for kind, run in kinds.items():
            result[f"{kind}_ms"] = 1000 * statistics.median(run() for _ in range(args.repeats))
        torch.set_num_threads(1)
        try:
            result["forward_1_thread_ms"] = 1000 * statistics.median(kinds["forward"]() for _ in range(args.repeats))
        finally:
            torch.set_num_threads(threads)
        result["profile"] = profile_steps(model, input_ids, attention_mask, args.profile_steps, args.top)
    return result


def format_report(results: dict, batch_size: int) -> str:
    lines = [
        f"| precision | generate, ms / step | bare loop | forward alone | forward, 1 thread | profiled self CPU, ms "
        f"| aten ops / step | (B = {batch_size}) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['generate_ms']:.1f} | {r['loop_ms']:.1f} | {r['forward_ms']:.1f} | "
            f"{r['forward_1_thread_ms']:.1f} | {r['profile']['self_cpu_us_per_step'] / 1000:.1f} | "
            f"{r['profile']['operator_calls_per_step']:.0f} | |"
        )
    for name, r in results.items():
        lines += ["", f"{name}: operators by self CPU time per step (us), calls per step"]
        lines += [
            f"  {t['op']:<40} {t['self_us_per_step']:9.0f} {t['calls_per_step']:6.0f}" for t in r["profile"]["top"]
        ]
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reft_trl.embedded_model import smollm2_path

    path = args.model or smollm2_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    results = {}
    for name in args.precisions:
        dtype, autocast, packed = PRECISIONS[name]
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
        model.requires_grad_(autocast)  # rollouts: trained weights require grad, so autocast caches their casts
        print(f"[profile] {name} B={args.batch_size} ...", flush=True)
        results[name] = measure(model, tokenizer, args, autocast, packed)
        del model
    table = format_report(results, args.batch_size)
    print(table)
    report = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": path,
        "settings": vars(args),
        "machine": {"processor": platform.processor() or platform.machine(), "load_average": os.getloadavg()},
        "torch": torch.__version__,
        "results": results,
        "table": table,
    }
    output = write_report(report, args.output_dir, "decode_step")
    print(f"[profile] wrote {output}")
    return report


if __name__ == "__main__":
    main()
