"""PPO step time and peak memory on CPU: `reft_trl.ReFTPPOTrainer` against TRL 1.12's PPOTrainer and TRL 1.16's GRPO.

Every trainer runs in its own subprocess, one after another, with its own Python: the project venv (TRL 1.16) for
ReFTPPOTrainer and GRPOTrainer, a second venv holding TRL 1.12 for `trl.experimental.ppo.PPOTrainer`, the last TRL
with PPO. All of them train SmolLM2-135M-Instruct in the same precision (`--precision`, below) on the same SVAMP
questions (the ReFT N-CoT prompt), with the same sampling (temperature 0.7, top_k 0, top_p 1; TRL 1.12 hard-codes
top_k 0 and top_p 1), the same completion budget, 2 PPO epochs over each rollout and one mini-batch.

Precision: `--precision fp32` (the default, the precision of the published comparisons) or `bf16`, set explicitly in
every trainer's config (`bf16=True/False`): left alone, reft-trl's `bf16=None` resolves to bf16 autocast on a CPU with
AVX512-BF16 or AMX, and TRL's configs default to `bf16=True`. The weights stay float32 either way; bf16 is accelerate's
autocast of the forwards of the model the trainer prepared. For ReFTPPOTrainer and GRPO that covers the rollout's
generation and scoring forwards and the update. TRL 1.12's PPOTrainer prepares only its policy + value wrapper, so
only its PPO update runs under autocast; its generation (the bare policy), reference, value and reward forwards of the
rollout stay float32. It also builds its own `Accelerator`, which reads the precision from ACCELERATE_MIXED_PRECISION,
an environment variable transformers 5 no longer sets from `bf16`, so the script sets it for every worker. bf16 on a
CPU without native bf16 is emulated and slower than fp32: the script warns, and runs.

The unit compared is the ROLLOUT: one batch of completions plus the PPO epochs over it. TRL 1.12 counts one rollout
as one step; GRPO and ReFTPPOTrainer take one optimizer step per epoch (`steps_per_generation * num_iterations` =
2 optimizer steps per rollout). The first rollout is a warm-up, reported apart and left out of the steady-state mean.

What each trainer holds:

- `reft`: ReFTPPOTrainer; critic = a value head on the policy's backbone, reward = `AnswerMatchReward` (no reward
  model), KL in the reward against a frozen copy of the policy. 8 prompts x 1 completion. Its default
  `lm_head_scoring` ("logits" on a CPU: the completion positions' logits only).
- `reft_fused`: the same with `lm_head_scoring="fused"` (TRL's chunked fused LM head, which on a CPU projects every
  position and recomputes the projection in the backward).
- `reft_shrinking`: `reft` with `rollout_decoding="shrinking"` (a finished completion leaves the rollout's batch).
- `reft_fused_rollouts`: `reft` with `rollout_decoding="fused"` (the shrinking loop over `reft_trl.fused_llama`'s
  decoder: the same Llama forward in fewer operators, from weights packed once per rollout).
- `trl112`: PPOTrainer; policy, reference copy, value model and reward model (the value and reward models are the
  same SmolLM2 weights with a fresh 1-label `*ForSequenceClassification` head), KL in the reward. 8 prompts x 1.
- `grpo`: GRPOTrainer, beta 0 (no reference), `AnswerMatchReward`; 4 prompts x 2 completions.
- `grpo_kl`: the same with beta 0.05 (a reference model and the KL term in the loss).

Setup of the TRL 1.12 venv (once, a few minutes, CPU wheels from PyPI):

    python3 -m venv .venv-trl112
    .venv-trl112/bin/pip install torch==2.13.0
    .venv-trl112/bin/pip install -r benchmarks/requirements-trl112.txt

Usage:

    python benchmarks/bench_ppo_step.py --quick              # sanity run: 2 rollouts of 16 tokens each
    python benchmarks/bench_ppo_step.py                      # 6 rollouts of up to 64 tokens, DEFAULT_TRAINERS
    python benchmarks/bench_ppo_step.py --trainers reft trl112 --steps 4 --repeats 4 --json outputs/ppo_step.json
    python benchmarks/bench_ppo_step.py --precision bf16        # every trainer under bf16 autocast
    python benchmarks/bench_ppo_step.py --from-json outputs/ppo_step.json   # print the tables again

Per-rollout wall time is the gap between consecutive rollout ends (a `TrainerCallback`'s `on_step_end`), split into
generation, scoring, the rest of the rollout and the PPO update (see `ppo_step/probe.py`); peak memory is the
worker's `ru_maxrss` at exit; "after build" is its RSS once the trainer is constructed and every weight it holds has
been read once (safetensors weights are memory-mapped and become resident only when first read). Torch keeps its default thread count (one per core) in every worker.

On a small shared machine other processes distort the times badly: with one torch thread per core, a competing
process that takes half a core can make a rollout several times slower. So each worker starts only once the machine
is quiet (`--quiet-wait`), every rollout records the CPU time other processes used meanwhile, and rollouts above
`--max-other-cpu` are left out of the times (the tables say how many were kept). `--repeats` runs the trainers again in
reverse order (ABBA), and the ratio ours / TRL 1.12 is also given per repeat, from runs made back to back.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKERS = Path(__file__).resolve().parent / "ppo_step"
PROJECT_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
TRL112_PYTHON = REPO_ROOT / ".venv-trl112" / "bin" / "python"
TRAINERS = ("reft", "reft_fused", "reft_shrinking", "reft_fused_rollouts", "trl112", "grpo", "grpo_kl")
DEFAULT_TRAINERS = ("reft", "trl112", "grpo", "grpo_kl")
"""Ours, TRL 1.12's PPO and TRL 1.16's GRPO; the `reft_*` variants of ours run on request."""
LABELS = {
    "reft": "ReFTPPOTrainer (TRL 1.16)",
    "reft_fused": "ReFTPPOTrainer, fused head",
    "reft_shrinking": "ReFTPPOTrainer, shrinking rollouts",
    "reft_fused_rollouts": "ReFTPPOTrainer, fused-decoder rollouts",
    "trl112": "TRL 1.12 PPOTrainer",
    "grpo": "TRL 1.16 GRPO, beta 0",
    "grpo_kl": "TRL 1.16 GRPO, beta 0.05",
}
LABEL_WIDTH = max(len(label) for label in LABELS.values())
ROLLOUT_DECODING = {"reft_shrinking": "shrinking", "reft_fused_rollouts": "fused"}
"""`rollout_decoding` of the `reft_*` variants that change it (the others: "dynamic", transformers' `generate`)."""
BASELINE = "trl112"
TARGET_RATIO = 0.5  # time per rollout, ours / TRL 1.12 (issue "Fast on a CPU")
TARGET_MEMORY_RATIO = 0.6  # peak memory, ours / TRL 1.12
VERSION_PACKAGES = ("torch", "transformers", "trl", "accelerate", "datasets")
GRPO_KL_BETA = 0.05
KL_COEF = 0.05
LEARNING_RATE = 3e-6  # TRL 1.12 PPOConfig's default; does not change the cost of a step
SEED = 0
PRECISIONS = ("fp32", "bf16")
DEFAULT_PRECISION = "fp32"  # the published comparisons' precision; also what results without a `precision` used
NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "amx_tile", "bf16"}  # x86 AVX512-BF16 / AMX; Arm's bf16 extension
QUICK = {"steps": 2, "response_length": 16}
QUIET_SHARE = 0.10  # start a worker once other processes use less than this share of the CPUs ...
QUIET_WINDOW_S = 3.0  # ... over this window


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="rollouts per trainer, the first being a warm-up")
    parser.add_argument("--batch", type=int, default=8, help="completions per rollout")
    parser.add_argument("--response-length", type=int, default=64, help="maximum new tokens per completion")
    parser.add_argument("--ppo-epochs", type=int, default=2)
    parser.add_argument("--temperature", type=float, default=0.7, help="TRL 1.12 samples at 0.7 by default")
    parser.add_argument(
        "--num-prompts", type=int, default=None, help="SVAMP questions in the dataset (default: --batch)"
    )
    parser.add_argument("--trainers", nargs="+", choices=TRAINERS, default=list(DEFAULT_TRAINERS))
    parser.add_argument(
        "--trl112-stop-token",
        choices=("eos", "none"),
        default="eos",
        help="TRL 1.12's `stop_token`: 'eos' stops and truncates at EOS as the TRL 1.16 trainers do; 'none' (its "
        "default) generates every completion to full length",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=DEFAULT_PRECISION,
        help="precision of every trainer: fp32, or bf16 autocast with float32 weights (see the module docstring for "
        "what it covers in each trainer)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs of every trainer, alternating the order")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=300.0,
        help=f"before each worker, wait up to this many seconds for other processes to use < {QUIET_SHARE * 100:.0f}%% of "
        "the CPUs (0: do not wait)",
    )
    parser.add_argument(
        "--max-other-cpu",
        type=float,
        default=QUIET_SHARE,
        help="leave out of the steady state the rollouts during which other processes used more than this share of "
        "the CPUs (1: keep all)",
    )
    parser.add_argument("--quick", action="store_true", help=f"short sanity run: {QUICK}")
    parser.add_argument("--project-python", default=str(PROJECT_PYTHON))
    parser.add_argument("--trl112-python", default=str(TRL112_PYTHON))
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--from-json", help="print the tables of an earlier --json file instead of running")
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    if args.steps < 2:
        parser.error("--steps must be at least 2 (one warm-up rollout plus one measured)")
    return args


