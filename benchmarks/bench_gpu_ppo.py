"""One PPO rollout + update of `reft_trl.ReFTPPOTrainer` on a GPU, at 7B scale: tokens/s and peak GPU memory.

The policy is a randomly initialised `LlamaForCausalLM` of CodeLlama-7B's shape (`--shape codellama-7b`: hidden 4096,
MLP 11008, 32 layers, 32 heads, vocabulary 32016, rope theta 1e6; 6.74B parameters), built in code directly on the
device with bfloat16 weights: no checkpoint is read, nothing is downloaded, and random weights cost the same to run
as trained ones. `--shape tiny` (2 layers of width 64, the same vocabulary) is the CPU smoke test. Two modes, each in
its own subprocess (so the peak memory is the mode's own), one after the other:

- `lora`: a LoRA adapter (r 16, alpha 32, on q/k/v/o and the MLP projections) through `peft_config`; the frozen bf16
  weights are shared by the policy and the reference (the base model with the adapter switched off).
- `full`: full fine-tuning of the bf16 weights with the trainer's default AdamW (its state in bf16 too), plus the
  frozen copy of the policy that ReFTPPOTrainer keeps as the reference (KL to the warm-up): two copies of the weights.

Both keep `kl_coef` > 0, so every rollout runs the reference's forward as well as the policy's. The critic is the
trainer's value head on the policy's backbone (float32, trained in both modes). The workload: `--batch` prompts of
`--prompt_len` tokens, one completion each, sampled (temperature 1, no top-k / top-p) to `--max_completion_length`
tokens (`min_new_tokens` through TRL's `generation_kwargs` keeps EOS out until then; `--no-full_length` lets
completions stop at EOS, and the tables count the tokens really generated), 2 PPO epochs over one mini-batch,
`--rollouts` rollouts, the first a warm-up reported apart (CUDA and Triton kernels are compiled there). The reward is
the share of vowels among a completion's characters (`vowel_share`): cheap, deterministic, no sandbox, and varied
enough between random completions that advantages and gradients are not zero.

Prompts are text, as the trainer takes them. The tokenizer is SmolLM2's (49,152 tokens: `--tokenizer`, else
`reft_trl.embedded_model.smollm2_tokenizer_path()`), while the model keeps CodeLlama's 32,016-token vocabulary, so
prompts are drawn (seeded) from SmolLM2's whole-word tokens with ids below 32,016 that tokenize back to themselves:
each prompt is exactly `--prompt_len` ids the model knows (checked). The model samples ids below 32,016, which the
tokenizer decodes; its special tokens (EOS, pad, BOS: ids 0-2) are inside the vocabulary.

Per rollout (the split of `benchmarks/ppo_step/probe.py`, CUDA synchronised before every clock read):

- generation: `generate` seconds; tokens/s = completion tokens generated (up to and including EOS) / seconds;
- scoring: the rollout's no-grad forwards of the policy (+ value head) and the reference, and GAE (the rollout's time
  less generation and reward); tokens/s = rows x (prompt + completion width) x 2 forwards / seconds;
- update: forward, backward and optimizer step of both PPO epochs; tokens/s = rows x (prompt + completion width) x
  epochs / seconds;
- peak memory: `torch.cuda.max_memory_allocated` since the previous rollout (the first includes the optimizer state's
  allocation), and over the whole run; reserved memory too. On a CPU, the worker's peak RSS instead.

The device's bf16 dense matmul rate (best of a few `--matmul_size`^3 matmuls, 8192 on CUDA) is recorded so the
results can be quoted as a share of the machine's limit: each phase's model FLOP/s counts 2 N FLOPs per token and
forward, and 6 N (full) or 4 N (LoRA: no weight gradients) per token of the update, N being the parameters of every
matmul (all but the input embedding); attention scores are left out. Generation is bound by memory bandwidth, not by
matmuls, so its share is small by nature.

Not yet run on a GPU: prepared for the first session lent one (its CPU path is tested). On the GPU machine (one H200,
torch and transformers already there, no internet) the project's own dependencies travel as wheels: this script
imports trl 1.16, peft, accelerate and datasets (reft_trl's trainer imports nothing else at module level; math-verify
and sympy serve the answer rewards, unused here), plus whichever of their dependencies the machine lacks (pyarrow,
dill, multiprocess, xxhash, ...). Here, once: `echo /.whl/ >> .git/info/exclude` and `pip download --no-deps
--only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 ... -d .whl NAME==VERSION` for each; reft-trl
itself need not be installed (the script puts the repository on the workers' PYTHONPATH). The tokenizer travels as a
folder (3.4 MB) copied into the working tree (an untracked, not ignored path travels by itself):

    cp -r ~/.cache/reft_trl/smollm2-135m-instruct-tokenizer benchmarks/gpu_ppo_tokenizer

Then, with `.whl` carried, in one command (about 3 minutes, an estimate: two workers, each about 30 s of imports and
model building and 3 rollouts of about 10 s; the run writes under $OUT):

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl && export PYTHONPATH=/tmp/site && HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 \
        python3 benchmarks/bench_gpu_ppo.py --shape codellama-7b --device cuda --tokenizer benchmarks/gpu_ppo_tokenizer

Other uses:

    python benchmarks/bench_gpu_ppo.py --shape tiny --device cpu --rollouts 2 --batch 2 --max_completion_length 8 \\
        --prompt_len 8 --output_dir /tmp/gpu_ppo      # the CPU smoke test (tests/benchmarks/test_bench_gpu_ppo.py)
    python benchmarks/bench_gpu_ppo.py --modes full --batch 16 --rollouts 4
    python benchmarks/bench_gpu_ppo.py --from_json benchmarks/results/gpu_ppo/bench_gpu_ppo.json   # print again

Output: a table on stdout, and under `--output_dir` ($OUT when set, else `benchmarks/results/gpu_ppo/`)
`bench_gpu_ppo.json` (machine, package versions, settings, per-rollout rows and per-mode summaries) and each worker's
log (`lora.log`, `full.log`). A mode that fails (out of memory, say) is recorded with its log's tail, the other mode
still runs, and the script exits with status 1.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PROBE_DIR = Path(__file__).resolve().parent / "ppo_step"
DEFAULT_OUTPUT_DIR = REPO_ROOT / "benchmarks" / "results" / "gpu_ppo"
RESULT_FILE = "bench_gpu_ppo.json"

CODELLAMA_7B = dict(  # CodeLlama-7B's config.json (codellama/CodeLlama-7b-hf): no attention or MLP biases, untied head
    hidden_size=4096,
    intermediate_size=11008,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=32,
    vocab_size=32016,
    max_position_embeddings=16384,
    rope_theta=1e6,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
)
SHAPES = {
    "codellama-7b": CODELLAMA_7B,
    # The CPU smoke test: the same vocabulary (so the same prompts), 2 thin layers
    "tiny": CODELLAMA_7B
    | dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4),
}
GPU_ONLY_SHAPES = ("codellama-7b",)
MODES = ("lora", "full")
LORA = dict(
    r=16,
    lora_alpha=32,
    lora_dropout=0.0,
    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
)
PPO_EPOCHS = 2
KL_COEF = 0.05  # > 0: the reference model's forward runs in every rollout
LEARNING_RATE = 1e-6  # does not change the cost of a step
SEED = 0
MATMUL_SIZES = {"cuda": 8192, "cpu": 512}
MATMUL_REPEATS = 5
MATMULS_PER_TIMING = 5
PROMPT_WORD = re.compile(r"^ [A-Za-z]{2,}$")
"""A prompt token: one whole word after a space, which byte-level BPE pre-tokenizes (and encodes) on its own."""
MIN_PROMPT_WORDS = 100
VOWELS = frozenset("aeiouAEIOU")
GIB = 2**30
VERSION_PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers")
WORKER_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=tuple(SHAPES), default="codellama-7b", help="the Llama's config")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="run one after the other")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto", help="auto: cuda when there")
    parser.add_argument("--batch", type=int, default=8, help="completions (= prompts) per rollout")
    parser.add_argument("--prompt_len", type=int, default=128, help="tokens per prompt")
    parser.add_argument("--max_completion_length", type=int, default=256, help="tokens per completion at most")
    parser.add_argument(
        "--full_length",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep EOS out until --max_completion_length (min_new_tokens); --no-full_length lets completions stop",
    )
    parser.add_argument("--rollouts", type=int, default=3, help="rollouts per mode, the first being a warm-up")
    parser.add_argument(
        "--gradient_checkpointing", action="store_true", help="recompute activations in the update (off by default)"
    )
    parser.add_argument("--tokenizer", help="tokenizer folder (default: smollm2_tokenizer_path())")
    parser.add_argument("--matmul_size", type=int, help="side of the matmuls timed for the bf16 rate (8192 on CUDA)")
    parser.add_argument("--output_dir", help="default: $OUT when set, else benchmarks/results/gpu_ppo/")
    parser.add_argument("--worker_timeout", type=float, default=300.0, help="seconds a mode may take")
    parser.add_argument("--from_json", help="print the tables of an earlier result file instead of running")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)  # internal: run one mode
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker or args.from_json:
        return args
    if args.rollouts < 2:
        parser.error("--rollouts must be at least 2 (one warm-up rollout plus one measured)")
    for name in ("batch", "prompt_len", "max_completion_length"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cpu" and args.shape in GPU_ONLY_SHAPES:
        parser.error(
            f"--shape {args.shape} on a CPU would take hours per rollout (and ~100 GB for full fine-tuning): it is "
            "for a GPU. Use --shape tiny for the CPU smoke test."
        )
    args.output_dir = args.output_dir or os.environ.get("OUT") or str(DEFAULT_OUTPUT_DIR)
    return args


# ----------------------------------------------------------------------------------------------------------------
# Parent: one worker per mode, then the tables


def resolve_tokenizer(path: str | None) -> str:
    """`path` when given, else the SmolLM2 tokenizer folder of `reft_trl.embedded_model` (cached or converted)."""
    if path:
        if not (Path(path) / "tokenizer_config.json").is_file():
            sys.exit(f"--tokenizer {path}: no tokenizer_config.json there.")
        return str(Path(path).resolve())
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from reft_trl.embedded_model import smollm2_tokenizer_path

    try:
        return smollm2_tokenizer_path()
    except (ModuleNotFoundError, FileNotFoundError) as error:
        sys.exit(
            f"No tokenizer: {error}. Pass --tokenizer PATH, e.g. a copy of "
            "~/.cache/reft_trl/smollm2-135m-instruct-tokenizer made on a machine that has it."
        )


def worker_env() -> dict[str, str]:
    """The workers' environment: offline, and the repository importable without installing reft-trl."""
    python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, **WORKER_ENV, "PYTHONPATH": python_path}


