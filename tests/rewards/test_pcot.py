"""P-CoT programs: the program a completion holds, and the answer a sandbox run stands for."""

from __future__ import annotations

import doctest
from dataclasses import dataclass

import pytest

from reft_trl.rewards import extract_answer, pcot
from reft_trl.rewards.pcot import program_answer, program_source

MATHQA_OPTIONS = {"a": "38", "b": "27.675", "c": "rs . 1 , 200", "d": "data inadequate", "e": "none of these"}


def test_doctests_pass():
    results = doctest.testmod(pcot)
    assert results.attempted > 0
    assert results.failed == 0


@dataclass(frozen=True)
class _Result:
    ok: bool
    value: object
    error: str | None = None


@pytest.mark.parametrize(
    ("result", "task", "expected"),
    [
        (_Result(True, 203.0), "svamp", "203.0"),
        (_Result(True, 18), "gsm8k", "18"),
        (_Result(True, " 18 "), "gsm8k", "18"),
        (_Result(True, "[18, 19]"), "gsm8k", "[18, 19]"),
        (_Result(True, ""), "gsm8k", None),
        (_Result(True, None), "gsm8k", None),
        (_Result(False, None, "timeout"), "gsm8k", None),
        (_Result(True, "c"), "mathqa", "c"),
        (_Result(True, "(B)"), "mathqa", "b"),
        (_Result(True, 38.0), "mathqa", "a"),
        (_Result(True, 39.0), "mathqa", None),
    ],
)
def test_program_answer(result, task, expected):
    assert program_answer(result, task, MATHQA_OPTIONS) == expected


def test_program_source_keeps_the_program_and_drops_prose():
    program = "import math\n\ndef solution():\n    x = math.sqrt(16)\n\n    return x"
    assert program_source(f"Here is my program:\n{program}\nIt returns 4.") == program
    assert program_source(f"```python\n{program}\n```\nThat is all.") == f"{program}\n"
    assert program_source("no code here") == "no code here"


def test_program_source_keeps_a_docstring_that_spans_lines():
    """A MathQA P-CoT program's docstring is the question, whose options stand on a line of their own."""
    program = 'def solution():\n    """how much ?\na ) 38 , b ) 30\n"""\n    return "b"'
    assert program_source(f"{program}\nThe answer is b.") == program
    assert extract_answer(program, "mathqa", cot="pcot") == "b"
    quoted = "def solution():\n    '''how much ?\na ) 38'''\n    x = '''one\nline'''\n    return x\nDone."
    assert program_source(quoted) == quoted.removesuffix("\nDone.")
