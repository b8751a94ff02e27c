"""Generation speed of transformers' `generate` on this machine, in each decoding variant reft-trl can use, and of
reft-trl's shrinking-batch loop and transformers' continuous batching.

SmolLM2-135M-Instruct (`smollm2_path()`, or `--model`) completes real SVAMP P-CoT test prompts (the program's opening
in the prompt, as the evaluation and the PPO rollouts see them), tokenized and left-padded as `reft_trl.generation`
does. Two workloads, each at every batch size asked for:

- greedy: the evaluation (`--max_new_tokens`, 160 by default), stopping at EOS;
- sampling: the PPO rollouts (temperature 1, no top-k / top-p, `--sample_new_tokens`, 64 by default), made to run
  to the full length (`min_new_tokens`), so that every variant decodes the same number of steps.

Variants (`VARIANTS`):

- `fp32`: float32 weights, transformers' default cache, eager: the demo's evaluation, which loads the checkpoint as
  saved.
- `autocast`: float32 weights that require grad, under bf16 autocast and `no_grad`: PPO rollouts with
  `rollout_weights="policy"` (the default).
- `bf16`: bfloat16 weights, default cache, eager: the evaluation of a model loaded with `dtype=bfloat16`, and PPO
  rollouts with `rollout_weights="bf16_copy"`. The reference the other bf16 variants' greedy tokens are compared to.
- `bf16_static`: bfloat16 weights, `hf_decoding="static"` (a cache allocated once, written in place).
- `bf16_compiled`: bfloat16 weights, `hf_decoding="compiled"` (that cache, the decode step compiled by torch.compile).
- `bf16_shrinking`: bfloat16 weights, `hf_decoding="shrinking"` (`reft_trl.generation.generate_shrinking`: a row leaves
  the batch and its cache at its EOS, so the later decode steps compute only the rows still generating).
- `bf16_shrinking_concat`: `bf16_shrinking` with transformers' `DynamicCache` (`CONCATENATING_CACHE_VARIANTS`),
  to measure the in-place cache of `reft_trl.kv_cache` against it.
- `bf16_continuous`: bfloat16 weights, transformers' continuous batching (`model.generate_batch`): a paged cache, every
  request of the call admitted at once (`max_requests_per_batch` = the batch size) and dropped at its EOS. It runs on
  a CPU with the "sdpa" attention, without the block-table decode path (flash attention on CUDA / XPU only), so each
  step reads the keys and values of all the batch's requests as one packed sequence under a block-diagonal mask: its
  attention grows with the square of the batch (transformers `generation/continuous_batching/cache.py`, the
  index-based `update`; `input_outputs.py`, `build_attention_mask`). The prompts are prefilled in chunks of
  `--cb_max_batch_tokens` tokens (`CB_MAX_BATCH_TOKENS`), since one packed forward of every prompt would cost the square
  of their total length.
- `autocast_packed`, `bf16_packed`, `bf16_shrinking_packed` (`PACKED_VARIANTS`): `autocast`, `bf16` and
  `bf16_shrinking` with every linear layer computing from its weight packed once per call for oneDNN's kernels
  (`reft_trl.packed_linear`); the packing is timed as part of the prefill.
- on request: `fp32_compiled`; `bf16_compiled_autotune` (Inductor's `max-autotune-no-cudagraphs`, long to compile);
  `bf16_compiled_frozen` (Inductor's `freezing`: weights folded into the graph as constants and prepacked for
  oneDNN; valid for an evaluation only, since a rollout's weights change after every optimizer step).
- `fp32_shrinking`: float32 weights, `hf_decoding="shrinking"`: the reference of `fp32_fused`.
- `fp32_fused`, `autocast_fused`, `bf16_fused` (`FUSED_VARIANTS`): `hf_decoding="fused"` (the shrinking loop with
  `reft_trl.fused_llama.FusedLlamaDecoder`'s forwards) over float32 weights, float32 weights under bf16 autocast (the
  rollouts' `rollout_decoding="fused"`) and bf16 weights; the decoder's construction is timed as part of the prefill.
- `fp32_fused_unpacked`: `fp32_fused` multiplying by the concatenated float32 weights as they are, not packed for
  oneDNN.

Each (variant, batch size) starts with an untimed warm-up call of `WARMUP_TOKENS` tokens on the same prompts and the
same cache length, which is where compilation happens; its time is reported apart ("first call"). A logits processor
stamps the clock at every step, splitting each timed call into the prefill (prompt forward) and the decode steps.
Tokens/s counts the tokens actually generated (up to and including EOS); decode steps/s counts forwards of the whole
batch. Continuous batching takes no logits processor of ours: a forward hook stamps its steps instead, and its prefill
spans several forwards (prompt chunks). Rows: the mean number of sequences a decode step computes (the batch size for
`generate`, fewer as rows finish in the shrinking and continuous variants; not counted for the compiled variants, whose
forward is a compiled graph; for the fused ones, the rows of each step's logits). The bound of a decode step is the slower of two limits: reading the bfloat16 weights
once at the measured copy bandwidth, and the matmul FLOPs of its rows at the measured 2048^3 bf16 matmul rate (the KV
cache is left out). Inductor keeps what it compiled in an on-disk cache, so a second run's first calls are shorter
than the first run's.

Greedy tokens of each variant are compared with the reference of its precision (`bf16` for the bf16 variants, `fp32`
for `fp32_compiled` and `autocast` when `fp32` ran, else `bf16`): the share of identical sequences is reported, and
bf16 rounding may make a few diverge.

    python benchmarks/bench_generation.py                                      # the defaults
    python benchmarks/bench_generation.py --variants bf16 bf16_compiled --batch_sizes 8 16 32 64 128
    python benchmarks/bench_generation.py --variants bf16 bf16_static bf16_shrinking bf16_continuous --batch_sizes 64
    python benchmarks/bench_generation.py --model path/to/tiny --max_new_tokens 16 --sample_new_tokens 8   # smoke
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results" / "generation"
VARIANTS = {
    # name: (weights dtype, hf_decoding or CONTINUOUS, under autocast, changes to the CompileConfig of "compiled")
    "fp32": ("float32", "dynamic", False, None),
    "autocast": ("float32", "dynamic", True, None),
    "bf16": ("bfloat16", "dynamic", False, None),
    "bf16_static": ("bfloat16", "static", False, None),
    "bf16_compiled": ("bfloat16", "compiled", False, None),
    "fp32_compiled": ("float32", "compiled", False, None),
    "bf16_compiled_autotune": ("bfloat16", "compiled", False, {"mode": "max-autotune-no-cudagraphs"}),
    "bf16_compiled_frozen": ("bfloat16", "compiled", False, {"mode": None, "options": {"freezing": True}}),
    "bf16_shrinking": ("bfloat16", "shrinking", False, None),
    "bf16_shrinking_concat": ("bfloat16", "shrinking", False, None),
    "bf16_continuous": ("bfloat16", "continuous", False, None),
    "autocast_packed": ("float32", "dynamic", True, None),
    "bf16_packed": ("bfloat16", "dynamic", False, None),
    "bf16_shrinking_packed": ("bfloat16", "shrinking", False, None),
    "fp32_shrinking": ("float32", "shrinking", False, None),
    "fp32_fused": ("float32", "fused", False, None),
    "autocast_fused": ("float32", "fused", True, None),
    "bf16_fused": ("bfloat16", "fused", False, None),
    "fp32_fused_unpacked": ("float32", "fused", False, None),
}
CONCATENATING_CACHE_VARIANTS = ("bf16_shrinking_concat",)
"""Variants whose shrinking loop keeps transformers' `DynamicCache` (grown by concatenation: a copy of each layer's cache
at every step) instead of `reft_trl.kv_cache`'s in-place layers: the loop as it was before them."""
PACKED_VARIANTS = {"autocast_packed": "autocast", "bf16_packed": "bf16", "bf16_shrinking_packed": "bf16_shrinking"}
"""Variants whose linear layers compute from weights packed for oneDNN at the start of each call
(`reft_trl.packed_linear.packed_linears`; the packing is timed as part of the prefill), each with the variant it is
otherwise the same as."""
FUSED_VARIANTS = {
    "fp32_fused": "fp32_shrinking",
    "autocast_fused": "autocast",
    "bf16_fused": "bf16_shrinking",
    "fp32_fused_unpacked": "fp32_shrinking",
}
"""Variants decoding with `reft_trl.fused_llama.FusedLlamaDecoder` in the shrinking loop (`hf_decoding="fused"`; the
decoder's construction, which packs or concatenates the weights, is timed as part of the prefill), each with the
variant whose greedy tokens it is compared to. `fp32_fused_unpacked` multiplies by the concatenated weights as they are
(`FusedLlamaDecoder(pack_weights=False)`)."""
CONTINUOUS = "continuous"
"""The decoding of transformers' continuous batching (`generate_batch`), not an `hf_decoding`."""
DEFAULT_VARIANTS = ("autocast", "bf16", "bf16_static", "bf16_compiled")
DEFAULT_BATCH_SIZES = (8, 64)
DEFAULT_SAMPLE_BATCH_SIZES = (8,)
DEFAULT_MAX_NEW_TOKENS = 160
"""The evaluation's completion budget in the issue (SVAMP P-CoT programs)."""
DEFAULT_SAMPLE_NEW_TOKENS = 64
WARMUP_TOKENS = 8
CB_MAX_BATCH_TOKENS = 512
"""Tokens per forward of continuous batching: prompt chunks plus one token per decoding request."""
SEED = 0
BANDWIDTH_BYTES = 512 * 2**20
MATMUL_SIZE = 2048
TIMING_REPEATS = 5
TARGET_SPEEDUP = 4.0
"""The issue's target: tokens/s against today's path at the demo's batch size."""
TODAY = {"sampling": ("autocast", "bf16"), "greedy": ("bf16", "fp32")}
"""Today's path of each workload (the first of these that ran): PPO rollouts sample under autocast; the evaluation of
a model loaded in bf16 decodes greedily with the default cache."""
VERSION_PACKAGES = ("torch", "transformers", "trl", "accelerate")