def run_worker(mode: str, settings_path: Path, output_dir: Path, timeout: float) -> dict:
    """Run one mode in a subprocess, its output going to `{mode}.log`; its result, or `{"error": log tail}`."""
    result_path, log_path = output_dir / f"{mode}.result.json", output_dir / f"{mode}.log"
    result_path.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", mode]
    command += ["--settings", str(settings_path), "--result", str(result_path)]
    start = time.perf_counter()
    with open(log_path, "w") as log:
        try:
            done = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=worker_env(), timeout=timeout
            )
            failure = f"exited with {done.returncode}" if done.returncode != 0 else None
        except subprocess.TimeoutExpired:
            failure = f"ran past --worker_timeout {timeout:.0f} s"
    seconds = time.perf_counter() - start
    if failure is None and result_path.is_file():
        result = json.loads(result_path.read_text())
        result_path.unlink()  # kept whole in the result file
        return {**result, "worker_s": seconds}
    tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-40:])
    return {
        "error": f"{shlex.join(command)} {failure or 'wrote no result'}; log {log_path}:\n{tail}",
        "worker_s": seconds,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        print_report(saved)
        return 0
    if args.worker:
        run_mode(args.worker, json.loads(Path(args.settings).read_text()), args.result)
        return 0
    for name, value in WORKER_ENV.items():
        os.environ.setdefault(name, value)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "shape": args.shape,
        "device": args.device,
        "batch": args.batch,
        "prompt_len": args.prompt_len,
        "max_completion_length": args.max_completion_length,
        "full_length": args.full_length,
        "rollouts": args.rollouts,
        "ppo_epochs": PPO_EPOCHS,
        "kl_coef": KL_COEF,
        "learning_rate": LEARNING_RATE,
        "gradient_checkpointing": args.gradient_checkpointing,
        "lora": LORA,
        "tokenizer": resolve_tokenizer(args.tokenizer),
        "matmul_size": args.matmul_size or MATMUL_SIZES[args.device],
        "seed": SEED,
    }
    settings_path = output_dir / "settings.json"
    settings_path.write_text(json.dumps(settings, indent=1))
    command = shlex.join(["python", os.path.relpath(__file__, REPO_ROOT), *(sys.argv[1:] if argv is None else argv)])
    print("command:", command, flush=True)

    results = {}
    for mode in args.modes:
        results[mode] = run_worker(mode, settings_path, output_dir, args.worker_timeout)
        status = "failed" if "error" in results[mode] else "done"
        print(
            f"  {mode}: {status} in {results[mode]['worker_s']:.0f} s (log {output_dir / f'{mode}.log'})", flush=True
        )
    settings_path.unlink()
    report = {
        "command": command,
        "settings": settings,
        "machine": next((r["machine"] for r in results.values() if "machine" in r), None),
        "results": results,
        "summaries": {mode: summarize(result, settings) for mode, result in results.items() if "error" not in result},
    }
    path = output_dir / RESULT_FILE
    path.write_text(json.dumps(report, indent=1))
    print()
    print_report(report)
    print(f"\nresults: {path}")
    return 1 if any("error" in result for result in results.values()) else 0


