"""Agreement of the flexible GSM8K reward with human correctness labels on real model solutions.

`benchmarks/data/gsm8k_example_model_solutions.jsonl` (openai/grade-school-math, MIT) holds the 1,319 GSM8K test
questions, each with four solutions from GPT-3 models (`6b_finetuning`, `6b_verification`, `175b_finetuning`,
`175b_verification`) labelled `is_correct`. The reward (non-strict, as for evaluating a model that does not use the
ReFT template) agrees with a label when it gives 1.0 exactly on the solutions labelled correct.

    python benchmarks/bench_reward_agreement.py
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from reft_trl.rewards import AnswerMatchReward, extract_answer

DATA_PATH = Path(__file__).parent / "data" / "gsm8k_example_model_solutions.jsonl"
SOLUTION_KEYS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
GOLD_MARKER = "A:"
"""The ground-truth solutions end with a line `A: N`."""


@dataclass(frozen=True)
class Judgement:
    """One labelled solution and what the reward made of it."""

    row: int
    key: str
    extracted: str | None
    gold: str
    label: bool
    reward: float

    @property
    def agrees(self) -> bool:
        return (self.reward == 1.0) == self.label


def gold_answer(ground_truth: str) -> str:
    """The gold number of a ground-truth solution: what follows its last `A:`."""
    return ground_truth.rsplit(GOLD_MARKER, 1)[1].strip()


def judge(path: Path = DATA_PATH) -> list[Judgement]:
    """Score every labelled solution in `path` with the non-strict GSM8K reward."""
    reward = AnswerMatchReward("gsm8k", strict=False)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    judgements = []
    for index, row in enumerate(rows):
        gold = gold_answer(row["ground_truth"])
        solutions = [row[key]["solution"] for key in SOLUTION_KEYS]
        rewards = reward(solutions, answer=[gold] * len(solutions))
        for key, solution, score in zip(SOLUTION_KEYS, solutions, rewards):
            extracted = extract_answer(solution, "gsm8k")
            judgements.append(Judgement(index, key, extracted, gold, row[key]["is_correct"], score))
    return judgements


def agreement(judgements: list[Judgement]) -> float:
    return sum(judgement.agrees for judgement in judgements) / len(judgements)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_PATH)
    args = parser.parse_args()

    judgements = judge(args.data)
    disagreements = [judgement for judgement in judgements if not judgement.agrees]
    labelled_correct = sum(judgement.label for judgement in judgements)
    print(f"solutions: {len(judgements)} ({labelled_correct} labelled correct)")
    print(f"agreement: {agreement(judgements):.4%} ({len(judgements) - len(disagreements)}/{len(judgements)})")
    print(f"disagreements: {len(disagreements)}")
    print(f"{'id':>5}  {'key':<18} {'extracted':>14} {'gold':>10}  label  reward")
    for judgement in disagreements:
        print(
            f"{judgement.row:>5}  {judgement.key:<18} {judgement.extracted!s:>14} {judgement.gold:>10}  "
            f"{judgement.label!s:<5}  {judgement.reward}"
        )


if __name__ == "__main__":
    main()
