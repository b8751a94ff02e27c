"""`extract_answer`: the final answer of a completion, N-CoT or P-CoT.

Each kind of reading lives in its own module, re-exported here so that `reft_trl.rewards.extract` keeps its names:

- `ncot`: the answer of a chain of thought, after the template's trigger (strict) or in any common format.
- `pcot`: the program of a P-CoT completion (`with_prefilled_text`, `program_source`) and the answer its
  sandbox run stands for (`program_answer`).
- `choices`: MathQA option letters, written as a letter or as the option's value (`option_number`).
"""

from __future__ import annotations

from reft_trl.answer_format import ANSWER_TRIGGER, COTS, NCOT, PCOT

from .choices import OPTION_VALUE_TOLERANCE, option_number
from .compare import canonical_task
from .ncot import ncot_answer
from .pcot import DEFAULT_PROGRAM_TIMEOUT_S, program_answer, program_source, with_prefilled_text

__all__ = [
    "ANSWER_TRIGGER",
    "COTS",
    "DEFAULT_PROGRAM_TIMEOUT_S",
    "OPTION_VALUE_TOLERANCE",
    "extract_answer",
    "ncot_answer",
    "option_number",
    "program_answer",
    "program_source",
    "with_prefilled_text",
]


def extract_answer(
    completion: str,
    task: str,
    cot: str = NCOT,
    strict: bool = False,
    options: dict[str, str] | None = None,
    program_timeout: float = DEFAULT_PROGRAM_TIMEOUT_S,
) -> str | None:
    """The final answer of `completion` as a clean string (a number, LaTeX, or an option letter), or None.

    Args:
        completion: the model's text; for `cot="pcot"`, a program defining `solution()`.
        task: gsm8k, svamp, mathqa (multiple choice) or mathqa_numeric.
        cot: "ncot" (natural-language chain of thought) or "pcot" (a program, run in the sandbox).
        strict: read only the template's trigger `Therefore, the answer is:` (its last occurrence), as the RL
            reward does; otherwise also the flexible formats and, last, the final number in the text.
        options: MathQA option values by letter (`reft_trl.answer_format.parse_options_or_empty`), to map an answer
            written as a value to its letter.
        program_timeout: seconds a P-CoT program may run.

    >>> extract_answer("3 + 4 = 7 apples\\nTherefore, the answer is: 7", "gsm8k", strict=True)
    '7'
    >>> extract_answer("She makes $1,080 a week.\\n#### 1,080", "gsm8k")
    '1080'
    >>> extract_answer("Therefore, the answer is <203>.", "svamp")
    '203'
    >>> extract_answer("Therefore, the answer is <203>.", "svamp", strict=True) is None
    True
    >>> extract_answer("Therefore, the answer is: (C)", "mathqa", strict=True)
    'c'
    >>> extract_answer("Therefore, the answer is: 30", "mathqa", strict=True, options={"a": "38", "b": "30"})
    'b'
    """
    task = canonical_task(task)
    if cot == PCOT:
        from .sandbox import run_program

        return program_answer(run_program(program_source(completion), timeout=program_timeout), task, options)
    if cot != NCOT:
        raise ValueError(f"Unknown cot {cot!r}; valid: {', '.join(COTS)}.")
    return ncot_answer(completion, task, strict, options)