# ----------------------------------------------------------------------------------------------------------------
# Summary and tables


def rollout_rates(row: dict, settings: dict, flop_factor: int, matmul_parameters: int) -> dict:
    """Tokens, tokens/s and model FLOP/s of one rollout's phases (see the module docstring for the counts)."""
    generated = row["mean_completion_length"] * row["completions"]
    sequence_tokens = row["completions"] * (row["prompt_width"] + row["decoding_steps"])
    scoring_forwards = 2 if settings["kl_coef"] > 0 else 1
    scored, updated = sequence_tokens * scoring_forwards, sequence_tokens * settings["ppo_epochs"]
    return {
        "generated_tokens": generated,
        "scored_tokens": scored,
        "update_tokens": updated,
        "generation_tokens_per_s": generated / row["generate_s"],
        "scoring_tokens_per_s": scored / row["rollout_forward_s"],
        "update_tokens_per_s": updated / row["update_s"],
        "generation_flop_per_s": 2 * matmul_parameters * generated / row["generate_s"],
        "scoring_flop_per_s": 2 * matmul_parameters * scored / row["rollout_forward_s"],
        "update_flop_per_s": flop_factor * matmul_parameters * updated / row["update_s"],
    }


def summarize(result: dict, settings: dict) -> dict:
    """The warm-up rollout and the steady state (the others: seconds and tokens summed, then divided) of one mode."""
    flop_factor = 6 if result["mode"] == "full" else 4
    rows = result["rollouts"]

    def phase_summary(chosen: list[dict]) -> dict:
        totals = {
            key: sum(row[key] for row in chosen)
            for key in ("wall_s", "generate_s", "score_s", "rollout_forward_s", "update_s")
        }
        pooled = {
            "completions": sum(row["completions"] for row in chosen),
            "mean_completion_length": statistics.fmean(row["mean_completion_length"] for row in chosen),
            "prompt_width": statistics.fmean(row["prompt_width"] for row in chosen),
            "decoding_steps": statistics.fmean(row["decoding_steps"] for row in chosen),
            **totals,
        }
        per_rollout = {key: value / len(chosen) for key, value in totals.items()}
        return {
            **per_rollout,
            **rollout_rates(pooled, settings, flop_factor, result["matmul_parameters"]),
            "mean_completion_length": pooled["mean_completion_length"],
            "rollouts": len(chosen),
            "peak_gib": max(row.get("peak_gib", math.nan) for row in chosen),
        }

    return {
        "warmup": phase_summary(rows[:1]),
        "steady": phase_summary(rows[1:]),
        "peak_gib": result.get("peak_gib", math.nan),
        "peak_reserved_gib": result.get("peak_reserved_gib", math.nan),
        "after_build_gib": result.get("after_build_gib", math.nan),
        "trainable_parameters": result["trainable_parameters"],
        "flop_factor": flop_factor,
    }


