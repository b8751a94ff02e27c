"""Paired comparison of two models on the same questions: the accuracy difference, a paired bootstrap interval and
the exact McNemar test.

Two models evaluated on the same questions are compared question by question: only the discordant questions (one
right, the other wrong) carry evidence. McNemar's exact test is the two-sided binomial test of the discordant counts
against 1/2; the bootstrap resamples questions (pairs) with replacement. The interval is a Monte Carlo estimate (10,000
resamples, seeded): the same pairs listed in another order can move a bound by about 0.1 point.

>>> result = paired_comparison([1, 1, 0, 0, 1, 0, 1, 1], [1, 1, 1, 0, 1, 1, 1, 1])
>>> result["difference"], result["b_only"], result["a_only"]
(0.25, 2, 0)
>>> round(result["mcnemar_p"], 3)
0.5
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence


def mcnemar_exact_p(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: P(a binomial(n, 1/2) count is as far from n/2 as observed), n = discordant.

    >>> mcnemar_exact_p(16, 47) < 0.001
    True
    >>> mcnemar_exact_p(0, 0)
    1.0
    """
    n, k = a_only + b_only, min(a_only, b_only)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def bootstrap_mean_interval(
    values: Sequence[float], confidence: float = 0.95, num_bootstrap: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """A percentile bootstrap interval of the mean of `values` (one per question), resampling them with replacement
    (seeded).

    >>> bootstrap_mean_interval([1, 1, 1])
    (1.0, 1.0)
    """
    rng, n = random.Random(seed), len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(num_bootstrap))
    alpha = (1 - confidence) / 2
    low = means[max(0, math.floor(alpha * num_bootstrap))]
    high = means[min(num_bootstrap - 1, math.ceil((1 - alpha) * num_bootstrap) - 1)]
    return low, high


def paired_comparison(
    correct_a: Sequence[bool | int],
    correct_b: Sequence[bool | int],
    confidence: float = 0.95,
    num_bootstrap: int = 10_000,
    seed: int = 0,
) -> dict:
    """Compare model B with model A on the same questions (B - A).

    Args:
        correct_a: per-question correctness of model A (the baseline), in question order.
        correct_b: the same questions' correctness of model B.
        confidence: coverage of the bootstrap interval.
        num_bootstrap: bootstrap resamples of the questions.
        seed: seed of the resampling.

    Returns:
        A dict: `n`, `accuracy_a`, `accuracy_b`, `difference` (B - A), `ci_low` / `ci_high` (percentile bootstrap),
        `a_only` / `b_only` (discordant counts), `mcnemar_p` (exact, two-sided).
    """
    if len(correct_a) != len(correct_b):
        raise ValueError(f"The two models were scored on {len(correct_a)} and {len(correct_b)} questions; pair them.")
    if not correct_a:
        raise ValueError("No questions to compare.")
    a = [bool(x) for x in correct_a]
    b = [bool(x) for x in correct_b]
    n = len(a)
    per_question = [int(y) - int(x) for x, y in zip(a, b, strict=True)]  # -1, 0, +1
    low, high = bootstrap_mean_interval(per_question, confidence, num_bootstrap, seed)
    a_only, b_only = per_question.count(-1), per_question.count(1)
    return {
        "n": n,
        "accuracy_a": sum(a) / n,
        "accuracy_b": sum(b) / n,
        "difference": sum(per_question) / n,
        "ci_low": low,
        "ci_high": high,
        "confidence": confidence,
        "a_only": a_only,
        "b_only": b_only,
        "mcnemar_p": mcnemar_exact_p(a_only, b_only),
    }


def format_paired(result: dict, name_a: str = "A", name_b: str = "B") -> str:
    """One line: the difference in points with its interval, the discordant counts and McNemar's p."""
    return (
        f"{name_b} - {name_a}: {100 * result['difference']:+.1f} points "
        f"({100 * result['confidence']:.0f} % CI {100 * result['ci_low']:+.1f} to {100 * result['ci_high']:+.1f}; "
        f"{result['b_only']} questions only {name_b} solves, {result['a_only']} only {name_a}; "
        f"exact McNemar p = {result['mcnemar_p']:.3g}; n = {result['n']})"
    )
