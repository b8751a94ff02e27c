"""MathQA choices: the number an option value states, checked against the MathQA-numeric gold answers."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest

from reft_trl.answer_format import parse_options
from reft_trl.rewards import choices
from reft_trl.rewards.choices import option_number

BUNDLED = Path(__file__).resolve().parents[2] / "reft_trl" / "data" / "bundled"


def test_doctests_pass():
    results = doctest.testmod(choices)
    assert results.attempted > 0
    assert results.failed == 0


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("38", 38.0),
        ("rs . 1 , 200", 1200.0),
        ("$ 9.99", 9.99),
        ("12 %", 12.0),
        ("999 cm 2", 999.0),
        ("1200 m ^ 2", 1200.0),
        ("5 / 6", 5 / 6),
        ("7 1 / 2", 7.5),
        ("6 2 / 3 days", 6 + 2 / 3),
        ("1 : 2", None),
        ("data inadequate", None),
    ],
)
def test_option_number(value, number):
    assert option_number(value) == (pytest.approx(number) if number is not None else None)


def test_option_values_agree_with_the_mathqa_numeric_gold():
    """Where MathQA-numeric states the same problem, the gold letter's value is its numeric answer."""
    letters = {
        item["item_id"].split("_")[1]: item
        for item in json.loads((BUNDLED / "mathqa" / "reft_test_set.json").read_text())
    }
    numeric = json.loads((BUNDLED / "mathqa" / "reft_numeric_test_set.json").read_text())
    agreeing = checked = 0
    for item in numeric:
        multiple_choice = letters[item["item_id"].split("_")[1]]
        value = parse_options(multiple_choice["question"])[multiple_choice["answer_value"]]
        checked += 1
        number = option_number(value)
        agreeing += number is not None and abs(number - float(item["answer_value"])) <= 1e-2
    # The rest are dataset quirks: `$ 1,354` stored as 1.0, options like `30 , 10` or `78 + ( 4 / 7 ) %`.
    assert agreeing / checked > 0.99
