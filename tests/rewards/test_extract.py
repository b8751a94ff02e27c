"""Final-answer extraction: the strict template trigger, flexible formats, number forms, MathQA letters, P-CoT.

`choices` and `pcot` have their own tests (`test_choices.py`, `test_pcot.py`)."""

from __future__ import annotations

import doctest
import json
import re
from pathlib import Path

import pytest

from reft_trl.rewards import (
    AnswerMatchReward,
    answers_match,
    extract,
    extract_answer,
    ncot,
    number_text,
    parse_number,
)

BUNDLED = Path(__file__).resolve().parents[2] / "reft_trl" / "data" / "bundled"
MATHQA_OPTIONS = {"a": "38", "b": "27.675", "c": "rs . 1 , 200", "d": "data inadequate", "e": "none of these"}


@pytest.mark.parametrize("module", [extract, ncot, number_text])
def test_doctests_pass(module):
    results = doctest.testmod(module)
    assert results.attempted > 0
    assert results.failed == 0


# Strict: the template's trigger only.


def test_strict_reads_the_last_trigger():
    text = "Therefore, the answer is: 5\nWait, recount.\nTherefore, the answer is: 7"
    assert extract_answer(text, "gsm8k", strict=True) == "7"


@pytest.mark.parametrize(
    "text",
    [
        "#### 18",
        "The answer is 18",
        "\\boxed{18}",
        "A: 18",
        "she has 18 eggs",
        "Therefore, the answer is <18>.",
        "Therefore, the answer is:",
        "Therefore, the answer is: none",
    ],
)
def test_strict_ignores_every_other_format(text):
    assert extract_answer(text, "gsm8k", strict=True) is None


def test_strict_reads_only_the_line_of_the_trigger():
    assert extract_answer("Therefore, the answer is: 12 apples\nThen 13 more.", "gsm8k", strict=True) == "12"


def test_strict_matches_every_svamp_reft_target():
    """The SVAMP N-CoT targets in the template give back their gold answer."""
    items = json.loads((BUNDLED / "svamp" / "reft_train_ncot.json").read_text())
    for item in items:
        target = f"{item['answer_cot'].strip()}\nTherefore, the answer is: {item['answer_value']}"
        extracted = extract_answer(target, "svamp", strict=True)
        assert answers_match(extracted, item["answer_value"], "svamp"), (item["item_id"], extracted)


# Flexible formats.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("So 3 + 4 = 7.\nTherefore, the answer is: 7", "7"),
        ("Natalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72", "72"),
        ("So the answer is 18.", "18"),
        ("The final answer is 18", "18"),
        ("the answer is: 18", "18"),
        ("Therefore, the answer is <203>.", "203"),
        ("Answer: 18", "18"),
        ("Final answer:\n18", "18"),
        ("She pays 9 * 2 = 18 dollars.\nA: 18", "18"),
        ("We get $\\boxed{18}$.", "18"),
        ("Thus \\boxed{\\frac{3}{4}} of the cake.", "\\frac{3}{4}"),
        ("Thus \\boxed{18 \\text{ dollars}}", "18"),
        ("Thus \\boxed{\\$1{,}080}", "1080"),
        ("She has 5 apples, then buys 13 more, so 18 in all.", "18"),
    ],
)
def test_flexible_formats(text, expected):
    assert extract_answer(text, "gsm8k") == expected


def test_flexible_prefers_specific_formats_over_the_last_number():
    assert extract_answer("#### 72\nThat took 5 minutes.", "gsm8k") == "72"
    assert extract_answer("The answer is 18. I used 3 steps.", "gsm8k") == "18"
    assert extract_answer("A: 18\nChecked in 2 ways.", "gsm8k") == "18"


def test_flexible_falls_through_a_marker_without_a_number():
    assert extract_answer("The answer is below.\nIt is 42", "gsm8k") == "42"


def test_a_colon_only_counts_at_the_start_of_a_line():
    assert extract_answer("Her GPA: 3 after 4 terms", "gsm8k") == "4"


def test_nothing_to_extract():
    assert extract_answer("I do not know.", "gsm8k") is None
    assert extract_answer("", "gsm8k") is None


def test_flexible_reads_svamp_reft_cots_as_written():
    """The SVAMP training CoTs end `Therefore, the answer is <N>.`; the flexible reader finds that N."""
    items = json.loads((BUNDLED / "svamp" / "reft_train_ncot.json").read_text())
    for item in items:
        stated = re.findall(r"<([^<>]*)>\.?\s*$", item["answer_cot"])[0]
        assert answers_match(extract_answer(item["answer_cot"], "svamp"), stated, "svamp"), item["item_id"]


# Number forms after a marker.