def count(number: float) -> str:
    """`number` in k / M / B, three significant digits: 34881 -> '34.9k'."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= scale:
            return f"{number / scale:.3g}{suffix}"
    return f"{number:.3g}"


def print_report(report: dict) -> None:
    settings, machine = report["settings"], report.get("machine") or {}
    print("command:", report["command"])
    if machine:
        print(f"machine: {machine['device_name']}; {machine['versions']}; Python {machine['python']}")
        print(
            f"bf16 matmul rate ({settings['matmul_size']}^3): {machine['bf16_matmul_flop_per_s'] / 1e12:.1f} TFLOP/s"
        )
    first = next((r for r in report["results"].values() if "error" not in r), None)
    if first:
        print(
            f"model: random {settings['shape']}-shaped Llama, {first['weights_dtype']} weights, "
            f"{count(first['parameters'])} parameters, vocabulary {first['vocab_size']}, attention "
            f"{first['attn_implementation']}; tokenizer {Path(settings['tokenizer']).name} ({first['tokenizer_size']} "
            f"tokens; prompts from its words with ids < {first['vocab_size']})"
        )
        print(
            f"workload: {settings['batch']} completions x ({settings['prompt_len']} prompt + up to "
            f"{settings['max_completion_length']} completion tokens"
            f"{', full length' if settings['full_length'] else ', EOS stops'}), {settings['ppo_epochs']} PPO epochs, "
            f"1 mini-batch, kl_coef {settings['kl_coef']}, {settings['rollouts']} rollouts (1 warm-up), optimizer "
            f"{first['optimizer']}, gradient checkpointing {'on' if settings['gradient_checkpointing'] else 'off'}"
        )
    rate = machine.get("bf16_matmul_flop_per_s", math.nan)
    header = (
        f"{'mode':<5} {'rollout':<8} {'trainable':>10} {'wall s':>7} | {'gen s':>6} {'gen tok/s':>9} {'len':>5} | "
        f"{'score s':>7} {'tok/s':>8} | {'update s':>8} {'tok/s':>8} {'matmul%':>7} | {'peak GiB':>8}"
    )
    print()
    print(header)
    print("-" * len(header))
    for mode, result in report["results"].items():
        if "error" in result:
            print(f"{mode:<5} failed: {result['error'].splitlines()[0]}")
            continue
        summary = report["summaries"][mode]
        for kind in ("warmup", "steady"):
            s = summary[kind]
            print(
                f"{mode:<5} {kind:<8} {count(summary['trainable_parameters']):>10} {s['wall_s']:>7.2f} | "
                f"{s['generate_s']:>6.2f} {s['generation_tokens_per_s']:>9.0f} {s['mean_completion_length']:>5.0f} | "
                f"{s['rollout_forward_s']:>7.2f} {s['scoring_tokens_per_s']:>8.0f} | "
                f"{s['update_s']:>8.2f} {s['update_tokens_per_s']:>8.0f} {s['update_flop_per_s'] / rate:>7.1%} | "
                f"{s['peak_gib']:>8.2f}"
            )
    print(
        "per rollout (steady: the mean of the rollouts after the warm-up; tokens/s from their summed tokens and "
        "seconds). gen: sampling, tokens generated up to and including EOS, len: tokens per completion; score: the "
        "rollout's no-grad forwards of policy and reference (+ GAE), padded tokens of both forwards; update: both "
        "PPO epochs' forward + backward + optimizer step, padded tokens of every epoch; matmul%: the update's model "
        "FLOP/s (6N per token full, 4N LoRA) over the bf16 matmul rate; peak: max_memory_allocated during the rollout "
        "(peak RSS on a CPU)."
    )
    for mode, summary in report["summaries"].items():
        s = summary["steady"]
        reserved = summary["peak_reserved_gib"]
        reserved = f" / {reserved:.2f} GiB reserved" if not math.isnan(reserved) else ""
        print(
            f"  {mode}: memory after build {summary['after_build_gib']:.2f} GiB, peak {summary['peak_gib']:.2f} GiB"
            f"{reserved}; steady model FLOP/s: generation "
            f"{s['generation_flop_per_s'] / 1e12:.2f}T ({s['generation_flop_per_s'] / rate:.1%}), scoring "
            f"{s['scoring_flop_per_s'] / 1e12:.2f}T ({s['scoring_flop_per_s'] / rate:.1%}), update "
            f"{s['update_flop_per_s'] / 1e12:.2f}T ({s['update_flop_per_s'] / rate:.1%})"
        )


# ----------------------------------------------------------------------------------------------------------------
# Worker: one mode


def vowel_share(completions: list[str], **kwargs) -> list[float]:
    """Reward: the share of vowels among a completion's characters (0 for an empty one). Cheap and deterministic, and
    it differs from one random completion to the next, so the advantages and the gradients are not zero (a share of
    digits would be 0 for nearly every completion of a random model: few of its 32,016 tokens hold a digit).

    >>> vowel_share(["ab", "", "xyz"])
    [0.5, 0.0, 0.0]
    """
    return [sum(char in VOWELS for char in text) / len(text) if text else 0.0 for text in completions]


def prompt_words(tokenizer, vocab_size: int) -> list[int]:
    """Ids below `vocab_size` of the tokenizer's whole-word tokens (`PROMPT_WORD`) that encode back to themselves."""
    ids = [i for i in range(min(vocab_size, len(tokenizer))) if PROMPT_WORD.match(tokenizer.decode([i]))]
    encoded = tokenizer([tokenizer.decode([i]) for i in ids], add_special_tokens=False)["input_ids"]
    words = [i for i, tokens in zip(ids, encoded, strict=True) if tokens == [i]]
    if len(words) < MIN_PROMPT_WORDS:
        raise ValueError(
            f"The tokenizer has only {len(words)} whole-word tokens with ids < {vocab_size} that encode back to "
            "themselves; prompts are built from them (use a byte-level BPE tokenizer such as SmolLM2's)."
        )
    return words