# ----------------------------------------------------------------------------------------------------------------
# Machine and packages


def read_cpuinfo() -> dict[str, str]:
    """The first core's fields of /proc/cpuinfo (empty where there is none)."""
    cpuinfo = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return cpuinfo
    for line in text.splitlines():
        key, _, value = line.partition(":")
        cpuinfo.setdefault(key.strip(), value.strip())
    return cpuinfo


def cpu_has_native_bf16(cpuinfo: dict[str, str] | None = None) -> bool:
    """Whether the CPU computes bf16 natively (AVX512-BF16 or AMX on x86, the bf16 extension on Arm), from its
    /proc/cpuinfo flags: `reft_trl.precision.cpu_supports_bf16` without importing torch."""
    cpuinfo = read_cpuinfo() if cpuinfo is None else cpuinfo
    flags = set(cpuinfo.get("flags", "").split()) | set(cpuinfo.get("Features", "").split())
    return bool(flags & NATIVE_BF16_FLAGS)


def machine_lines() -> list[str]:
    cpuinfo = read_cpuinfo()
    flags = set(cpuinfo.get("flags", "").split())
    vector = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "no avx2"
    vector += ", native bf16" if cpu_has_native_bf16(cpuinfo) else ", no native bf16"
    guest = ", virtual machine" if "hypervisor" in flags else ""
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line
    )
    return [
        f"cpu: {cpuinfo.get('model name', platform.processor() or 'unknown')} (family {cpuinfo.get('cpu family')} "
        f"model {cpuinfo.get('model')}, {float(cpuinfo.get('cpu MHz', 'nan')):.0f} MHz, {vector}{guest}); "
        f"{os.cpu_count()} logical cores ({len(os.sched_getaffinity(0))} usable)",
        f"memory: {mem_kib * 1024 / 1e9:.1f} GB; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}",
    ]