class StepClock:
    """A logits processor that stamps `time.perf_counter()` at every step (after each forward), changing nothing."""

    def __init__(self):
        self.stamps: list[float] = []
        self.rows: list[int] = []

    def __call__(self, input_ids, scores):
        self.stamps.append(time.perf_counter())
        self.rows.append(scores.shape[0])  # the rows of the step's forward (the fused variants', which have no hooks)
        return scores


class ForwardLog:
    """Forward hooks on a model: the query tokens of every forward (the rows of a decode step) and, on request, a clock
    stamped after each forward (continuous batching, which takes no logits processor of ours)."""

    def __init__(self, model, stamp: bool):
        self.rows: list[int] = []
        self.stamps: list[float] = []
        self.handles = [model.register_forward_pre_hook(self.count, with_kwargs=True)]
        if stamp:
            self.handles.append(model.register_forward_hook(lambda *args: self.stamps.append(time.perf_counter())))

    def count(self, module, args, kwargs):
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        self.rows.append(input_ids.numel() if input_ids is not None else 0)

    def remove(self):
        for handle in self.handles:
            handle.remove()


# Machine limits


def measure_bandwidth(size_bytes: int = BANDWIDTH_BYTES, repeats: int = TIMING_REPEATS) -> float:
    """Bytes per second moved by a large tensor copy (read + write counted), best of `repeats`."""
    source = torch.ones(size_bytes, dtype=torch.uint8)
    target = torch.empty_like(source)
    target.copy_(source)
    best = min(_timed(lambda: target.copy_(source)) for _ in range(repeats))
    return 2 * size_bytes / best


