"""Answer comparison: the plain-number fast path, math-verify for the rest, multiple-choice letters, threads."""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from reft_trl.rewards import AnswerMatchReward, compare
from reft_trl.rewards.compare import answers_match, canonical_task, normalize_choice, parse_number


def test_doctests_pass():
    results = doctest.testmod(compare)
    assert results.attempted > 0
    assert results.failed == 0


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("18", 18.0),
        ("18.0", 18.0),
        ("18.", 18.0),
        (" 18 ", 18.0),
        ("-7", -7.0),
        ("+7", 7.0),
        ("\u22127", -7.0),
        ("1,000", 1000.0),
        ("1,234,567.5", 1234567.5),
        ("$18.00", 18.0),
        ("$1,080", 1080.0),
        ("50%", 50.0),
        ("<203>", 203.0),
        ("<203>.", 203.0),
        (".5", 0.5),
        ("3/4", 0.75),
        ("-3 / 4", -0.75),
        ("1.5e3", 1500.0),
        ("2E-2", 0.02),
    ],
)
def test_parse_number_reads_plain_numbers(text, value):
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text",
    [None, "", ".", "abc", "18 dollars", "3 4", "1,00", "1/0", "nan", "inf", "2+3", "\\frac{3}{4}", "x = 5", "10,5"],
)
def test_parse_number_rejects_what_is_not_a_plain_number(text):
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        ("18", "18", True),
        ("18.0", "18", True),
        ("203", "203.0", True),
        ("1,000", "1000", True),
        ("1000", "1,000", True),
        ("18.009", "18", True),
        ("18.02", "18", False),
        ("17.99", "18", True),
        ("-5", "5", False),
        ("0.333", "0.3333333333333333", True),
        ("1/3", "0.3333333333333333", True),
        ("2.5e1", "25", True),
        ("$18.00", "18", True),
    ],
)
def test_numeric_answers_match_within_the_papers_tolerance(predicted, gold, expected):
    assert answers_match(predicted, gold, "gsm8k") is expected


def test_tolerance_is_configurable():
    assert answers_match("18.4", "18", "svamp", tolerance=0.5)
    assert not answers_match("18.001", "18", "svamp", tolerance=1e-6)


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        ("\\frac{3}{4}", "0.75", True),
        ("\\dfrac{10}{4}", "2.5", True),
        ("\\frac{1}{3}", "0.33", True),
        ("\\frac{1}{2}", "0.75", False),
        ("\\sqrt{2}", "1.414", True),
        ("\\sqrt{2}", "2", False),
        ("20 + 4", "24", True),
        ("20 + 5", "24", False),
        ("10+John's age", "50", False),
        ("5\\pi", "15.708", True),
    ],
)
def test_answers_that_are_not_plain_numbers_go_through_math_verify(predicted, gold, expected):
    assert answers_match(predicted, gold, "mathqa_numeric") is expected


def test_runaway_text_is_not_sent_to_math_verify():
    started = time.perf_counter()
    assert not answers_match("1 + " * 500 + "1", "501", "gsm8k")
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [("c", "c", True), ("C", "c", True), ("(c)", "c", True), ("c.", "c", True), ("'c'", "c", True), ("b", "c", False)],
)
def test_multiple_choice_compares_letters(predicted, gold, expected):
    assert answers_match(predicted, gold, "mathqa") is expected


def test_nothing_extracted_never_matches():
    assert not answers_match(None, "18", "gsm8k")
    assert not answers_match(None, "a", "mathqa")
    assert not answers_match("", "18", "gsm8k")


def test_task_names_are_canonical_and_checked():
    assert canonical_task("mathqa-numeric") == "mathqa_numeric"
    assert canonical_task(" GSM8K ") == "gsm8k"
    with pytest.raises(ValueError, match="gsm8k, mathqa, mathqa_numeric, svamp"):
        answers_match("1", "1", "aqua")


def test_normalize_choice():
    assert normalize_choice(' "(D)". ') == "d"


def _latex_cases():
    return [("\\frac{3}{4}", "0.75", True), ("\\sqrt{2}", "1.414", True), ("\\frac{1}{2}", "0.75", False)] * 4


def test_math_verify_path_is_safe_off_the_main_thread():
    """math-verify's timeout uses signal.alarm, which only the main thread may set; in a thread it must still work."""
    cases = _latex_cases()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda case: answers_match(case[0], case[1], "gsm8k"), cases))
    assert results == [expected for _, _, expected in cases]


EXPLODING = [
    "9^9^9^9",
    "2^{3^{4^{5}}}",
    "(9^9)^(9^9)",
    "10**10**10",
    "2^{99999999}",
    "100000!",
    "(10^7)!",
    "(" * 40 + "1" + ")" * 40,
]