def matmul_flops(python: str, dtype: str = "float32") -> float:
    """The machine's matmul FLOP/s in `dtype` (`bench_generation.measure_matmul_flops`), measured in a subprocess."""
    snippet = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); import torch; "
        f"from bench_generation import measure_matmul_flops; print(measure_matmul_flops(torch.{dtype}))"
    )
    done = subprocess.run([python, "-c", snippet], capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def update_flop_rate(summary: dict, ppo_epochs: int) -> float:
    """FLOP/s of the work the PPO update needs (forward 2 + backward 4 FLOPs per parameter and token, per epoch): the
    body (parameters but the LM head's) over the padded rows, completions x (prompt width + decoding steps), and the
    LM head over the completion positions, completions x decoding steps; attention left out. NaN without the counts
    (results of other trainers, or older ones)."""
    head = summary.get("head_parameters", math.nan)
    body = summary.get("policy_parameters", math.nan) - head
    rows = summary["completions"]
    flops = 6 * (
        body * rows * (summary["prompt_width"] + summary["decoding_steps"]) + head * rows * summary["decoding_steps"]
    )
    return flops * ppo_epochs / summary["update_s"]


def package_versions(python: str) -> str:
    snippet = (
        "import importlib.metadata as m\n"
        f"for name in {VERSION_PACKAGES!r}:\n"
        "    print(f'{name} {m.version(name)}', end='; ')"
    )
    done = subprocess.run([python, "-c", snippet], capture_output=True, text=True)
    return done.stdout.strip().rstrip(";") if done.returncode == 0 else f"unavailable ({done.stderr.strip()[-200:]})"


# ----------------------------------------------------------------------------------------------------------------
# Workers


def run_worker(command: list[str], log_path: Path, env: dict[str, str] | None = None) -> float:
    """Run one worker, its output going to `log_path`; raise with the log's tail if it fails."""
    start = time.perf_counter()
    with open(log_path, "w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env)
    if done.returncode != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-30:])
        raise RuntimeError(f"{shlex.join(command)} exited with {done.returncode}; log {log_path}:\n{tail}")
    return time.perf_counter() - start


