"""Is a predicted answer equal to the gold one? Plain numbers take a fast float path; the rest goes to math-verify.

The ReFT paper's code parses both sides with `float` and accepts an absolute difference of at most 1e-2 on
GSM8K, SVAMP and MathQA-numeric, and compares option letters as strings on MathQA multiple choice. This module
keeps that rule for plain numbers (with commas, `$`, `%` and simple fractions allowed) and hands anything else
(LaTeX, `\\sqrt{2}`, expressions) to math-verify, made safe to call from worker threads.
"""

from __future__ import annotations

import logging
import re
import threading

from reft_trl.answer_format import MULTIPLE_CHOICE_TASKS, TASKS

DEFAULT_TOLERANCE = 1e-2
"""Absolute tolerance of the paper's code (`abs(extracted - target) <= 1e-2`) on every numeric task."""

ROUNDING_SLACK = 1e-9
"""Added to the tolerance so that a difference of exactly the tolerance (18 - 17.99) counts despite binary rounding."""

MATH_VERIFY_PARSING_TIMEOUT_S = 5
MATH_VERIFY_TIMEOUT_S = 5
MAX_MATH_VERIFY_CHARS = 200
"""Longer strings are not answers but runaway text; sending them to sympy would only cost time."""

_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_SIMPLE_FRACTION = re.compile(r"([-+]?\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NUMBER_DECORATION = str.maketrans({"$": None, "%": None, "<": None, ">": None, "\u2212": "-"})
_LETTER_DECORATION = str.maketrans({'"': None, "'": None, "(": None, ")": None, ".": None, " ": None})


def canonical_task(task: str) -> str:
    """The task name used as a key here: lower case, `mathqa-numeric` (the ReFT item-id spelling) as `mathqa_numeric`.

    >>> canonical_task("MathQA-numeric")
    'mathqa_numeric'
    """
    name = task.strip().lower().replace("-", "_")
    if name not in TASKS:
        raise ValueError(f"Unknown task {task!r}; valid tasks: {', '.join(sorted(TASKS))}.")
    return name


def parse_number(text: str | None) -> float | None:
    """The value of a plain number written as a model or a dataset writes it, or None if `text` is anything else.

    Accepts a sign, thousands commas, `$`, `%`, `<...>` brackets, a trailing period, scientific notation and a
    simple fraction `a/b`. Words, units and expressions are not plain numbers: those return None.

    >>> parse_number("1,000")
    1000.0
    >>> parse_number("$18.00")
    18.0
    >>> parse_number("3/4")
    0.75
    >>> parse_number("-2.5e3")
    -2500.0
    >>> parse_number("<203>.")
    203.0
    >>> parse_number("18 dollars") is None
    True
    """
    if text is None:
        return None
    cleaned = text.translate(_NUMBER_DECORATION).strip().rstrip(".").strip()
    if "," in cleaned:
        cleaned = _THOUSANDS_COMMA.sub("", cleaned)
    if _PLAIN_NUMBER.fullmatch(cleaned):
        return float(cleaned)
    fraction = _SIMPLE_FRACTION.fullmatch(cleaned)
    if fraction:
        denominator = float(fraction.group(2))
        return float(fraction.group(1)) / denominator if denominator else None
    return None


def normalize_choice(text: str) -> str:
    """An option letter as the paper's code compares it: lower case, without quotes, brackets, periods or spaces.

    >>> normalize_choice(" (C). ")
    'c'
    """
    return text.translate(_LETTER_DECORATION).lower()


def answers_match(predicted: str | None, gold: str, task: str, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    """Whether `predicted` is the gold answer of `task` (gsm8k, svamp, mathqa, mathqa_numeric).

    Multiple choice compares letters. Numeric tasks compare plain numbers with an absolute `tolerance`, and fall
    back to math-verify (symbolic equality, or the same tolerance when both sides evaluate to numbers) when either
    side is not a plain number.

    >>> answers_match("1,000", "1000.0", "gsm8k")
    True
    >>> answers_match("18.004", "18", "svamp")
    True
    >>> answers_match("18.5", "18", "gsm8k")
    False
    >>> answers_match("(C)", "c", "mathqa")
    True
    >>> answers_match(None, "18", "gsm8k")
    False
    """
    if predicted is None:
        return False
    task = canonical_task(task)
    if task in MULTIPLE_CHOICE_TASKS:
        return normalize_choice(predicted) == normalize_choice(gold)
    predicted_value, gold_value = parse_number(predicted), parse_number(gold)
    if predicted_value is not None and gold_value is not None:
        return abs(predicted_value - gold_value) <= tolerance + ROUNDING_SLACK
    return _math_verify_match(predicted, gold, tolerance)


def _math_verify_match(predicted: str, gold: str, tolerance: float) -> bool:
    """Symbolic comparison for answers that are not plain numbers (LaTeX, radicals, expressions)."""
    if not predicted.strip() or len(predicted) > MAX_MATH_VERIFY_CHARS or len(gold) > MAX_MATH_VERIFY_CHARS:
        return False
    from math_verify import parse, verify

    parsing_timeout, verify_timeout = _math_verify_timeouts()
    gold_parsed = parse(_as_latex(gold), parsing_timeout=parsing_timeout)
    predicted_parsed = parse(_as_latex(predicted), parsing_timeout=parsing_timeout)
    if not gold_parsed or not predicted_parsed:
        return False
    gold_value, predicted_value = _numeric_value(gold_parsed[0]), _numeric_value(predicted_parsed[0])
    if gold_value is not None and predicted_value is not None:
        return abs(predicted_value - gold_value) <= tolerance + ROUNDING_SLACK
    return bool(verify(gold_parsed, predicted_parsed, timeout_seconds=verify_timeout))


def _math_verify_timeouts() -> tuple[int | None, int | None]:
    """math-verify times out through `signal.alarm`, which only the main thread may set: elsewhere, run without.

    Off the main thread the inputs are bounded by `MAX_MATH_VERIFY_CHARS` instead, and math-verify's warning
    about the disabled timeout is silenced (it is deliberate here).
    """
    if threading.current_thread() is threading.main_thread():
        return MATH_VERIFY_PARSING_TIMEOUT_S, MATH_VERIFY_TIMEOUT_S
    logging.getLogger("math_verify.parser").setLevel(logging.ERROR)
    logging.getLogger("math_verify.grader").setLevel(logging.ERROR)
    return None, None


def _as_latex(text: str) -> str:
    """math-verify reads LaTeX such as `\\sqrt{2}` or `5\\pi` correctly only between `$` delimiters."""
    text = text.strip()
    return f"${text}$" if "\\" in text and "$" not in text else text


def _numeric_value(expression) -> float | None:
    """The float value of a parsed sympy expression that is a number (`3/4`, `sqrt(2)`), else None."""
    if not getattr(expression, "is_number", False):
        return None
    try:
        value = complex(expression.evalf())
    except (TypeError, ValueError):
        return None
    return value.real if value.imag == 0 else None