def test_an_exploding_answer_scores_zero_at_once_in_a_fresh_process():
    """Before the bound, `evalf` on 9^9^9^9 ran for minutes in the caller; run it where a hang cannot stall pytest."""
    code = (
        "import time\n"
        "from reft_trl.rewards import AnswerMatchReward\n"
        "started = time.perf_counter()\n"
        "rewards = AnswerMatchReward('gsm8k')(['So it is\\nTherefore, the answer is: 9^9^9^9'], answer=['7'])\n"
        "print(rewards, time.perf_counter() - started)\n"
    )
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    rewards, seconds = finished.stdout.rsplit("]", 1)
    assert (rewards + "]", finished.returncode) == ("[0.0]", 0)
    assert float(seconds) < 1.0


@pytest.mark.parametrize("answer", EXPLODING)
def test_obviously_exploding_answers_are_refused_before_sympy(answer, monkeypatch):
    def no_worker():
        raise AssertionError(f"{answer!r} reached the symbolic worker")

    monkeypatch.setattr(compare, "default_comparer", no_worker)
    assert compare.looks_explosive(answer)
    assert not answers_match(answer, "7", "gsm8k")


def test_a_hanging_comparison_is_killed_and_its_worker_replaced():
    """What the cheap refusal lets through is bounded by killing the worker: sent straight to it, 9^9^9^9 hangs."""
    comparer = compare.SymbolicComparer(timeout_s=1.0)
    try:
        assert comparer.match("\\frac{3}{4}", "0.75", 1e-2)  # started and warm
        started = time.perf_counter()
        assert not comparer.match("9^9^9^9", "7", 1e-2)
        assert time.perf_counter() - started < 5.0
        assert comparer.match("\\sqrt{2}", "1.414", 1e-2)  # a new worker answers the next comparison
    finally:
        comparer.close()


def test_symbolic_comparisons_run_outside_the_calling_process():
    """The caller never imports sympy's evaluation path for a comparison: a fresh worker process does."""
    comparer = compare.SymbolicComparer()
    try:
        assert comparer.match("20 + 4", "24", 1e-2)
        assert comparer._process.pid != os.getpid() and comparer._process.poll() is None
    finally:
        comparer.close()


def test_a_worker_started_from_a_short_lived_thread_outlives_it():
    """The worker dies with the thread that started it; a launcher thread that lives as long as the process starts it,
    so a caller's pool thread ending does not cost a restart (or a comparison)."""
    comparer = compare.SymbolicComparer()
    try:
        thread = threading.Thread(target=comparer.match, args=("20 + 4", "24", 1e-2))
        thread.start()
        thread.join()
        worker_pid = comparer._process.pid
        time.sleep(0.5)
        assert comparer._process.poll() is None
        assert comparer.match("\\frac{3}{4}", "0.75", 1e-2) and comparer._process.pid == worker_pid
    finally:
        comparer.close()


def test_long_numbers_are_parsed_in_linear_time():
    """`\\d+\\.?\\d*` backtracked quadratically: 16k digits and an operator took 8.8 s, 100k would take minutes."""
    started = time.perf_counter()
    assert parse_number("1" * 100_000 + "+") is None
    assert parse_number("0" * 100_000 + "1") == 1.0
    assert not answers_match("1" * 100_000 + "+", "1", "gsm8k")
    assert time.perf_counter() - started < 0.5


def test_long_completions_are_scored_in_linear_time():
    reward = AnswerMatchReward("gsm8k")
    completions = [f"Therefore, the answer is: {'0' * 100_000}1{tail}" for tail in ("+", "*2", "", ".5", "/")]
    started = time.perf_counter()
    rewards = reward(completions, answer=["1"] * len(completions))
    assert time.perf_counter() - started < 1.0
    assert rewards == [0.0, 0.0, 1.0, 0.1, 0.0]


def test_values_that_are_not_finite_never_match():
    """1e999 overflows to inf; it used to match the gold "1_000", which math-verify reads as 1."""
    cases = [("1e999", "1_000"), ("1e999", "1e999"), ("1e999", "1000"), ("-1e999", "-1e999"), ("inf", "1000")]
    assert [answers_match(predicted, gold, "gsm8k") for predicted, gold in cases] == [False] * len(cases)
    assert parse_number("1e999") is None


def test_underscores_are_not_digit_separators():
    cases = [("1000", "1_000"), ("1_000", "1000"), ("1_000", "1_000"), ("2_5", "25")]
    assert [answers_match(predicted, gold, "gsm8k") for predicted, gold in cases] == [False] * len(cases)
    assert parse_number("1_000") is None


def test_an_overflowing_answer_earns_nothing():
    """1e999 used to score 1.0 against the gold "1_000" and 0.1 against "1000"; it is not a well-formed number."""
    reward = AnswerMatchReward("gsm8k")
    answers = ["Therefore, the answer is: 1e999", "Therefore, the answer is: -1e999", "Therefore, the answer is: 1000"]
    assert reward(answers, answer=["1000"] * 3) == [0.0, 0.0, 1.0]
    assert reward(answers[:1], answer=["1_000"]) == [0.0]