def worker_env(precision: str) -> dict[str, str]:
    """The workers' environment, with accelerate's mixed precision set to `precision`.

    TRL 1.12's PPOTrainer builds its `Accelerator` without `mixed_precision`, so accelerate reads it from
    ACCELERATE_MIXED_PRECISION, which transformers 4 set from `bf16` in `TrainingArguments.__post_init__` and
    transformers 5 no longer does: without this variable its `bf16=True` would leave it in fp32. TRL 1.16's trainers
    (transformers' `Trainer`) take the precision from their config's explicit `bf16`, which agrees with it; "no" also
    keeps a variable set in the caller's shell from turning an fp32 run into a mixed-precision one.
    """
    return {**os.environ, "ACCELERATE_MIXED_PRECISION": "bf16" if precision == "bf16" else "no"}


def worker_config(args, shared: dict, trainer: str) -> dict:
    return {
        **shared,
        "batch": args.batch,
        "response_length": args.response_length,
        "ppo_epochs": args.ppo_epochs,
        "temperature": args.temperature,
        "rollouts": args.steps,
        "learning_rate": LEARNING_RATE,
        "kl_coef": KL_COEF,
        "seed": SEED,
        "num_generations": 2,
        "beta": GRPO_KL_BETA if trainer == "grpo_kl" else 0.0,
        "lm_head_scoring": "fused" if trainer == "reft_fused" else "auto",
        "rollout_decoding": ROLLOUT_DECODING.get(trainer, "dynamic"),
        "trl112_stop_token": None if args.trl112_stop_token == "none" else args.trl112_stop_token,
        # Every config's `bf16`, explicit: reft-trl's default (None) would resolve to True on a CPU with native bf16,
        # TRL's to True anywhere. For TRL 1.12 it takes effect through `worker_env`'s ACCELERATE_MIXED_PRECISION.
        "bf16": args.precision == "bf16",
    }


def worker_command(args, trainer: str, result: Path, config: Path) -> list[str]:
    if trainer == "trl112":
        return [args.trl112_python, str(WORKERS / "worker_trl112.py"), str(result), "--config", str(config)]
    mode = "grpo" if trainer.startswith("grpo") else "reft"
    return [args.project_python, str(WORKERS / "worker_trl116.py"), mode, str(result), "--config", str(config)]


# ----------------------------------------------------------------------------------------------------------------
# A quiet machine


def other_cpu_share(window_s: float) -> float:
    """Share of the machine's CPU capacity used over `window_s` seconds (this process sleeps meanwhile)."""

    def busy_and_total():
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        return sum(fields) - fields[3] - fields[4], sum(fields)

    busy0, total0 = busy_and_total()
    time.sleep(window_s)
    busy1, total1 = busy_and_total()
    return (busy1 - busy0) / max(total1 - total0, 1)


def wait_for_quiet(max_wait_s: float, threshold: float = QUIET_SHARE, window_s: float = QUIET_WINDOW_S) -> str:
    """Wait (at most `max_wait_s`) until other processes use less than `threshold` of the CPUs; say how it went."""
    start = time.perf_counter()
    share = other_cpu_share(window_s)
    while share >= threshold and time.perf_counter() - start < max_wait_s:
        share = other_cpu_share(window_s)
    waited = time.perf_counter() - start
    return f"waited {waited:.0f} s for a quiet machine, busy {share:.0%}" + (
        " (gave up)" if share >= threshold else ""
    )


# ----------------------------------------------------------------------------------------------------------------
# Summary


