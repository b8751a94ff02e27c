"""The number a piece of text states: `$1,080` as `1080`, `3 / 4` as `3/4`, an expression kept whole.

Shared by N-CoT answer extraction and the MathQA options (an answer written as an option's value). Underscores are
never digit separators here, as in the comparer (`compare.parse_number`): `1_000` states no number, rather than `1`.
"""

from __future__ import annotations

import re

NUMBER = re.compile(
    r"(?:(?<![\w)\].])[-\u2212])?(?:\$[-\u2212]?)?"  # a minus that is not a subtraction, and a currency sign
    r"(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)"  # digits with optional thousands commas and decimals
    r"(?:[eE][-+]?\d+(?!\w))?"  # scientific notation
    r"(?:\s?/\s?\d+(?:\.\d+)?(?![\d.]))?"  # a simple fraction
)
_OPERATOR_AFTER = re.compile(r"\s*(?:[+*/^\u00d7\u00f7]|-\s*[\w(])")
"""An operator right after the first number: the answer is an expression (`10+John's age`), not that number."""
_UNDERSCORE_DIGIT = re.compile(r"_\d")
_DIGIT_UNDERSCORE = re.compile(r"\d_")
_NUMBER_PUNCTUATION = str.maketrans({"$": None, ",": None, " ": None, "\u2212": "-"})
_LATEX_NOISE = re.compile(r"\\text\{[^{}]*\}|\\mathrm\{[^{}]*\}|\\[,!;: ]|\{,\}|\\left|\\right|\$")
_LATEX_ESCAPED_SYMBOL = re.compile(r"\\([$%])")


def number_in(segment: str) -> str | None:
    """The number stated in `segment` (after an `=`, right of the last one), or the segment itself when it is an
    expression (LaTeX, or an operator after the first number) for `answers_match` to evaluate symbolically.

    >>> number_in("18 apples."), number_in("x = $1,080"), number_in("10+John's age")
    ('18', '1080', "10+John's age")
    >>> number_in("1_000") is None  # not the number 1
    True
    """
    if "\\" in segment or "$" in segment:
        segment = _LATEX_NOISE.sub("", _LATEX_ESCAPED_SYMBOL.sub(r"\1", segment)).strip()
        if "\\" in segment:
            return segment.rstrip(".").strip() or None
    if "=" in segment:
        segment = segment.rsplit("=", 1)[1]
    found = NUMBER.search(segment)
    if found is None or _underscore_grouped(segment, found):
        return None
    if _OPERATOR_AFTER.match(segment, found.end()):
        return segment.strip().rstrip(".").strip()
    return clean_number(found.group())


def last_number(text: str) -> str | None:
    """The last number in `text`, cleaned; None when there is none or it ends an underscore-grouped one (`1_000`).

    >>> last_number("3 + 4 = 7 apples"), last_number("no digits") is None, last_number("about 1_000") is None
    ('7', True, True)
    """
    found = None
    for found in NUMBER.finditer(text):  # noqa: B007
        pass
    if found is None or _underscore_grouped(text, found):
        return None
    return clean_number(found.group())


def clean_number(number: str) -> str:
    """`$1,080` as `1080`, `3 / 4` as `3/4`."""
    return number.translate(_NUMBER_PUNCTUATION)


def _underscore_grouped(text: str, found: re.Match) -> bool:
    """Whether the number `found` is only a piece of digits grouped by underscores (`1_000`)."""
    start = found.start()
    return _UNDERSCORE_DIGIT.match(text, found.end()) is not None or (
        start >= 2 and _DIGIT_UNDERSCORE.match(text, start - 2, start) is not None
    )
