"""P-CoT programs: the program a completion holds (`def solution(): ...`, with the opening a prompt prefilled) and the
answer its sandbox run stands for."""

from __future__ import annotations

import re

from reft_trl.answer_format import MULTIPLE_CHOICE_TASKS, PCOT

from .choices import choice_in
from .compare import canonical_task

DEFAULT_PROGRAM_TIMEOUT_S = 10.0
"""Seconds a P-CoT program may run. The paper's RL script allows 2 s; 10 s leaves room on a busy shared machine."""

_TOP_LEVEL_CODE = ("def ", "import ", "from ", "@", "#", "class ")
_SOLUTION_DEF = "def solution("
_TRIPLE_QUOTES = ('"""', "'''")
_CODE_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


def with_prefilled_text(prompt, completion: str, cot: str = "ncot") -> str:
    """The answer as a reader of the model's output sees it: the text the prompt already put into the answer, then
    the completion.

    A P-CoT prompt that ends with the program's opening (`def solution():` and the question as docstring, as the
    paper's sampling force-prefixes it) makes the model write only the body; the program to run is that opening
    plus the completion. A conversation ending with an assistant message is continued the same way. Otherwise the
    completion is the whole answer. An opening that ends at the docstring's closing quotes
    (`reft_trl.data.templates.PROGRAM_PREFIX_TEMPLATE`) gets a newline before a completion that does not start with
    one, so a body written without it still runs.

    >>> prompt = "Question:\\nAdd.\\nAnswer reasoning:\\ndef solution():\\n    # Add.\\n"
    >>> program = with_prefilled_text(prompt, "    return 2 + 3", cot="pcot")
    >>> program.startswith("def solution():\\n"), program.endswith("\\n    return 2 + 3")
    (True, True)
    >>> with_prefilled_text("Question:\\nAdd.\\nAnswer reasoning:\\n", "2 + 3 = 5")
    '2 + 3 = 5'
    """
    if not isinstance(prompt, str):
        opening = prompt[-1]["content"] if prompt and prompt[-1]["role"] == "assistant" else ""
        return _joined(opening, completion) if cot == PCOT else opening + completion
    if cot == PCOT:
        start = prompt.rfind(_SOLUTION_DEF)
        if start != -1:
            return _joined(prompt[start:], completion)
    return completion


def _joined(opening: str, completion: str) -> str:
    """`opening + completion`, with a newline between a docstring's closing quotes and a body that lacks it."""
    if opening.endswith(_TRIPLE_QUOTES) and not completion.startswith(("\n", "\r")):
        return opening + "\n" + completion
    return opening + completion


def program_source(completion: str) -> str:
    """The program in a P-CoT completion, without the prose a model may write around it.

    A fenced code block wins. Otherwise the program runs from its first top-level `def`/`import`/`from` line to the
    end of `solution()`'s body (the first top-level line after it that is not code and not inside a triple-quoted
    string: a MathQA docstring holds the question's options on a line of their own). The paper's code cuts at the
    first blank line instead, which also cuts programs that contain one.

    >>> program_source("Here it is:\\ndef solution():\\n    x = 3\\n\\n    return x\\nThe answer is 3.")
    'def solution():\\n    x = 3\\n\\n    return x'
    >>> program_source('def solution():\\n    \"\"\"how much ?\\na ) 3 , b ) 4\"\"\"\\n    return "b"\\nSo b.')
    'def solution():\\n    \"\"\"how much ?\\na ) 3 , b ) 4\"\"\"\\n    return "b"'
    >>> program_source("```python\\ndef solution():\\n    return 3\\n```\\nDone.")
    'def solution():\\n    return 3\\n'
    """
    fenced = _CODE_FENCE.search(completion)
    if fenced:
        return fenced.group(1)
    lines = completion.split("\n")
    starts = [index for index, line in enumerate(lines) if line.startswith(_TOP_LEVEL_CODE)]
    solutions = [index for index, line in enumerate(lines) if line.startswith(_SOLUTION_DEF)]
    if not starts or not solutions:
        return completion
    in_strings = _lines_inside_strings(lines)
    end = next(
        (
            index
            for index in range(solutions[0] + 1, len(lines))
            if lines[index]
            and not lines[index][0].isspace()
            and not lines[index].startswith(_TOP_LEVEL_CODE)
            and index not in in_strings
        ),
        len(lines),
    )
    return "\n".join(lines[starts[0] : end]).rstrip()


def program_answer(result, task: str, options: dict[str, str] | None = None) -> str | None:
    """The answer a sandbox `ProgramResult` stands for: `str(value)`, or an option letter on multiple choice.

    A failed run, or a program that returned None, has no answer. On the numeric tasks a returned string is kept
    whole (stripped) for `answers_match` to judge, so the repr of a list of candidates is not read as its first one.
    """
    task = canonical_task(task)
    if not result.ok or result.value is None:
        return None
    if task in MULTIPLE_CHOICE_TASKS:
        return choice_in(str(result.value), options)
    return str(result.value).strip() or None


def _lines_inside_strings(lines: list[str]) -> set[int]:
    """The indices of the lines that continue a triple-quoted string opened on an earlier line."""
    inside, quote = set(), None
    for index, line in enumerate(lines):
        if quote is not None:
            inside.add(index)
        position = 0
        while True:
            if quote is None:
                opened = [(line.find(mark, position), mark) for mark in _TRIPLE_QUOTES if mark in line[position:]]
                if not opened:
                    break
                position, quote = min(opened)
            else:
                position = line.find(quote, position)
                if position == -1:
                    break
                quote = None
            position += len(_TRIPLE_QUOTES[0])
    return inside