def other_share(row: dict) -> float:
    """Share of the CPUs that other processes used during one rollout."""
    return row["other_cpu_s"] / (row["wall_s"] * (os.cpu_count() or 1))


def summarize(runs: list[dict], max_other_share: float) -> dict:
    """One trainer's repeats pooled: the first rollout of each is a warm-up, the others are steady state. Rollouts
    during which other processes used more than `max_other_share` of the CPUs are left out of the times (all are kept
    when that would leave none)."""
    all_warmups = [run["rollouts"][0] for run in runs]
    all_steady = [row for run in runs for row in run["rollouts"][1:]]
    quiet_warmups = [row for row in all_warmups if other_share(row) <= max_other_share]
    quiet_steady = [row for row in all_steady if other_share(row) <= max_other_share]
    warmups, steady = quiet_warmups or all_warmups, quiet_steady or all_steady
    everything = all_warmups + all_steady

    def mean(key, rows=steady):
        return statistics.fmean(row.get(key, math.nan) for row in rows)  # NaN: a field older results lack

    wall = [row["wall_s"] for row in steady]
    cores = os.cpu_count() or 1
    first = runs[0]
    return {
        "steady_s": statistics.fmean(wall),
        "steady_sd_s": statistics.stdev(wall) if len(wall) > 1 else 0.0,
        "steady_median_s": statistics.median(wall),
        "steady_min_s": min(wall),
        "steady_rollouts": len(quiet_steady),
        "warmups": f"{len(quiet_warmups)}/{len(all_warmups)}",
        "all_steady_rollouts": len(all_steady),
        "all_steady_s": statistics.fmean(row["wall_s"] for row in all_steady),
        "first_s": mean("wall_s", warmups),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
        "rss_after_build_mb": statistics.fmean(run["rss_after_build_mb"] for run in runs),
        "rss_after_imports_mb": statistics.fmean(run["rss_after_imports_mb"] for run in runs),
        "generate_s": mean("generate_s"),
        "score_s": mean("score_s"),
        "rollout_forward_s": mean("rollout_forward_s"),
        "update_s": mean("update_s"),
        "other_cpu_share": sum(row["other_cpu_s"] for row in steady) / (sum(wall) * cores),
        "own_cpu_share": sum(row["own_cpu_s"] for row in steady) / (sum(wall) * cores),
        "mean_completion_length": mean("mean_completion_length", everything),
        "decoding_steps": mean("decoding_steps", everything),
        "prompt_width": mean("prompt_width", everything),
        "completions": first["completions_per_rollout"],
        "prompts": first["prompts_per_rollout"],
        "torch_threads": sorted({run["torch_threads"] for run in runs}),
        "build_s": statistics.fmean(run["build_s"] for run in runs),
        **{key: first[key] for key in ("policy_parameters", "head_parameters") if key in first},
    }


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}" if baseline and not math.isnan(baseline) else "-"


def saved_precision(saved: dict) -> str:
    """The precision of an earlier --json file; files written before `--precision` existed ran in fp32."""
    return saved.get("precision") or saved.get("args", {}).get("precision") or DEFAULT_PRECISION