@pytest.mark.parametrize(
    ("answer_text", "expected"),
    [
        ("1,000", "1000"),
        ("1,234,567.89", "1234567.89"),
        ("$18", "18"),
        ("$18.00", "18.00"),
        ("18 dollars", "18"),
        ("18.0", "18.0"),
        ("18.", "18"),
        ("50%", "50"),
        ("3/4", "3/4"),
        ("3 / 4 of the pie", "3/4"),
        ("1.5e3", "1.5e3"),
        ("-7", "-7"),
        ("-$7", "-7"),
        ("\u22127", "-7"),
        ("<203>", "203"),
        ("<69.32%>.", "69.32"),
        ("5 + 3 = 8", "8"),
        ("x = 12", "12"),
        ("1, 2 or 3", "1"),
    ],
)
def test_number_forms(answer_text, expected):
    assert extract_answer(f"Therefore, the answer is: {answer_text}", "gsm8k", strict=True) == expected
    assert parse_number(expected) is not None


@pytest.mark.parametrize(
    "text",
    [
        "Therefore, the answer is: 1_000",
        "Therefore, the answer is: x = 1_000",
        "Therefore, the answer is: 12_5 apples",
    ],
)
def test_digits_grouped_by_underscores_are_refused_not_read_as_their_first_group(text):
    """The comparer never reads `_` as a digit separator (`parse_number("1_000")` is None), so `1_000` is no number:
    reading it as `1` gave the partial reward for a wrong number, or full marks when the gold answer was 1."""
    assert extract_answer(text, "gsm8k", strict=True) is None
    assert extract_answer(text, "gsm8k") is None  # nor the last group, `000`, in the flexible fallback
    reward = AnswerMatchReward("gsm8k")
    assert reward([text, text], answer=["1000", text.split(": ")[-1].split("_")[0].split()[-1]]) == [0.0, 0.0]


def test_an_underscore_elsewhere_leaves_the_number_alone():
    assert extract_answer("Therefore, the answer is: 1000 (not x_1)", "gsm8k", strict=True) == "1000"
    assert extract_answer("With rate_1 = 3 the total is 12", "gsm8k") == "12"


def test_a_subtraction_is_not_a_negative_number():
    assert extract_answer("We have 10-3 apples", "gsm8k") == "3"
    assert extract_answer("The change is -3", "gsm8k") == "-3"


def test_an_expression_after_the_trigger_is_kept_whole_for_symbolic_comparison():
    extracted = extract_answer("Therefore, the answer is: 10+John's age", "gsm8k", strict=True)
    assert extracted == "10+John's age"
    assert extract_answer("Therefore, the answer is: 20 + 4", "gsm8k", strict=True) == "20 + 4"


def test_latex_after_the_trigger_is_kept_for_symbolic_comparison():
    extracted = extract_answer("Therefore, the answer is: $\\frac{3}{4}$.", "mathqa_numeric", strict=True)
    assert extracted == "\\frac{3}{4}"
    assert answers_match(extracted, "0.75", "mathqa_numeric")


# MathQA multiple choice.


@pytest.mark.parametrize(
    ("answer_text", "expected"),
    [
        ("c", "c"),
        ("C", "c"),
        ("(c)", "c"),
        ("(C) 30", "c"),
        ("c )", "c"),
        ("c ) 30", "c"),
        ("c)", "c"),
        ("C.", "c"),
        ("C. rs . 1 , 200", "c"),
        ("'e'", "e"),
        ("option d", "d"),
    ],
)
def test_multiple_choice_letter_forms(answer_text, expected):
    assert extract_answer(f"Therefore, the answer is: {answer_text}", "mathqa", strict=True) == expected


@pytest.mark.parametrize(
    ("answer_text", "expected"),
    [
        ("38", "a"),
        ("27.675", "b"),
        ("27.68", "b"),
        ("1200", "c"),
        ("rs . 1 , 200", "c"),
        ("Data inadequate.", "d"),
        ("none of these", "e"),
        ("39", None),
        ("a lot", None),
    ],
)
def test_multiple_choice_values_map_to_their_letter(answer_text, expected):
    text = f"Therefore, the answer is: {answer_text}"
    assert extract_answer(text, "mathqa", strict=True, options=MATHQA_OPTIONS) == expected


def test_multiple_choice_value_without_options_is_unextractable():
    assert extract_answer("Therefore, the answer is: 38", "mathqa", strict=True) is None


def test_a_word_starting_with_a_letter_is_not_a_letter():
    assert extract_answer("Therefore, the answer is: a total of 5", "mathqa", strict=True) is None


def test_multiple_choice_flexible_fallbacks():
    assert extract_answer("The answer is (b).", "mathqa") == "b"
    assert extract_answer("Comparing options, (a) is too big, so pick (d)", "mathqa") == "d"
    assert extract_answer("The price is 38 rupees in the end", "mathqa", options=MATHQA_OPTIONS) == "a"


# P-CoT.


def test_pcot_extraction_runs_the_program_in_the_sandbox():
    items = json.loads((BUNDLED / "svamp" / "reft_train_pcot.json").read_text())[:3]
    for item in items:
        extracted = extract_answer(item["answer_cot"], "svamp", cot="pcot")
        assert answers_match(extracted, item["answer_value"], "svamp"), item["item_id"]
    assert extract_answer("def solution():\n    return 1 / 0", "svamp", cot="pcot") is None


def test_unknown_cot_is_rejected():
    with pytest.raises(ValueError, match="ncot, pcot"):
        extract_answer("1", "gsm8k", cot="tot")
