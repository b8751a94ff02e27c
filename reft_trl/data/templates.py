"""The ReFT paper's text formats: prompt, N-CoT target, P-CoT program prefix.

The paper's code builds every example as ``f"{instruction}{question}{cot_trigger}{answer_cot}"`` with
``instruction = "Question:\\n"`` and ``cot_trigger = "\\nAnswer reasoning:\\n"``. An N-CoT target is the
chain of thought followed by ``"\\nTherefore, the answer is: {answer_value}"``; a P-CoT target is a Python
program ``def solution(): ... return result`` whose return value is the answer. The answer trigger, the option
letters and the MathQA option parser are shared with the rewards, in `reft_trl.answer_format`.
"""

from __future__ import annotations

import re

from reft_trl.answer_format import ANSWER_TRIGGER

PROMPT_TEMPLATE = "Question:\n{question}\nAnswer reasoning:\n"
NCOT_TARGET_TEMPLATE = "{answer_cot}\n" + ANSWER_TRIGGER + " {answer_value}"
PROGRAM_PREFIX_TEMPLATE = 'def solution():\n    """{question}"""'
"""The opening of a P-CoT program that rollout and evaluation prompts end with. It stops at the docstring's closing
quotes, one character short of the paper's prefix, which ends with the newline: byte-level BPE tokenizers (SmolLM2's,
GPT-2's) merge that newline with the body's indentation into one token in the text SFT trains on, so a prompt ending
in a lone newline token puts the warm-up at a token boundary it never saw (it then starts a second program). Ending
at the quotes, a prompt's tokens are the first tokens of the SFT text's (`tests/data/test_token_boundary.py`)."""

# `def solution():` and its one docstring, as the P-CoT programs open; group 1 is the docstring text.
_PROGRAM_HEADER = re.compile(r'def solution\(\):\n    """(.*?)"""', re.DOTALL)


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
    'def solution():\\n    \"\"\"What is 2 + 3?\"\"\"'
    """
    return PROGRAM_PREFIX_TEMPLATE.format(question=question.strip())


def split_program(program: str) -> tuple[str, str]:
    """Split a P-CoT program into `(docstring, body)` after its `def solution():` header and docstring (the body
    keeps the newline that follows the docstring).

    Raises `ValueError` when the program does not open that way.

    >>> split_program('def solution():\\n    \"\"\"Add.\"\"\"\\n    result = 2 + 3\\n    return result')
    ('Add.', '\\n    result = 2 + 3\\n    return result')
    """
    header = _PROGRAM_HEADER.match(program)
    if header is None:
        raise ValueError(f"program does not open with 'def solution():' and a docstring line: {program[:60]!r}")
    return header.group(1), program[header.end() :]