def make_prompts(tokenizer, vocab_size: int, num_prompts: int, length: int, seed: int) -> list[str]:
    """`num_prompts` text prompts of exactly `length` tokens, all with ids below `vocab_size` (checked)."""
    words, rng = prompt_words(tokenizer, vocab_size), random.Random(seed)
    prompts = [tokenizer.decode(rng.choices(words, k=length)) for _ in range(num_prompts)]
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if len(ids) != length or max(ids) >= vocab_size:
            raise RuntimeError(f"A prompt tokenized to {len(ids)} tokens (max id {max(ids)}), not {length} < vocab.")
    return prompts


def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bf16_matmul_flop_per_s(device, size: int) -> float:
    """FLOP/s of a `size`^3 bf16 matmul on `device`: best of `MATMUL_REPEATS` timings of `MATMULS_PER_TIMING`."""
    import torch

    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(MATMULS_PER_TIMING):  # warm-up: cuBLAS handles, clocks
        a @ b
    synchronize(device)
    best = math.inf
    for _ in range(MATMUL_REPEATS):
        start = time.perf_counter()
        for _ in range(MATMULS_PER_TIMING):
            a @ b
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / MATMULS_PER_TIMING)
    return 2 * size**3 / best


def machine_info(device, matmul_size: int) -> dict:
    import importlib.metadata

    import torch

    versions = "; ".join(f"{name} {importlib.metadata.version(name)}" for name in VERSION_PACKAGES)
    info = {"versions": versions, "python": platform.python_version(), "cpu_count": os.cpu_count()}
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        info["device_name"] = (
            f"{torch.cuda.get_device_name(device)} ({properties.total_memory / GIB:.1f} GiB, compute capability "
            f"{properties.major}.{properties.minor}, CUDA {torch.version.cuda}, {torch.cuda.device_count()} visible)"
        )
    else:
        info["device_name"] = f"CPU {platform.processor() or platform.machine()} ({os.cpu_count()} logical cores)"
    info["bf16_matmul_flop_per_s"] = bf16_matmul_flop_per_s(device, matmul_size)
    return info


