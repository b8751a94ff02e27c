"""Which test questions ReFT's seeds flip against the warm-up, and whether continued SFT flips the same ones.

Run from the repository root: python benchmarks/results/learning_svamp_pcot_run9_seeds/flip_overlap.py
(reads the saved greedy predictions of run 9's warm-up, ReFT seeds 42-44 and the seed-42 continued-SFT control).
"""

import itertools
import sys
from collections import Counter

sys.path.insert(0, "benchmarks")
from compare_learning_runs import read_scores  # noqa: E402

RESULTS = "benchmarks/results/"
WARM_UP = "learning_svamp_pcot_ppo_run9/eval/warm-up"
REFT = [
    "learning_svamp_pcot_ppo_run9/eval/ppo",
    "learning_svamp_pcot_ppo_run9_seed43/eval/ppo",
    "learning_svamp_pcot_run9_seeds/ppo_seed44/eval/ppo",
]
SFT = "learning_svamp_pcot_sft_run9/eval/sft"


def correct(folder: str) -> dict[str, bool]:
    return {item: score == 1.0 for item, score in read_scores(RESULTS + folder + "/test").items()}


warm_up, reft, sft = correct(WARM_UP), [correct(f) for f in REFT], correct(SFT)
for was_right in (False, True):
    questions = [q for q in warm_up if warm_up[q] == was_right]
    observed = Counter(sum(r[q] for r in reft) for q in questions)
    rates = [sum(r[q] for q in questions) / len(questions) for r in reft]
    expected = Counter()  # if each seed solved these questions independently, at its own rate
    for solved in itertools.product((0, 1), repeat=len(reft)):
        p = 1.0
        for s, rate in zip(solved, rates):
            p *= rate if s else 1 - rate
        expected[sum(solved)] += p * len(questions)
    label = "right" if was_right else "wrong"
    print(f"warm-up {label} ({len(questions)} questions): ReFT seeds solving k of {len(reft)}")
    for k in range(len(reft) + 1):
        print(f"  k={k}: {observed[k]:4d} observed, {expected[k]:6.1f} if the seeds were independent")
    unanimous = [q for q in questions if all(r[q] != was_right for r in reft)]
    sft_same = sum(sft[q] != was_right for q in unanimous)
    sft_rate = sum(sft[q] != was_right for q in questions) / len(questions)
    print(
        f"  flipped by all ReFT seeds: {len(unanimous)}; continued SFT flips {sft_same} of them "
        f"(it flips {100 * sft_rate:.1f} % of all {len(questions)})"
    )