def measure_matmul_flops(dtype=torch.bfloat16, size: int = MATMUL_SIZE, repeats: int = TIMING_REPEATS) -> float:
    """FLOP/s of one `size`^3 matmul in `dtype`, best of `repeats`."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def model_sizes(model) -> dict:
    """Weights read per decode step (each distinct tensor once; the input embedding only when the LM head is another
    tensor, since a decode step reads just B rows of it) and matmul parameters per token."""
    params = {id(p): p for p in model.parameters()}
    embedding = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    read = sum(p.numel() for key, p in params.items() if key != id(embedding) or embedding is head)
    matmul = sum(
        p.numel() for key, p in params.items() if p.dim() == 2 and (key != id(embedding) or embedding is head)
    )
    return {"parameters": sum(p.numel() for p in params.values()), "read_per_step": read, "matmul_per_token": matmul}


def step_bound_s(sizes: dict, batch_size: int, bandwidth: float, flops: float) -> float:
    """The least time of one decode step: bf16 weights read once, or the batch's matmul FLOPs, whichever is longer."""
    return max(2 * sizes["read_per_step"] / bandwidth, 2 * sizes["matmul_per_token"] * batch_size / flops)


# Variants


def load_variant(name: str, path: str):
    """The model of a variant, on the CPU."""
    from transformers import AutoModelForCausalLM

    dtype, _, autocast, _ = VARIANTS[name]
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    model.eval()
    model.requires_grad_(autocast)  # rollouts: trained weights require grad, so autocast caches their casts
    return model


