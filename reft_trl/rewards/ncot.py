"""N-CoT answer extraction: the final answer of a chain of thought, after the template's trigger (strict) or in any
common answer format (flexible).

N-CoT completions end with the ReFT template's trigger, `Therefore, the answer is: 18`. Strict extraction (the RL
reward) reads only the text after the last trigger. Flexible extraction (evaluating any model) then also tries
`#### 18`, `\\boxed{18}`, `The answer is 18`, `Answer: 18`, `A: 18` and finally the last number in the text.
"""

from __future__ import annotations

import re

from reft_trl.answer_format import ANSWER_TRIGGER, MULTIPLE_CHOICE_TASKS

from .choices import choice_in, last_choice
from .number_text import last_number, number_in

# Flexible formats, most specific first; each captures where the answer starts.
_HASHES = re.compile(r"####")
_ANSWER_IS = re.compile(r"\banswer is\b\s*:?", re.IGNORECASE)
_ANSWER_COLON = re.compile(r"\banswer\s*:", re.IGNORECASE)
_A_COLON = re.compile(r"^[ \t]*A\s*:", re.MULTILINE)
_BOXED = "\\boxed{"


def ncot_answer(text: str, task: str, strict: bool = False, options: dict[str, str] | None = None) -> str | None:
    """The final answer of a chain of thought: a number, LaTeX or an expression, or an option letter; or None.

    `task` is a canonical task name (`compare.canonical_task`); `options` are MathQA option values by letter.

    >>> ncot_answer("3 + 4 = 7\\nTherefore, the answer is: 7", "gsm8k", strict=True)
    '7'
    >>> ncot_answer("She makes $1,080 a week.\\n#### 1,080", "gsm8k")
    '1080'
    """
    if strict:
        return _answer_after_trigger(text, task, options)
    return _flexible_answer(text, task, options)


def _answer_after_trigger(text: str, task: str, options: dict[str, str] | None) -> str | None:
    position = text.rfind(ANSWER_TRIGGER)
    if position == -1:
        return None
    return _answer_in_segment(_first_line(text, position + len(ANSWER_TRIGGER)), task, options)


def _flexible_answer(text: str, task: str, options: dict[str, str] | None) -> str | None:
    answer = _answer_after_trigger(text, task, options)
    if answer is not None:
        return answer
    for segment in _flexible_segments(text):
        answer = _answer_in_segment(segment, task, options)
        if answer is not None:
            return answer
    if task in MULTIPLE_CHOICE_TASKS:
        return last_choice(text, options)
    return last_number(text)


def _flexible_segments(text: str):
    """The text after the last occurrence of each flexible answer format, most specific format first."""
    hashes = _last_match(_HASHES, text)
    if hashes is not None:
        yield _first_line(text, hashes.end())
    boxed = _last_boxed(text)
    if boxed is not None:
        yield boxed
    for pattern in (_ANSWER_IS, _ANSWER_COLON, _A_COLON):
        found = _last_match(pattern, text)
        if found is not None:
            yield _first_line(text, found.end())


def _last_match(pattern: re.Pattern, text: str) -> re.Match | None:
    last = None
    for last in pattern.finditer(text):  # noqa: B007
        pass
    return last


def _last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}`, braces balanced."""
    start = text.rfind(_BOXED)
    if start == -1:
        return None
    depth, position = 1, start + len(_BOXED)
    for index in range(position, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[position:index]
    return None


def _first_line(text: str, start: int) -> str:
    """The rest of the line from `start`; if that is blank, the next non-blank line (`Answer:\\n18`)."""
    rest = text[start:].lstrip()
    end = rest.find("\n")
    return rest if end == -1 else rest[:end]


def _answer_in_segment(segment: str, task: str, options: dict[str, str] | None) -> str | None:
    """The answer stated at the start of `segment` (the text after an answer marker)."""
    if task in MULTIPLE_CHOICE_TASKS:
        return choice_in(segment, options)
    return number_in(segment)
