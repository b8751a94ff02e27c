"""Metrics on constructed answers with known results: majority voting (ties, unextractable answers, numeric
equivalence), pass@k against hand values and brute-force enumeration, and the modules' doctests."""

from __future__ import annotations

import doctest
import itertools
from math import comb

import pytest

import reft_trl.evaluation
from reft_trl.evaluation import evaluator, metrics, report
from reft_trl.evaluation.metrics import (
    accuracy,
    greedy_accuracy,
    majority_vote,
    mean_pass_at_k,
    pass_at_k,
    voting_accuracy,
)


@pytest.mark.parametrize("module", [reft_trl.evaluation, metrics, report, evaluator])
def test_doctests_pass(module):
    results = doctest.testmod(module)
    assert results.attempted > 0
    assert results.failed == 0


# Majority voting


def test_numerically_equal_answers_vote_together():
    # "18", "18.0" and "18.00" are one answer of three votes; "7" has two.
    assert majority_vote(["7", "18", "18.0", "7", "18.00"], task="gsm8k") == "18"


def test_equivalence_within_the_tasks_tolerance():
    # 18.004 is 18 within the paper's 1e-2 tolerance; 17.5 is not.
    assert majority_vote(["17.5", "17.5", "18", "18.004", "18.00"], task="svamp") == "18"
    assert majority_vote(["17.5", "17.5", "18", "18.5", "18.00"], task="svamp") == "17.5"


def test_without_a_task_answers_are_compared_as_strings():
    assert majority_vote(["18", "18.0", "7", "7"]) == "7"


def test_unextractable_answers_do_not_vote():
    assert majority_vote([None, None, None, "5"], task="gsm8k") == "5"
    assert majority_vote([None, None], task="gsm8k") is None
    assert majority_vote([], task="gsm8k") is None


@pytest.mark.parametrize(
    ("answers", "winner"),
    [
        (["3", "5", "5", "3"], "3"),  # 2 - 2: the first seen wins
        (["5", "3", "3", "5"], "5"),
        ([None, "5.0", "3", "5", "3"], "5.0"),  # a group is named by its first answer
        (["4", "2", "9"], "4"),  # all singletons
    ],
)
def test_ties_go_to_the_answer_seen_first(answers, winner):
    assert majority_vote(answers, task="gsm8k") == winner


def test_multiple_choice_letters_vote_by_normalized_letter():
    assert majority_vote(["b", "(C)", "c", "C", "b"], task="mathqa") == "(C)"


def test_voting_accuracy_on_known_questions():
    answers = [
        ["18", "18.0", "7"],  # majority 18 = gold
        ["5", None, None, "6", "6"],  # majority 6 = gold
        [None, None],  # no answer: wrong
        ["1", "2", "2"],  # majority 2, gold 1: wrong
    ]
    assert voting_accuracy(answers, ["18", "6.0", "3", "1"], "gsm8k") == 0.5


def test_greedy_accuracy_reads_the_first_sample_only():
    assert greedy_accuracy([[True, False], [False, True], [True], []]) == 0.5
    assert accuracy([]) == 0.0


# pass@k


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (1, 1, 1, 1.0),
        (1, 0, 1, 0.0),
        (5, 2, 1, 2 / 5),  # pass@1 is the share of correct samples
        (4, 1, 2, 1 - 3 / 6),  # 1 - C(3, 2) / C(4, 2)
        (5, 2, 2, 1 - 3 / 10),  # 1 - C(3, 2) / C(5, 2)
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7, 5) / C(10, 5)
        (6, 4, 3, 1.0),  # fewer than k wrong samples: some correct one is always drawn
        (100, 0, 10, 0.0),
    ],
)
def test_pass_at_k_hand_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("n", [1, 2, 5, 7])
def test_pass_at_k_equals_brute_force_enumeration(n):
    for c in range(n + 1):
        flags = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(flags, k))
            share_with_a_correct_one = sum(any(subset) for subset in subsets) / len(subsets)
            assert len(subsets) == comb(n, k)
            assert pass_at_k(n, c, k) == pytest.approx(share_with_a_correct_one, abs=1e-12), (n, c, k)


def test_pass_at_k_is_stable_for_many_samples():
    # The closed form 1 - C(n - c, k) / C(n, k) with n = 1000 overflows floats if computed naively.
    assert pass_at_k(1000, 1, 1) == pytest.approx(1e-3)
    assert 0.0 < pass_at_k(1000, 3, 100) < 1.0


@pytest.mark.parametrize(("n", "c", "k"), [(4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_mean_pass_at_k_averages_questions():
    flags = [[True, False, False, False], [False] * 4, [True] * 4]
    assert mean_pass_at_k(flags, k=2) == pytest.approx((0.5 + 0.0 + 1.0) / 3)