def generation_config(name: str, model, tokenizer, max_new_tokens: int, sampled: bool):
    from transformers import GenerationConfig

    from reft_trl.generation import GENERATE_DECODINGS, _eos_token_ids, hf_decoding_settings

    _, hf_decoding, _, compile_changes = VARIANTS[name]
    eos_ids = _eos_token_ids(model, tokenizer)
    settings = hf_decoding_settings(hf_decoding, model) if hf_decoding in GENERATE_DECODINGS else {}
    for field_name, value in (compile_changes or {}).items():
        setattr(settings["compile_config"], field_name, value)
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        min_new_tokens=max_new_tokens if sampled else 0,
        do_sample=sampled,
        **(dict(temperature=1.0, top_k=0, top_p=1.0) if sampled else {}),
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0],
        eos_token_id=eos_ids,
        **settings,
    )
    return config, eos_ids


def run_once(name, model, tokenizer, input_ids, attention_mask, config, seed, args=None):
    """One call of the variant's decoding: (completion token lists, steps, prefill seconds, decode seconds, total,
    mean rows per decode step or None)."""
    from reft_trl.generation import grouped_kv_attention
    from reft_trl.packed_linear import packed_linears

    _, hf_decoding, autocast, _ = VARIANTS[name]
    clock = StepClock()
    log = ForwardLog(model, stamp=hf_decoding == CONTINUOUS) if hf_decoding not in ("compiled", "fused") else None
    torch.manual_seed(seed)
    precision = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    grad = torch.no_grad() if autocast else torch.inference_mode()  # as TRL's rollouts / reft_trl.generation
    try:
        with grad, precision, grouped_kv_attention(hf_decoding, model), concatenating_cache(name):
            start = time.perf_counter()
            packing = packed_linears(model, rows=input_ids.shape[0]) if name in PACKED_VARIANTS else None
            with packing or contextlib.nullcontext():
                completions = _decode(
                    hf_decoding, model, input_ids, attention_mask, config, clock, seed, args, log,
                    pack=name != "fp32_fused_unpacked",
                )  # fmt: skip
            end = time.perf_counter()
    finally:
        if log is not None:
            log.remove()
    steps = len(clock.stamps)
    prefill = clock.stamps[0] - start
    decode = clock.stamps[-1] - clock.stamps[0]
    rows = statistics.mean(log.rows[1:]) if log is not None and len(log.rows) > 1 else None
    if hf_decoding == "fused" and len(clock.rows) > 1:
        rows = statistics.mean(clock.rows[1:])  # the logits of step k come from the forward of decode step k - 1
    return completions, steps, prefill, decode, end - start, rows


