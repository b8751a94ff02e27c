"""The answer format, defined once: `reft_trl.data` writes it into the targets, `reft_trl.rewards` reads it back.

- Tasks: `TASKS`; the gold answer is a number on `NUMERIC_TASKS` and an option letter (`OPTION_LETTERS`) on
  `MULTIPLE_CHOICE_TASKS`.
- Chains of thought (`COTS`): an N-CoT target ends ``\\nTherefore, the answer is: {answer}`` (`ANSWER_TRIGGER`), and
  the reward reads the text after the trigger's last occurrence; a P-CoT target is a program whose `solution()`
  returns the answer.
- MathQA's options: the last line of a multiple-choice question, ``a ) 38 , b ) 27.675 , ...``. There is one parser
  with two contracts. `parse_options` is strict: fewer than two options raise `ValueError`, and the data loaders use
  it to check a gold letter against its question. `parse_options_or_empty` is lenient and returns `{}` instead: the
  reward and the evaluation call it on any question or prompt, where a missing list only means that an answer
  written as an option's value cannot be mapped to its letter.
"""

from __future__ import annotations

import ast
import re

GSM8K = "gsm8k"
SVAMP = "svamp"
MATHQA = "mathqa"
MATHQA_NUMERIC = "mathqa_numeric"
TASKS = (GSM8K, SVAMP, MATHQA, MATHQA_NUMERIC)
NUMERIC_TASKS = frozenset({GSM8K, SVAMP, MATHQA_NUMERIC})
"""Tasks whose gold answer is a number (and where a wrong but well-formed number earns the partial reward)."""
MULTIPLE_CHOICE_TASKS = frozenset({MATHQA})
"""Tasks whose gold answer is an option letter a-e."""

NCOT = "ncot"
PCOT = "pcot"
COTS = (NCOT, PCOT)
"""Chain-of-thought kinds: natural language (N-CoT) or a Python program (P-CoT)."""

ANSWER_TRIGGER = "Therefore, the answer is:"
"""The ReFT N-CoT template's answer trigger: targets end `\\nTherefore, the answer is: {answer}`."""

OPTION_LETTERS = "abcde"

# `a )` opening an option list: at the start of a line, or after a space, a bracket or a quote
_FIRST_MARKER = re.compile(r"(?:^|(?<=[\s\['\"]))a\s*\)\s?", re.IGNORECASE | re.MULTILINE)
# `, b )` and the following markers; a Python list that `literal_eval` cannot read also quotes them: `', 'b ) `
_NEXT_MARKER = r"['\"]?\s*,\s*['\"]?{letter}\s*\)\s?"
_DOCSTRING_END = '"""'


def parse_options(text: str) -> dict[str, str]:
    """The multiple-choice options in `text` as ``{"a": value, ..., "e": value}``; raises `ValueError` when there
    are fewer than two.

    The options are the last line that holds a marker `a )`: a MathQA question's last line, written as MathQA writes
    it, ``a ) 38 , b ) 27.675 , ...``, or as a Python list, ``['a ) 12', 'b ) 15', ...]``. Text before the first
    marker and a closing docstring quote (a P-CoT prompt puts the question into the program's docstring) are left
    out. Values may hold commas and spaces (``1 , 200``, ``rs . 1200``); a letter repeated inside its own value
    (``a ) a ) 4 inches``) is dropped. Letters run from ``a`` in order.

    >>> parse_options("what is 2 + 3 ?\\na ) 5 , b ) 1 , 200 , c ) rs . 6 , d ) data inadequate , e ) none")
    {'a': '5', 'b': '1 , 200', 'c': 'rs . 6', 'd': 'data inadequate', 'e': 'none'}
    >>> parse_options("['a ) 12', 'b ) b ) 15', 'c ) 10', 'd ) 8', 'e ) 14']")
    {'a': '12', 'b': '15', 'c': '10', 'd': '8', 'e': '14'}
    >>> parse_options("how many apples ?")
    Traceback (most recent call last):
    ...
    ValueError: no multiple-choice options 'a ) ... , b ) ...' found in 'how many apples ?'
    """
    line = _options_line(text)
    options = {} if line is None else _options_in_line(line)
    if len(options) < 2:
        raise ValueError(f"no multiple-choice options 'a ) ... , b ) ...' found in {text.strip()[-120:]!r}")
    return options


def parse_options_or_empty(text: str) -> dict[str, str]:
    """`parse_options`, with `{}` where it would raise: for text that may or may not hold options.

    >>> prompt = "Question:\\nwhat is x ?\\na ) 38 , b ) 30\\nAnswer reasoning:\\n"
    >>> parse_options_or_empty(prompt)
    {'a': '38', 'b': '30'}
    >>> parse_options_or_empty("how many apples ?")
    {}
    """
    try:
        return parse_options(text)
    except ValueError:
        return {}


def _options_line(text: str) -> str | None:
    """The last line holding an opening marker, without a closing docstring quote; None when there is none."""
    for line in reversed(text.split("\n")):
        if _FIRST_MARKER.search(line):
            return line.strip().removesuffix(_DOCSTRING_END).rstrip()
    return None


def _options_in_line(line: str) -> dict[str, str]:
    items = _python_list_items(line)
    return _options_from_items(items) if items is not None else _options_from_markers(line)


def _python_list_items(line: str) -> list[str] | None:
    if not (line.startswith("[") and line.endswith("]")):
        return None
    try:
        items = ast.literal_eval(line)
    except (ValueError, SyntaxError):
        return None
    if isinstance(items, list) and all(isinstance(item, str) for item in items):
        return items
    return None


def _options_from_items(items: list[str]) -> dict[str, str]:
    options = {}
    for letter, item in zip(OPTION_LETTERS, items):
        marker = re.match(rf"\s*{letter}\s*\)\s?", item, re.IGNORECASE)
        if marker is None:
            break
        options[letter] = _clean_value(letter, item[marker.end() :], quoted=False)
    return options


def _options_from_markers(line: str) -> dict[str, str]:
    """Walk the markers `a )`, `, b )`, ... in order; a value is the text up to the next marker."""
    first = _FIRST_MARKER.search(line)
    quoted = line[: first.start()].rstrip().endswith(("[", "'", '"'))
    spans = [(OPTION_LETTERS[0], first.start(), first.end())]
    for letter in OPTION_LETTERS[1:]:
        found = re.compile(_NEXT_MARKER.format(letter=letter), re.IGNORECASE).search(line, spans[-1][2])
        if found is None:
            break
        spans.append((letter, found.start(), found.end()))
    options = {}
    for (letter, _, value_start), following in zip(spans, [*spans[1:], None]):
        value_end = following[1] if following else len(line)
        options[letter] = _clean_value(letter, line[value_start:value_end], quoted)
    return options


def _clean_value(letter: str, value: str, quoted: bool) -> str:
    """A value without surrounding space, a repeated letter marker, and (in a quoted list) quotes and brackets."""
    value = value.strip()
    if quoted:
        value = value.strip("'\"[]").strip()
    repeated = re.match(rf"{letter}\s*\)\s?", value, re.IGNORECASE)
    return value[repeated.end() :].strip() if repeated else value
