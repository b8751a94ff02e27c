"""The ReFT paper's text formats, in one place: prompt, N-CoT target, P-CoT program prefix, MathQA options.

The paper's code builds every example as ``f"{instruction}{question}{cot_trigger}{answer_cot}"`` with
``instruction = "Question:\\n"`` and ``cot_trigger = "\\nAnswer reasoning:\\n"``. An N-CoT target is the
chain of thought followed by ``"\\nTherefore, the answer is: {answer_value}"``; a P-CoT target is a Python
program ``def solution(): ... return result`` whose return value is the answer.
"""

from __future__ import annotations

import ast
import re

PROMPT_TEMPLATE = "Question:\n{question}\nAnswer reasoning:\n"
ANSWER_TRIGGER = "Therefore, the answer is:"
NCOT_TARGET_TEMPLATE = "{answer_cot}\n" + ANSWER_TRIGGER + " {answer_value}"
PROGRAM_PREFIX_TEMPLATE = 'def solution():\n    """{question}"""\n'
OPTION_LETTERS = "abcde"

# `def solution():` and its one docstring, as the P-CoT programs open; group 1 is the docstring text.
_PROGRAM_HEADER = re.compile(r'def solution\(\):\n    """(.*?)"""\n', re.DOTALL)


def format_prompt(question: str) -> str:
    """The paper's prompt for a question (surrounding whitespace stripped, as the paper does).

    >>> format_prompt("What is 2 + 3?")
    'Question:\\nWhat is 2 + 3?\\nAnswer reasoning:\\n'
    """
    return PROMPT_TEMPLATE.format(question=question.strip())


def format_ncot_target(answer_cot: str, answer_value: str) -> str:
    """A natural-language chain of thought followed by the paper's answer trigger and the gold answer.

    >>> format_ncot_target("2 + 3 = 5 apples.\\n", " 5")
    '2 + 3 = 5 apples.\\nTherefore, the answer is: 5'
    """
    return NCOT_TARGET_TEMPLATE.format(answer_cot=answer_cot.strip(), answer_value=answer_value.strip())


def format_pcot_target(program: str) -> str:
    """A program chain of thought is its own target (surrounding whitespace stripped).

    >>> format_pcot_target("def solution():\\n    return 5\\n")
    'def solution():\\n    return 5'
    """
    return program.strip()


def program_prefix(question: str) -> str:
    """The opening of a P-CoT program for `question`: the paper force-prefixes it to PPO rollout prompts.

    >>> program_prefix("What is 2 + 3?")
    'def solution():\\n    \"\"\"What is 2 + 3?\"\"\"\\n'
    """
    return PROGRAM_PREFIX_TEMPLATE.format(question=question.strip())


def split_program(program: str) -> tuple[str, str]:
    """Split a P-CoT program into `(docstring, body)` after its `def solution():` header and docstring line.

    Raises `ValueError` when the program does not open that way.

    >>> split_program('def solution():\\n    \"\"\"Add.\"\"\"\\n    result = 2 + 3\\n    return result')
    ('Add.', '    result = 2 + 3\\n    return result')
    """
    header = _PROGRAM_HEADER.match(program)
    if header is None:
        raise ValueError(f"program does not open with 'def solution():' and a docstring line: {program[:60]!r}")
    return header.group(1), program[header.end() :]


def parse_options(question: str) -> dict[str, str]:
    """The multiple-choice options of a MathQA question, as ``{"a": value, ..., "e": value}``.

    The options are the question's last line (or the whole text when it has no newline), either as MathQA
    writes them, ``a ) 38 , b ) 27.675 , ...``, or as a Python list, ``['a ) 12', 'b ) 15', ...]``. Values
    may hold commas and spaces (``1 , 200``, ``rs . 1200``); a letter repeated inside its own value
    (``a ) a ) 4 inches``) is dropped. Letters run from ``a`` in order; fewer than two raises `ValueError`.

    >>> parse_options("what is 2 + 3 ?\\na ) 5 , b ) 1 , 200 , c ) rs . 6 , d ) data inadequate , e ) none")
    {'a': '5', 'b': '1 , 200', 'c': 'rs . 6', 'd': 'data inadequate', 'e': 'none'}
    >>> parse_options("['a ) 12', 'b ) b ) 15', 'c ) 10', 'd ) 8', 'e ) 14']")
    {'a': '12', 'b': '15', 'c': '10', 'd': '8', 'e': '14'}
    """
    line = question.rsplit("\n", 1)[-1].strip()
    items = _python_list_items(line)
    options = _options_from_items(items) if items is not None else _options_from_line(line)
    if len(options) < 2:
        raise ValueError(f"no multiple-choice options 'a ) ... , b ) ...' found in {line[-120:]!r}")
    return options


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
        options[letter] = _clean_value(letter, item[marker.end() :])
    return options


def _options_from_line(line: str) -> dict[str, str]:
    """Walk the markers `a )`, `, b )`, ... in order; a value is the text up to the next marker."""
    starts = []
    position = 0
    for index, letter in enumerate(OPTION_LETTERS):
        separator = r"^\s*" if index == 0 else r"\s*,\s*"
        marker = re.compile(rf"{separator}{letter}\s*\)\s?", re.IGNORECASE)
        found = marker.match(line) if index == 0 else marker.search(line, position)
        if found is None:
            break
        starts.append((letter, found.start(), found.end()))
        position = found.end()
    options = {}
    for (letter, _, value_start), following in zip(starts, [*starts[1:], None]):
        value_end = following[1] if following else len(line)
        options[letter] = _clean_value(letter, line[value_start:value_end])
    return options


def _clean_value(letter: str, value: str) -> str:
    value = value.strip()
    repeated = re.match(rf"{letter}\s*\)\s?", value, re.IGNORECASE)
    return value[repeated.end() :].strip() if repeated else value
