"""The flexible GSM8K reward agrees with human correctness labels on 5,276 real model solutions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_reward_agreement.py"
REQUIRED_AGREEMENT = 0.995
SOLUTIONS = 1_319 * 4


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_reward_agreement", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def judgements(bench):
    return bench.judge()


def test_every_labelled_solution_is_judged(judgements):
    assert len(judgements) == SOLUTIONS
    assert sum(judgement.label for judgement in judgements) == 2_001


def test_reward_is_one_exactly_when_labelled_correct(bench, judgements):
    disagreements = [judgement for judgement in judgements if not judgement.agrees]
    assert bench.agreement(judgements) >= REQUIRED_AGREEMENT, disagreements[:20]


def test_wrong_solutions_that_state_a_number_get_the_partial_reward(judgements):
    wrong = [judgement for judgement in judgements if not judgement.label]
    partial = [judgement for judgement in wrong if judgement.reward == 0.1]
    assert len(partial) / len(wrong) > 0.99


def test_gold_answer_reads_the_last_a_line(bench):
    assert bench.gold_answer("2 + 2 = 4\nA: 1,000") == "1,000"