def memory_gib(device) -> dict:
    """Peak memory since the last reset: the GPU's allocated and reserved, or the process's peak RSS on a CPU."""
    import torch

    if device.type == "cuda":
        return {
            "peak_gib": torch.cuda.max_memory_allocated(device) / GIB,
            "peak_reserved_gib": torch.cuda.max_memory_reserved(device) / GIB,
        }
    import resource

    return {"peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB}


def reset_peak_memory(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def build_model(shape: str, device, dtype):
    """A randomly initialised `LlamaForCausalLM` of `SHAPES[shape]`, created on `device` in `dtype`."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(SEED)
    config = LlamaConfig(**SHAPES[shape])
    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype)


def run_mode(mode: str, settings: dict, result_path: str) -> None:
    """Build the model and the trainer of one mode, train `rollouts` rollouts and write the measurements."""
    sys.path.insert(0, str(PROBE_DIR))
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from probe import GENERATE, ROLLOUT, SCORE, PhaseTimer
    from transformers import AutoTokenizer

    from reft_trl import ReFTPPOConfig, ReFTPPOTrainer

    device = torch.device(settings["device"])
    dtype = torch.bfloat16
    result = {"mode": mode, "machine": machine_info(device, settings["matmul_size"])}
    reset_peak_memory(device)

    tokenizer = AutoTokenizer.from_pretrained(settings["tokenizer"], padding_side="left")
    vocab_size = SHAPES[settings["shape"]]["vocab_size"]
    special = {name: getattr(tokenizer, f"{name}_token_id") for name in ("eos", "pad", "bos")}
    if any(token_id is not None and token_id >= vocab_size for token_id in special.values()):
        raise ValueError(f"The tokenizer's special ids {special} must be below the model's vocabulary {vocab_size}.")
    prompts = make_prompts(tokenizer, vocab_size, settings["batch"], settings["prompt_len"], SEED)

    start = time.perf_counter()
    model = build_model(settings["shape"], device, dtype)
    synchronize(device)
    result["model_build_s"] = time.perf_counter() - start
    embedding = model.get_input_embeddings().weight
    result["parameters"] = sum(p.numel() for p in model.parameters())
    result["matmul_parameters"] = result["parameters"] - embedding.numel()
    result["vocab_size"], result["tokenizer_size"] = model.config.vocab_size, len(tokenizer)
    result["weights_dtype"] = str(next(model.parameters()).dtype).removeprefix("torch.")
    result["attn_implementation"] = model.config._attn_implementation

    completion_length = settings["max_completion_length"]
    config = ReFTPPOConfig(
        output_dir=tempfile.mkdtemp(prefix=f"bench-gpu-ppo-{mode}-"),
        per_device_train_batch_size=settings["batch"],
        gradient_accumulation_steps=1,
        num_ppo_epochs=settings["ppo_epochs"],
        num_mini_batches=1,
        kl_coef=settings["kl_coef"],
        max_completion_length=completion_length,
        max_prompt_length=None,
        generation_kwargs={"min_new_tokens": completion_length} if settings["full_length"] else None,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        learning_rate=settings["learning_rate"],
        max_steps=settings["rollouts"] * settings["ppo_epochs"],
        use_cpu=device.type == "cpu",
        bf16=True,  # autocast over the bf16 weights; the value head and the losses stay float32
        gradient_checkpointing=settings["gradient_checkpointing"],
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=SEED,
    )
    start = time.perf_counter()
    trainer = ReFTPPOTrainer(
        model=model,
        reward_funcs=vowel_share,
        args=config,
        train_dataset=Dataset.from_dict({"prompt": prompts}),
        processing_class=tokenizer,
        peft_config=LoraConfig(task_type="CAUSAL_LM", **settings["lora"]) if mode == "lora" else None,
    )
    synchronize(device)
    result["trainer_build_s"] = time.perf_counter() - start
    result["trainable_parameters"] = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    result["reference"] = "frozen copy" if trainer.ref_model is not None else "base model, adapter off"
    result["optimizer"] = getattr(config.optim, "value", config.optim)
    result["after_build_gib"] = (
        torch.cuda.memory_allocated(device) / GIB if device.type == "cuda" else memory_gib(device)["peak_gib"]
    )
    result["build_peak_gib"] = memory_gib(device)["peak_gib"]  # the model (and the reference copy) built

    timer = PhaseTimer()
    instrument(trainer, timer, functools.partial(synchronize, device), (GENERATE, SCORE, ROLLOUT))
    clock = device_rollout_clock(timer, config.steps_per_generation * config.num_iterations, device)
    trainer.add_callback(clock)
    reset_peak_memory(device)
    start = time.perf_counter()
    trainer.train()
    synchronize(device)
    result["train_s"] = time.perf_counter() - start
    for key in ("peak_gib", "peak_reserved_gib"):  # over the whole training: the largest of the rollouts' peaks
        result[key] = max((row[key] for row in clock.rollouts if key in row), default=math.nan)
    result["rollouts"] = clock.rollouts
    Path(result_path).write_text(json.dumps(result, indent=1))


def instrument(trainer, timer, sync, phases) -> None:
    """Time the trainer's generation, reward and whole-rollout verbs into `timer` (as `worker_trl116.py` does),
    each synchronised with the device before its clock stops, and count the tokens generated."""
    from probe import counting_generate

    generate_phase, score_phase, rollout_phase = phases
    generate_and_count = counting_generate(trainer, timer)

    def synced(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            output = function(*args, **kwargs)
            sync()
            return output

        return wrapper

    always = lambda phase: lambda *args, **kwargs: phase  # noqa: E731
    trainer._generate = timer.timed(synced(generate_and_count), always(generate_phase))
    trainer._calculate_rewards = timer.timed(synced(trainer._calculate_rewards), always(score_phase))
    trainer._generate_and_score_completions = timer.timed(
        synced(trainer._generate_and_score_completions), always(rollout_phase)
    )


def device_rollout_clock(timer, steps_per_rollout: int, device):
    """A `probe.RolloutClock` that synchronises the device before each rollout's clock stops, and records the
    rollout's peak memory (then resets it)."""
    from probe import RolloutClock

    class DeviceRolloutClock(RolloutClock):
        def on_step_end(self, args, state, control, **kwargs):
            boundary = state.global_step % self.steps_per_rollout == 0
            if boundary:
                synchronize(device)
                memory = memory_gib(device)
            super().on_step_end(args, state, control, **kwargs)
            if boundary:
                self.rollouts[-1].update(memory)
                reset_peak_memory(device)

    return DeviceRolloutClock(timer, steps_per_rollout)


if __name__ == "__main__":
    sys.exit(main())
