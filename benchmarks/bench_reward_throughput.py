"""N-CoT reward throughput on one CPU core: `AnswerMatchReward` side by side with the ReFT authors' approach.

Inputs are real completions in the ReFT N-CoT template (`...\\nTherefore, the answer is: N`): the SVAMP training
targets of the ReFT repository, and the 5,276 GPT-3 solutions to the GSM8K test set from openai/grade-school-math
with their final `A: N` line written as the template's trigger (the few solutions cut off before `A:` stay as
they are). Both scorers see the same texts and gold answers;
repeats alternate between them and the best repeat of each is reported (the least disturbed by other processes).

    python benchmarks/bench_reward_throughput.py            # full run
    python benchmarks/bench_reward_throughput.py --repeats 1 --n 2000   # quick check
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from reft_trl.rewards import AnswerMatchReward  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
GSM8K_SOLUTIONS_PATH = REPO_ROOT / "benchmarks" / "data" / "gsm8k_example_model_solutions.jsonl"
SVAMP_NCOT_PATH = REPO_ROOT / "reft_trl" / "data" / "bundled" / "svamp" / "reft_train_ncot.json"
SOLUTION_KEYS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
TEMPLATE_TRIGGER = "\nTherefore, the answer is: "
SOLUTION_ANSWER_MARKER = "\nA: "
PINNED_CORE = 0
DEFAULT_REPEATS = 5
DEFAULT_BATCH_SIZE = 64
"""Completions per reward call, as in a GRPO/PPO generation batch."""
TARGET_COMPLETIONS_PER_S = 20_000


# The authors' approach, re-implemented as a baseline from reading lqtrung1998/mwp_ReFT (train_rl_reft.py and
# src/utils.py, engine "nl"): keep the text after the last "\nAnswer reasoning:\n", take what follows the last
# "\nTherefore, the answer is: ", and read it with float() (None if that fails); the gold answer is read with
# float() after removing commas. Reward 1 when |extracted - gold| <= 1e-2, 0.1 when a float was read but differs,
# 0 when none was read.
AUTHORS_COT_TRIGGER = "\nAnswer reasoning:\n"
AUTHORS_TOLERANCE = 1e-2


def authors_float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def authors_reward(completions: list[str], answers: list[str]) -> list[float]:
    rewards = []
    for completion, answer in zip(completions, answers):
        answer_text = completion.strip().split(AUTHORS_COT_TRIGGER)[-1].strip()
        extracted = authors_float_or_none(answer_text.split(TEMPLATE_TRIGGER)[-1].strip())
        target = float(answer.replace(",", "").strip())
        if extracted is None:
            rewards.append(0.0)
        elif abs(extracted - target) <= AUTHORS_TOLERANCE:
            rewards.append(1.0)
        else:
            rewards.append(0.1)
    return rewards


def template_completions() -> tuple[list[str], list[str]]:
    """Real N-CoT completions ending with the template's trigger, and their gold answers."""
    completions, answers = [], []
    for item in json.loads(SVAMP_NCOT_PATH.read_text()):
        completions.append(f"{item['answer_cot'].strip()}{TEMPLATE_TRIGGER}{item['answer_value']}")
        answers.append(item["answer_value"])
    for line in GSM8K_SOLUTIONS_PATH.read_text().splitlines():
        row = json.loads(line)
        gold = row["ground_truth"].rsplit("A:", 1)[1].strip()
        for key in SOLUTION_KEYS:
            body, marker, stated = row[key]["solution"].rpartition(SOLUTION_ANSWER_MARKER)
            completions.append(f"{body}{TEMPLATE_TRIGGER}{stated.strip()}" if marker else row[key]["solution"])
            answers.append(gold)
    return completions, answers


def raw_solutions() -> tuple[list[str], list[str]]:
    """The GSM8K model solutions as written (ending `A: N`), for the flexible reward."""
    completions, answers = [], []
    for line in GSM8K_SOLUTIONS_PATH.read_text().splitlines():
        row = json.loads(line)
        gold = row["ground_truth"].rsplit("A:", 1)[1].strip()
        for key in SOLUTION_KEYS:
            completions.append(row[key]["solution"])
            answers.append(gold)
    return completions, answers


def best_seconds(scorer, completions: list[str], answers: list[str], batch_size: int) -> float:
    """Seconds one pass over all completions takes, in batches of `batch_size`."""
    start = time.perf_counter()
    for first in range(0, len(completions), batch_size):
        scorer(completions[first : first + batch_size], answers[first : first + batch_size])
    return time.perf_counter() - start


def machine_info() -> list[str]:
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown",
    )
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}" for name in ("trl", "transformers", "math-verify", "sympy")
    )
    return [
        f"command: {shlex.join([Path(sys.executable).name, *sys.argv])}",
        f"machine: nproc {os.cpu_count()}, cpu {cpu_model}, {platform.system()} {platform.release()}",
        f"python {platform.python_version()}; {versions}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="passes over the inputs per scorer")
    parser.add_argument("--n", type=int, default=None, help="use only the first N completions")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    args = parser.parse_args()

    for line in machine_info():
        print(line)
    os.sched_setaffinity(0, {PINNED_CORE})
    print(f"pinned to core {PINNED_CORE} (affinity now {sorted(os.sched_getaffinity(0))}), OMP threads 1")

    completions, answers = template_completions()
    raw, raw_answers = raw_solutions()
    if args.n is not None:
        completions, answers, raw, raw_answers = (
            completions[: args.n],
            answers[: args.n],
            raw[: args.n],
            raw_answers[: args.n],
        )

    strict_reward = AnswerMatchReward("gsm8k", strict=True)
    flexible_reward = AnswerMatchReward("gsm8k", strict=False)
    ours, theirs = strict_reward(completions, answer=answers), authors_reward(completions, answers)
    same = sum(a == b for a, b in zip(ours, theirs))
    print(f"completions: {len(completions)} in the template (SVAMP ReFT targets + GSM8K model solutions)")
    print(f"same reward as the authors' approach on {same}/{len(completions)}; where they differ:")
    print(f"{'index':>6} {'ours':>5} {'authors':>7}  {'gold':>10}  last line")
    for index, (our_reward, their_reward) in enumerate(zip(ours, theirs)):
        if our_reward != their_reward:
            last_line = completions[index].rstrip().rsplit("\n", 1)[-1][-60:]
            print(f"{index:>6} {our_reward:>5} {their_reward:>7}  {answers[index]:>10}  {last_line!r}")

    scorers = {
        "authors' approach (split + float)": (authors_reward, completions, answers),
        "AnswerMatchReward strict (RL)": (lambda c, a: strict_reward(c, answer=a), completions, answers),
        "AnswerMatchReward flexible, raw `A: N`": (lambda c, a: flexible_reward(c, answer=a), raw, raw_answers),
    }
    best = dict.fromkeys(scorers, float("inf"))
    for _ in range(args.repeats):
        for name, (scorer, texts, golds) in scorers.items():
            best[name] = min(best[name], best_seconds(scorer, texts, golds, args.batch_size))

    rates = {name: len(scorers[name][1]) / seconds for name, seconds in best.items()}
    for name, rate in rates.items():
        print(f"{name:<40} {rate:>12,.0f} completions/s")
    baseline, strict = rates["authors' approach (split + float)"], rates["AnswerMatchReward strict (RL)"]
    print(f"ratio strict / authors: {strict / baseline:.2f}")
    print(
        f"target >= {TARGET_COMPLETIONS_PER_S:,} completions/s: {'met' if strict >= TARGET_COMPLETIONS_PER_S else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
