"""MathQA (Amini et al., 2019): GRE/GMAT-style problems, as multiple choice (``mathqa``) or numeric (``mathqa_numeric``).

Sources
- ``"reft"``: the ReFT authors' test files, bundled (1,605 rows each). Multiple choice appends the options
  to the question as a last line ``a ) 38 , b ) 27.675 , ...`` and the answer is a letter a-e; numeric
  drops the options and the answer is a number such as ``"38.0"``.
- ``"hub"``: ``allenai/math_qa`` (``Problem``, ``Rationale``, ``options``, ``correct``), mapped into the same
  form; ``Rationale`` is the N-CoT. For ``mathqa_numeric`` the answer is the correct option's number, and
  problems whose correct option is not a plain number (``none of these``, ``7 1 / 2``) are left out.
- any other string: a ReFT-format JSON / JSON-lines file (path or URL).

No MathQA train split is bundled: train with ``source="hub"`` or a ReFT-format file.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from datasets import Dataset

from reft_trl.answer_format import parse_options

from .builder import (
    SOURCES,
    ExampleFormat,
    Source,
    load_from_source,
    reft_source,
    require_field,
    require_object,
    user_file_source,
)
from .errors import DataFormatError
from .reading import bundled_file, hub_rows

TASK = "mathqa"
NUMERIC_TASK = "mathqa-numeric"  # ReFT's spelling, used in its item ids
HUB_ID = "allenai/math_qa"
REFT_TEST_FILES = {False: "reft_test_set.json", True: "reft_numeric_test_set.json"}

# An option that is one number: optional currency (`rs .`, `$`; MathQA also has `s .` for a clipped `rs .`), optional
# sign, a number with optional thousands commas or a simple fraction `p / q`, then optional unit words (`kmph`, `%`,
# `sq . cm`, `km / hr`, `m ^ 2`, `cm 2`) and nothing else.
_WORD = r"(?:[^\W\d_]+|[%°'.$])"
_OPTION_NUMBER = re.compile(
    rf"""^(?:(?:rs|s|inr)\s*\.|rs|inr|\$|£|€)?\s*
    (?P<sign>[-−])?\s*
    (?P<number>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d*)?|\.\d+)
    (?:\s*/\s*(?P<denominator>\d+(?:\.\d+)?))?
    (?:\s*{_WORD}(?:\s*(?:{_WORD}|/\s*{_WORD}|\^?\s*[23](?![\d.])))*)?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


def option_number(option: str) -> str | None:
    """The number an option states, as ReFT writes numeric answers (``str(float)``), or None if it is not one.

    >>> option_number("rs . 1,200"), option_number("32 kmph"), option_number("3 / 8"), option_number("38 cm 2")
    ('1200.0', '32.0', '0.375', '38.0')
    >>> option_number("36 km / hr"), option_number("− 6"), option_number("12.5 %")
    ('36.0', '-6.0', '12.5')
    >>> option_number("none of these"), option_number("7 1 / 2"), option_number("30 , 10")
    (None, None, None)
    """
    found = _OPTION_NUMBER.match(option.strip())
    if found is None:
        return None
    value = float(found["number"].replace(",", ""))
    if found["denominator"] is not None:
        denominator = float(found["denominator"])
        if denominator == 0:
            return None
        value /= denominator
    return str(-value if found["sign"] else value)


def rationale_text(rationale: str) -> str:
    """MathQA's rationale without the double quotes the dataset wraps it in.

    >>> rationale_text('"explanation : 2 + 3 = 5 . answer : option a"')
    'explanation : 2 + 3 = 5 . answer : option a'
    """
    text = rationale.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text


def mathqa_record(row: Any, index: int, *, cot: str = "ncot", numeric: bool = False) -> dict[str, Any] | None:
    """A ReFT record from an ``allenai/math_qa`` row; None for a numeric task whose correct option is no number.

    Multiple choice puts the options on the question's last line, as the ReFT test file does; numeric
    leaves them out and answers with the correct option's number.

    >>> row = {"Problem": "2 + 3 = ?", "Rationale": '"2 + 3 = 5"', "options": "a ) 5 , b ) 6", "correct": "a"}
    >>> mathqa_record(row, 0)
    {'item_id': 'mathqa_0', 'question': '2 + 3 = ?\\na ) 5 , b ) 6', 'answer_value': 'a', 'answer_cot': '2 + 3 = 5'}
    >>> mathqa_record(row, 0, numeric=True)["answer_value"]
    '5.0'
    """
    row = require_object(row)
    problem, options, correct = (require_field(row, field) for field in ("Problem", "options", "correct"))
    for field, value in (("Problem", problem), ("options", options), ("correct", correct)):
        if not isinstance(value, str):
            raise DataFormatError(f"not text: {value!r}", field=field)
    rationale = require_field(row, "Rationale") if cot == "ncot" else None
    if rationale is not None and not isinstance(rationale, str):
        raise DataFormatError(f"not text: {rationale!r}", field="Rationale")
    record = {
        "item_id": f"{NUMERIC_TASK if numeric else TASK}_{index}",
        "question": f"{problem.strip()}\n{options.strip()}",
        "answer_value": correct,
        "answer_cot": None if rationale is None else rationale_text(rationale),
    }
    if not numeric:
        return record
    try:
        chosen = parse_options(options)[correct.strip().lower()]
    except (ValueError, KeyError):
        raise DataFormatError(f"bad option letter {correct!r} for options {options[:80]!r}", field="correct") from None
    number = option_number(chosen)
    if number is None:
        return None
    return {**record, "question": problem.strip(), "answer_value": number}


def mathqa_source(cot: str, split: str, source: str | None, *, numeric: bool) -> Source:
    """Resolve `source` (None for the default) to rows and a row mapper."""
    item_prefix = NUMERIC_TASK if numeric else TASK
    if source is None:
        if split != "test":
            raise ValueError(
                f"MathQA has no bundled {split} data. Pass source='hub' (maps allenai/math_qa: Problem, Rationale, "
                "options, correct) or source=<path or URL of a ReFT-format JSON file>."
            )
        source = "reft"
    if source not in SOURCES:
        return user_file_source(source, item_prefix)
    if source == "hub":
        return Source(*hub_rows(HUB_ID, split), partial(mathqa_record, cot=cot, numeric=numeric))
    if source == "original" or split != "test":
        raise ValueError(
            f"no bundled MathQA {source!r} {split} file (only ReFT's test sets are bundled); "
            "use source='hub' (allenai/math_qa) or pass the path of a ReFT-format file."
        )
    return reft_source(bundled_file(TASK, REFT_TEST_FILES[numeric]), item_prefix)


def load_mathqa(
    cot: str = "ncot",
    split: str = "train",
    *,
    numeric: bool = False,
    source: str | None = None,
    template: str = "reft",
    skip_bad_rows: bool = False,
    limit: int | None = None,
    program_prefix_in_prompt: bool = False,
) -> Dataset:
    """MathQA (``numeric=False``: letters a-e; ``True``: numbers) as a TRL prompt-completion dataset.

    See `reft_trl.data.load_task` for the arguments.
    """
    fmt = ExampleFormat(cot, "number" if numeric else "choice", template, program_prefix_in_prompt)
    return load_from_source(
        partial(mathqa_source, numeric=numeric), fmt, split, source, skip_bad_rows=skip_bad_rows, limit=limit
    )