def print_tables(summaries: dict[str, dict], precision: str = DEFAULT_PRECISION) -> None:
    base = summaries.get(BASELINE)
    print(
        f"seconds per rollout, {precision} (steady: mean ± sd over the non-warm-up rollouts with other processes "
        "below the --max-other-cpu share; median of those; first: the warm-up rollout, same filter)"
    )
    header = (
        f"{'trainer':<{LABEL_WIDTH}} {'steady mean':>14} {'median':>7} {'first':>7} {'peak RSS':>9} {'after build':>11}"
        + (f" {'time/1.12':>9} {'median/1.12':>11} {'peak/1.12':>9}" if base else "")
    )
    print(header)
    print("-" * len(header))
    for name, s in summaries.items():
        line = (
            f"{LABELS[name]:<{LABEL_WIDTH}} {s['steady_s']:>6.2f} ± {s['steady_sd_s']:<5.2f} {s['steady_median_s']:>7.2f}"
            f" {s['first_s']:>7.2f} {s['peak_rss_mb'] / 1000:>6.2f} GB {s['rss_after_build_mb'] / 1000:>8.2f} GB"
        )
        if base:
            line += (
                f" {ratio(s['steady_s'], base['steady_s']):>9}"
                f" {ratio(s['steady_median_s'], base['steady_median_s']):>11}"
                f" {ratio(s['peak_rss_mb'], base['peak_rss_mb']):>9}"
            )
        print(line)
    if base and "reft" in summaries:
        ours = summaries["reft"]
        print(
            f"targets, ours / TRL 1.12: time <= {TARGET_RATIO}: {ratio(ours['steady_s'], base['steady_s'])} "
            f"(median {ratio(ours['steady_median_s'], base['steady_median_s'])}); "
            f"peak memory <= {TARGET_MEMORY_RATIO}: {ratio(ours['peak_rss_mb'], base['peak_rss_mb'])}"
        )

    print("\nsteady-state split of a rollout: seconds (share)")
    header = (
        f"{'trainer':<{LABEL_WIDTH}} {'generate':>14} {'score':>13} {'rollout fwd':>13} {'PPO update':>14}"
        f" {'mean len':>8} {'decode steps':>12} {'prompt width':>12} {'other CPU':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, s in summaries.items():
        cells = [
            f"{s[key]:>6.2f} ({s[key] / s['steady_s']:>4.0%})"
            for key in ("generate_s", "score_s", "rollout_forward_s", "update_s")
        ]
        print(
            f"{LABELS[name]:<{LABEL_WIDTH}} {cells[0]:>14} {cells[1]:>13} {cells[2]:>13} {cells[3]:>14}"
            f" {s['mean_completion_length']:>8.1f} {s['decoding_steps']:>12.1f} {s['prompt_width']:>12.1f}"
            f" {s['other_cpu_share']:>9.0%}"
        )
    print(
        "generate: sampling; score: reward functions or reward model; rollout fwd: the rest of the rollout (no-grad "
        "forwards of policy, critic, reference; GAE); PPO update: forward + backward + optimizer step of every epoch. "
        "mean len: tokens per completion up to and including EOS; decode steps: decoding steps run by `generate` "
        "(the longest completion of its batch); prompt width: the longest prompt of the batch, in tokens (prompts "
        "are padded to it); these three over all rollouts; other CPU: CPU capacity used by other "
        "processes during the steady rollouts (0% = a quiet machine)."
    )
    print(
        "\nper trainer: completions (prompts) per rollout, torch threads, quiet steady rollouts / all (mean of all), "
        "quiet warm-ups / all (with none quiet, all are used), build time, RSS after imports"
    )
    for name, s in summaries.items():
        print(
            f"  {LABELS[name]:<{LABEL_WIDTH}} {s['completions']} ({s['prompts']}), {s['torch_threads']} threads, "
            f"{s['steady_rollouts']}/{s['all_steady_rollouts']} steady rollouts ({s['all_steady_s']:.2f} s), "
            f"{s['warmups']} warm-ups, "
            f"build {s['build_s']:.1f} s, RSS after imports {s['rss_after_imports_mb'] / 1000:.2f} GB"
        )


def print_paired_ratios(results: dict[str, list[dict]], max_other_share: float) -> None:
    """Ours / TRL 1.12 within each repeat (the two ran back to back), so slow drifts of the machine cancel."""
    if "reft" not in results or BASELINE not in results or len(results["reft"]) != len(results[BASELINE]):
        return
    pairs = []
    for ours, theirs in zip(results["reft"], results[BASELINE]):
        pairs.append(
            (
                summarize([ours], max_other_share)["steady_s"] / summarize([theirs], max_other_share)["steady_s"],
                ours["peak_rss_mb"] / theirs["peak_rss_mb"],
            )
        )
    print(
        "\nours / TRL 1.12 per repeat (time, peak memory): "
        + ", ".join(f"{time_ratio:.2f} / {memory_ratio:.2f}" for time_ratio, memory_ratio in pairs)
    )


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        print("command:", saved.get("command") or saved["args"])
        print_tables(
            {trainer: summarize(runs, args.max_other_cpu) for trainer, runs in saved["results"].items()},
            saved_precision(saved),
        )
        print_paired_ratios(saved["results"], args.max_other_cpu)
        return
    if "trl112" in args.trainers and not Path(args.trl112_python).exists():
        sys.exit(
            f"{args.trl112_python} not found. Create the TRL 1.12 venv (see this script's docstring) or leave trl112 "
            "out with --trainers."
        )
    command = shlex.join(["python", os.path.relpath(__file__, REPO_ROOT), *sys.argv[1:]])
    print("command:", command)
    for line in machine_lines():
        print(line)
    if args.precision == "bf16" and not cpu_has_native_bf16():
        print(
            "warning: --precision bf16 on a CPU without native bf16 (no AVX512-BF16 or AMX): bf16 is emulated here "
            "and slower than fp32; running anyway",
            flush=True,
        )
    print(f"project venv: {package_versions(args.project_python)}")
    if "trl112" in args.trainers:
        print(f"TRL 1.12 venv: {package_versions(args.trl112_python)}")

    work = Path(tempfile.mkdtemp(prefix="bench-ppo-step-"))
    prepared = work / "prepared.json"
    num_prompts = args.num_prompts or args.batch
    run_worker(
        [
            args.project_python,
            str(WORKERS / "worker_trl116.py"),
            "prepare",
            str(prepared),
            "--num-prompts",
            str(num_prompts),
        ],
        work / "prepare.log",
    )
    env = worker_env(args.precision)
    precision = "fp32" if args.precision == "fp32" else "bf16 autocast (float32 weights)"
    shared = json.loads(prepared.read_text())
    print(
        f"{args.steps} rollouts per trainer and repeat (1 warm-up), {args.repeats} repeat(s), {args.batch} "
        f"completions of up to {args.response_length} tokens, {args.ppo_epochs} PPO epochs, 1 mini-batch, "
        f"{precision}; {num_prompts} SVAMP questions; logs in {work}\n"
    )

    results = {trainer: [] for trainer in args.trainers}
    for repeat in range(args.repeats):
        order = args.trainers if repeat % 2 == 0 else args.trainers[::-1]
        for trainer in order:
            tag = f"{trainer}.{repeat}"
            config_path, result_path = work / f"{tag}.config.json", work / f"{tag}.result.json"
            config_path.write_text(json.dumps(worker_config(args, shared, trainer)))
            quiet = wait_for_quiet(args.quiet_wait) if args.quiet_wait > 0 else "no wait"
            seconds = run_worker(worker_command(args, trainer, result_path, config_path), work / f"{tag}.log", env)
            results[trainer].append(json.loads(result_path.read_text()))
            rollouts = results[trainer][-1]["rollouts"]
            print(
                f"  repeat {repeat}: {LABELS[trainer]} done in {seconds:.0f} s ({quiet}); rollouts (s, other CPU) "
                + " ".join(f"{row['wall_s']:.1f} ({other_share(row):.0%})" for row in rollouts),
                flush=True,
            )
    summaries = {trainer: summarize(runs, args.max_other_cpu) for trainer, runs in results.items()}
    print()
    print_tables(summaries, args.precision)
    print_paired_ratios(results, args.max_other_cpu)
    fp32_flops = matmul_flops(args.project_python, "float32")
    bf16_flops = matmul_flops(args.project_python, "bfloat16") if args.precision == "bf16" else None
    machine_flops = bf16_flops or fp32_flops  # the update's matmuls run in the run's precision
    print(
        f"\nPPO update against this machine's {args.precision} matmul rate ({machine_flops / 1e9:.0f} GFLOP/s, "
        "2048^3):"
    )
    for trainer, summary in summaries.items():
        summary["update_flop_per_s"] = update_flop_rate(summary, args.ppo_epochs)
        if not math.isnan(summary["update_flop_per_s"]):
            print(
                f"  {LABELS[trainer]:<{LABEL_WIDTH}} ~{summary['update_flop_per_s'] / 1e9:.0f} GFLOP/s "
                f"({summary['update_flop_per_s'] / machine_flops:.0%}) of the work it needs (see update_flop_rate)"
            )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {
                    "command": command,
                    "args": vars(args),
                    "precision": args.precision,
                    "fp32_matmul_flop_per_s": fp32_flops,
                    **({"bf16_matmul_flop_per_s": bf16_flops} if bf16_flops else {}),
                    "results": results,
                    "summaries": summaries,
                },
                indent=1,
            )
        )
        print(f"\nraw results: {args.json}")


if __name__ == "__main__":
    main()