def _decode(hf_decoding, model, input_ids, attention_mask, config, clock, seed, args, log, pack=True):
    """The variant's decoding call itself: completion token lists."""
    from transformers import LogitsProcessorList

    if hf_decoding in ("shrinking", "fused"):
        return shrinking_call(model, input_ids, attention_mask, config, clock, fused=hf_decoding == "fused", pack=pack)
    if hf_decoding == CONTINUOUS:
        completions = continuous_call(model, input_ids, attention_mask, config, seed, args)
        clock.stamps = log.stamps
        return completions
    output = model.generate(
        input_ids=input_ids,
        attention_mask=attention_mask,
        generation_config=config,
        logits_processor=LogitsProcessorList([clock]),
    )
    return output[:, input_ids.shape[1] :].tolist()


@contextlib.contextmanager
def concatenating_cache(name: str):
    """For `CONCATENATING_CACHE_VARIANTS`: the shrinking loop gets transformers' plain `DynamicCache`."""
    if name not in CONCATENATING_CACHE_VARIANTS:
        yield
        return
    from unittest import mock

    from transformers import DynamicCache

    with mock.patch("reft_trl.kv_cache.in_place_cache_for", lambda config, headroom: DynamicCache(config=config)):
        yield


def shrinking_call(model, input_ids, attention_mask, config, clock, fused=False, pack=True):
    """`generate_shrinking` with the config's settings; `min_new_tokens` through transformers' own processor. `fused`:
    with a `FusedLlamaDecoder` built from the model for the call (`pack`: its `pack_weights`)."""
    from transformers import MinNewTokensLengthLogitsProcessor

    from reft_trl.fused_llama import FusedLlamaDecoder
    from reft_trl.generation import generate_shrinking

    decoder = FusedLlamaDecoder(model, rows=input_ids.shape[0], pack_weights=pack) if fused else None

    processors = [clock]
    if config.min_new_tokens:
        processors.append(
            MinNewTokensLengthLogitsProcessor(input_ids.shape[1], config.min_new_tokens, config.eos_token_id)
        )
    sampling = dict(temperature=config.temperature, top_k=config.top_k, top_p=config.top_p) if config.do_sample else {}
    return generate_shrinking(
        model, input_ids, attention_mask, config.max_new_tokens, config.eos_token_id, greedy=not config.do_sample,
        logits_processor=processors, decoder=decoder, **sampling,
    )  # fmt: skip


