"""MathQA multiple choice: the option letter an answer names, written as a letter (`(c)`, `c )`, `C.`, `c`) or as
the option's value (mapped back to its letter through the options parsed from the question)."""

from __future__ import annotations

import re

from .compare import normalize_choice, parse_number
from .number_text import NUMBER, clean_number, last_number, number_in

OPTION_VALUE_TOLERANCE = 1e-2
"""An answer written as a value picks the closest option within the numeric tasks' absolute tolerance."""

_LETTER_FORMS = re.compile(
    r"^(?:option\s*|choice\s*)?(?:"
    r"\(([a-e])\)"  # (c)
    r"|([a-e])\s?\)"  # c )
    r"|([a-e])[.:](?:\s|$)"  # C. 30 / c:
    r"|([a-e])$"  # c
    r")",
    re.IGNORECASE,
)
_BRACKETED_LETTER = re.compile(r"\(([a-eA-E])\)")
_SPACED_THOUSANDS = re.compile(r"(?<=\d) , (?=\d{3}(?!\d))")
_UNIT_EXPONENT = re.compile(r"(?<=[a-z]) (?:\^ )?[23](?![\d.])")
_MIXED_NUMBER = re.compile(r"(?<![\d.])(\d+) (\d+) ?/ ?(\d+)(?![\d.])")


def choice_in(segment: str, options: dict[str, str] | None) -> str | None:
    """An option letter from `(c)`, `c )`, `C.`, `c`, or from the option's value.

    >>> choice_in("(C)", None), choice_in("30", {"a": "38", "b": "30"}), choice_in("30", None) is None
    ('c', 'b', True)
    """
    segment = segment.strip().strip("'\"*").strip()
    letter = _LETTER_FORMS.match(segment)
    if letter is not None:
        return next(group for group in letter.groups() if group).lower()
    if not options:
        return None
    return _option_by_value(segment, options)


def last_choice(text: str, options: dict[str, str] | None) -> str | None:
    """Flexible fallback on multiple choice: the last `(c)` in the text, else the last number naming an option."""
    letters = _BRACKETED_LETTER.findall(text)
    if letters:
        return normalize_choice(letters[-1])
    if not options:
        return None
    number = last_number(text)
    return _option_by_value(number, options) if number is not None else None


def option_number(value: str) -> float | None:
    """The number an option value states (`rs . 1 , 200` is 1200, `12 cm 2` is 12, `7 1 / 2` is 7.5), or None
    (`1 : 2`, words).

    >>> option_number("rs . 1 , 200")
    1200.0
    >>> option_number("5 / 6")
    0.8333333333333334
    >>> option_number("data inadequate") is None
    True
    """
    value = _UNIT_EXPONENT.sub("", _SPACED_THOUSANDS.sub("", value.lower()))
    value = _MIXED_NUMBER.sub(_mixed_number_as_decimal, value)
    numbers = NUMBER.findall(value)
    if len(numbers) != 1 or ":" in value:
        return None
    return parse_number(clean_number(numbers[0]))


def _mixed_number_as_decimal(mixed: re.Match) -> str:
    whole, numerator, denominator = (int(group) for group in mixed.groups())
    return repr(whole + numerator / denominator) if denominator else mixed.group()


def _option_by_value(segment: str, options: dict[str, str]) -> str | None:
    wanted_text = _normalize_option_text(segment)
    for letter, value in options.items():
        if _normalize_option_text(value) == wanted_text:
            return letter
    wanted_number = option_number(segment)
    if wanted_number is None:
        wanted_number = parse_number(number_in(segment))
    if wanted_number is None:
        return None
    distances = {
        letter: abs(number - wanted_number)
        for letter, number in ((letter, option_number(value)) for letter, value in options.items())
        if number is not None
    }
    closest = min(distances, key=distances.get, default=None)
    return closest if closest is not None and distances[closest] <= OPTION_VALUE_TOLERANCE else None


def _normalize_option_text(text: str) -> str:
    return " ".join(text.lower().replace(" .", ".").split()).rstrip(".")