def continuous_call(model, input_ids, attention_mask, config, seed, args):
    """`model.generate_batch` on the unpadded prompts: every request admitted at once, the paged cache sized for all
    of them. Continuous batching drops `min_new_tokens` (its processor is not supported), so a run to the full length
    is asked for by disabling EOS instead."""
    from transformers import ContinuousBatchingConfig

    prompts = [row[mask.bool()].tolist() for row, mask in zip(input_ids, attention_mask, strict=True)]
    config = copy.deepcopy(config)
    if config.min_new_tokens:
        config.min_new_tokens, config.eos_token_id = 0, -1
    longest = max(len(prompt) for prompt in prompts) + config.max_new_tokens
    page_size = ContinuousBatchingConfig.page_size
    cb_config = ContinuousBatchingConfig(
        num_blocks=len(prompts) * -(-longest // page_size) + 1,
        max_batch_tokens=max(args.cb_max_batch_tokens if args else CB_MAX_BATCH_TOKENS, len(prompts)),
        max_requests_per_batch=len(prompts),
        use_cuda_graph=False,
        use_async_batching=False,
        seed=seed,
    )
    outputs = model.generate_batch(
        prompts, generation_config=config, continuous_batching_config=cb_config, warmup=False
    )
    ordered = sorted(outputs.values(), key=lambda output: int(output.request_id.rsplit("_", 1)[-1]))
    failed = [output.error for output in ordered if output.error]
    if failed or len(ordered) != len(prompts):
        raise RuntimeError(f"Continuous batching returned {len(ordered)} of {len(prompts)} requests: {failed[:3]}")
    return [list(output.generated_tokens) for output in ordered]


def until_eos(row: list[int], eos_ids: list[int]) -> list[int]:
    """The completion up to and including its first EOS."""
    for position, token in enumerate(row):
        if token in eos_ids:
            return row[: position + 1]
    return row


def measure(name, model, tokenizer, prompt_ids, batch_size, workload, args, sizes, machine):
    from reft_trl.generation import _left_pad

    sampled = workload == "sampling"
    new_tokens = args.sample_new_tokens if sampled else args.max_new_tokens
    rows = prompt_ids[:batch_size]
    config, eos_ids = generation_config(name, model, tokenizer, new_tokens, sampled)
    input_ids, attention_mask = _left_pad(rows, config.pad_token_id, model.device)
    if VARIANTS[name][1] in ("static", "compiled"):
        # one cache length for the warm-up and the timed calls of both workloads: compiled once per batch size
        config.max_cache_len = input_ids.shape[1] + max(args.max_new_tokens, args.sample_new_tokens)
    model.__dict__.pop("_previous_max_cache_length", None)  # each run sized by its own prompts

    warmup = copy.deepcopy(config)
    warmup.max_new_tokens = warmup.min_new_tokens = WARMUP_TOKENS
    first_call = _timed(lambda: run_once(name, model, tokenizer, input_ids, attention_mask, warmup, args.seed, args))

    completions, steps, prefill, decode, total, rows = run_once(
        name, model, tokenizer, input_ids, attention_mask, config, args.seed, args
    )
    if not sampled:  # sampled rows run to the full length (EOS masked, or disabled for continuous batching)
        completions = [until_eos(row, eos_ids) for row in completions]
    generated = sum(len(row) for row in completions)
    step_s = decode / max(steps - 1, 1)
    bound = step_bound_s(
        sizes, rows or batch_size, machine["bandwidth_bytes_per_s"], machine["bf16_matmul_flop_per_s"]
    )
    return {
        "variant": name,
        "workload": workload,
        "batch_size": batch_size,
        "prompt_width": input_ids.shape[1],
        "max_new_tokens": new_tokens,
        "first_call_s": first_call,
        "total_s": total,
        "prefill_s": prefill,
        "decode_steps": steps,
        "decode_step_ms": 1000 * step_s,
        "decode_steps_per_s": 1 / step_s,
        "decode_rows_per_step": rows,
        "generated_tokens": generated,
        "tokens_per_s": generated / total,
        "slot_tokens_per_s": batch_size * steps / total,
        "slot_use": generated / (batch_size * steps),
        "decode_tokens_per_s": (rows or batch_size) / step_s,
        "bound_step_ms": 1000 * bound,
        "share_of_bound": bound / step_s,
        "completions": completions if not sampled else None,
    }


def reference_of(name: str, ran: list[str]) -> str | None:
    """The variant whose greedy tokens `name`'s are compared to: the plain eager one of the same precision (for a
    concatenating-cache variant, the in-place one when it ran)."""
    dtype = VARIANTS[name][0]
    if name in ("fp32", "bf16"):
        return None
    if name in CONCATENATING_CACHE_VARIANTS and "bf16_shrinking" in ran:
        return "bf16_shrinking"  # the same loop: only the cache differs
    if PACKED_VARIANTS.get(name) in ran:
        return PACKED_VARIANTS[name]  # the same decoding: only the weights' layout differs
    if FUSED_VARIANTS.get(name) in ran:
        return FUSED_VARIANTS[name]  # the same computation in fewer operators
    if dtype == "float32" and "fp32" in ran:
        return "fp32"
    return "bf16" if "bf16" in ran else None


def compare_greedy(results: list[dict]) -> None:
    """Add to each greedy result the share of its sequences identical to its reference's, and the mean length of the
    common prefix as a share of the reference's completion."""
    ran = sorted({r["variant"] for r in results})
    by_key = {(r["variant"], r["batch_size"]): r for r in results if r["workload"] == "greedy"}
    for (name, batch_size), result in by_key.items():
        reference = by_key.get((reference_of(name, ran), batch_size))
        if reference is None:
            continue
        pairs = list(zip(result["completions"], reference["completions"], strict=True))
        result["reference"] = reference["variant"]
        result["identical_share"] = sum(a == b for a, b in pairs) / len(pairs)
        result["common_prefix_share"] = statistics.mean(_common_prefix(a, b) / max(len(b), 1) for a, b in pairs)


def _common_prefix(a: list[int], b: list[int]) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


def refresh_cost_ms(path: str, repeats: int = 3) -> float:
    """Milliseconds to refresh the bf16 rollout copy from the float32 policy (`rollout_weights="bf16_copy"` does it
    once per rollout)."""
    from reft_trl.trainers.mixed_precision_generation import copy_in_dtype, refresh_copy

    policy = load_variant("autocast", path)
    duplicate = copy_in_dtype(policy, torch.bfloat16)
    return 1000 * min(_timed(lambda: refresh_copy(policy, duplicate)) for _ in range(repeats))


# Report


def today_of(results: list[dict], workload: str, batch_size: int) -> dict | None:
    """The result of today's path (`TODAY`) for a workload and batch size, if it ran."""
    ran = {(r["variant"], r["workload"], r["batch_size"]): r for r in results}
    for name in TODAY[workload]:
        if (name, workload, batch_size) in ran:
            return ran[name, workload, batch_size]
    return None


def format_table(results: list[dict], machine: dict) -> str:
    header = (
        f"{'workload':<9} {'B':>4} {'variant':<23} {'first s':>8} {'prefill s':>9} {'ms/step':>8} {'dec tok/s':>9} "
        f"{'tok/s':>7} {'x today':>8} {'bound':>6} {'use':>5} {'rows':>5} {'same':>6}"
    )
    lines = [
        f"machine: {machine['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s copy, "
        f"{machine['bf16_matmul_flop_per_s'] / 1e9:.0f} GFLOP/s bf16 matmul, "
        f"{machine['fp32_matmul_flop_per_s'] / 1e9:.0f} GFLOP/s fp32, {machine['threads']} threads",
        "first s: the untimed first call (compilation); dec tok/s: rows / decode step time; tok/s: generated tokens "
        "(to EOS) / wall time, prefill included; x today: tok/s against autocast (sampling) or bf16 (greedy), target "
        f"{TARGET_SPEEDUP:g}x; bound: the decode step's share of its limit (bf16 weights read once, or its matmul "
        "FLOPs); use: share of the B x steps slots that held a generated token; rows: sequences a decode step computes "
        "(mean); same: greedy sequences identical to the reference's",
        header,
        "-" * len(header),
    ]
    for r in sorted(results, key=lambda r: (r["workload"], r["batch_size"], list(VARIANTS).index(r["variant"]))):
        base = today_of(results, r["workload"], r["batch_size"])
        speedup = r["tokens_per_s"] / base["tokens_per_s"] if base else float("nan")
        same = f"{r['identical_share']:.0%}" if "identical_share" in r else "-"
        rows = f"{r['decode_rows_per_step']:.1f}" if r["decode_rows_per_step"] is not None else "-"
        lines.append(
            f"{r['workload']:<9} {r['batch_size']:>4} {r['variant']:<23} {r['first_call_s']:>8.1f} "
            f"{r['prefill_s']:>9.2f} {r['decode_step_ms']:>8.1f} {r['decode_tokens_per_s']:>9.0f} "
            f"{r['tokens_per_s']:>7.0f} {speedup:>8.2f} {r['share_of_bound']:>6.0%} {r['slot_use']:>5.0%} {rows:>5} "
            f"{same:>6}"
        )
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="Model folder (default: SmolLM2-135M-Instruct, smollm2_path()).")
    parser.add_argument("--tokenizer", default=None, help="Tokenizer folder (default: the model's).")
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--batch_sizes", nargs="+", type=int, default=list(DEFAULT_BATCH_SIZES))
    parser.add_argument(
        "--sample_batch_sizes", nargs="*", type=int, default=list(DEFAULT_SAMPLE_BATCH_SIZES),
        help="Batch sizes of the sampling workload (none: greedy only).",
    )  # fmt: skip
    parser.add_argument("--max_new_tokens", type=int, default=DEFAULT_MAX_NEW_TOKENS)
    parser.add_argument("--sample_new_tokens", type=int, default=DEFAULT_SAMPLE_NEW_TOKENS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--cb_max_batch_tokens", type=int, default=CB_MAX_BATCH_TOKENS,
        help="bf16_continuous: tokens per forward at most (prompt chunks and one token per decoding request).",
    )  # fmt: skip
    parser.add_argument("--skip_refresh", action="store_true", help="Do not time the bf16 rollout copy's refresh.")
    parser.add_argument("--output_dir", default=str(RESULTS_DIR))
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers import AutoTokenizer

    from reft_trl.data import load_task
    from reft_trl.embedded_model import smollm2_path
    from reft_trl.generation import encode_prompt

    path = args.model or smollm2_path()
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or path)
    batch_sizes = sorted(set(args.batch_sizes) | set(args.sample_batch_sizes))
    test = load_task("svamp", cot="pcot", split="test", program_prefix_in_prompt=True).shuffle(seed=args.seed)
    prompt_ids = [encode_prompt(tokenizer, row["prompt"]) for row in test.select(range(max(batch_sizes)))]

    machine = {
        "bandwidth_bytes_per_s": measure_bandwidth(BANDWIDTH_BYTES),
        "bf16_matmul_flop_per_s": measure_matmul_flops(torch.bfloat16, MATMUL_SIZE),
        "fp32_matmul_flop_per_s": measure_matmul_flops(torch.float32, MATMUL_SIZE),
        "threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
    }
    print(f"[bench] {path}: {len(prompt_ids)} SVAMP P-CoT prompts; machine {machine}", flush=True)
    results, sizes = [], None
    for name in args.variants:
        model = load_variant(name, path)
        sizes = model_sizes(model)
        for batch_size in batch_sizes:
            workloads = [w for w, sizes_of in (("greedy", args.batch_sizes), ("sampling", args.sample_batch_sizes))
                         if batch_size in sizes_of]  # fmt: skip
            if VARIANTS[name][1] == "compiled":
                torch._dynamo.reset()  # compile each batch size afresh: its first-call time is its own
            for workload in workloads:
                print(f"[bench] {name} {workload} B={batch_size} ...", flush=True)
                result = measure(name, model, tokenizer, prompt_ids, batch_size, workload, args, sizes, machine)
                results.append(result)
                print(
                    f"[bench] {name} {workload} B={batch_size}: first call {result['first_call_s']:.1f} s, "
                    f"{result['decode_step_ms']:.1f} ms/step, {result['tokens_per_s']:.0f} tok/s",
                    flush=True,
                )
        del model
    compare_greedy(results)
    for result in results:
        result.pop("completions")
    refresh_ms = None if args.skip_refresh else refresh_cost_ms(path)

    table = format_table(results, machine)
    print(table)
    if refresh_ms is not None:
        print(f"bf16 rollout copy refreshed from the float32 policy in {refresh_ms:.0f} ms (once per rollout)")
    report = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": path,
        "model_sizes": sizes,
        "settings": vars(args),
        "machine": machine,
        "versions": {name: importlib.metadata.version(name) for name in VERSION_PACKAGES},
        "rollout_copy_refresh_ms": refresh_ms,
        "results": results,
        "table": table,
    }
    output = write_report(report, args.output_dir, f"generation_{Path(path).name}")
    print(f"[bench] wrote {output}")
    return report


def write_report(report: dict, output_dir: str, prefix: str) -> Path:
    """`report` as JSON in `output_dir`, named `prefix` and the UTC time: `<prefix>_YYYYMMDD-HHMMSS.json`."""
    os.makedirs(output_dir, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    output = Path(output_dir) / f"{prefix}_{stamp}.json"
    output.write_text(json.dumps(report, indent=2))
    return output


if __name__ == "__main__":
    main()
