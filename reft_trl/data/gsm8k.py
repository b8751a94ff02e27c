"""GSM8K (Cobbe et al., 2021): grade-school math word problems with numeric answers.

Sources
- ``"original"``: GSM8K's own JSON lines (``question``, ``answer``), bundled for train (7,473) and test
  (1,319). A solution becomes a ReFT N-CoT target: calculator marks ``<<48/2=24>>`` are removed (they are
  tool-call annotations, not prose: ``$<<9*2=18>>18`` reads ``$18``), the final ``#### N`` line is
  dropped and N, without thousands commas, is the gold answer.
- ``"reft"``: the ReFT authors' test file (``item_id``, ``question``, ``answer_value``), bundled.
- ``"hub"``: ``openai/gsm8k`` (config ``main``), mapped row by row exactly like ``"original"``.
- any other string: a ReFT-format JSON / JSON-lines file (path or URL), e.g. the ReFT repo's
  ``gsm8k_nl.json`` or ``gsm8k_python_sdp.json`` (programs) for training.

Defaults: N-CoT train = ``"original"``; test = ``"reft"``. P-CoT train has no offline data.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from datasets import Dataset

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
from .reading import bundled_file, file_rows, hub_rows

TASK = "gsm8k"
HUB_ID = "openai/gsm8k"
HUB_CONFIG = "main"
ORIGINAL_FILES = {"train": "train.jsonl", "test": "test.jsonl"}
REFT_FILES = {"test": "reft_test_set.json"}
DEFAULT_SOURCES = {("ncot", "train"): "original", ("ncot", "test"): "reft", ("pcot", "test"): "reft"}
FINAL_ANSWER_MARK = "####"

_CALCULATOR_ANNOTATION = re.compile(r"<<[^<>]*>>")


def strip_calculator_annotations(text: str) -> str:
    """Remove GSM8K's calculator annotations ``<<expression=result>>``; the result written after them stays.

    >>> strip_calculator_annotations("She makes 9 * 2 = $<<9*2=18>>18 every day.")
    'She makes 9 * 2 = $18 every day.'
    """
    return _CALCULATOR_ANNOTATION.sub("", text)


def split_final_answer(solution: str) -> tuple[str, str]:
    """Split a GSM8K solution into its reasoning and the final answer after ``####``.

    >>> split_final_answer("Half of 48 is 48/2 = <<48/2=24>>24.\\n#### 1,024")
    ('Half of 48 is 48/2 = <<48/2=24>>24.', '1,024')
    """
    reasoning, mark, final = solution.rpartition(FINAL_ANSWER_MARK)
    if not mark:
        raise DataFormatError(f"no final '{FINAL_ANSWER_MARK} N' line in {solution[-80:]!r}", field="answer")
    return reasoning.strip(), final.strip()


def gsm8k_record(row: Any, index: int, *, cot: str = "ncot") -> dict[str, Any]:
    """A ReFT record from a GSM8K row as the original files and the Hub's ``openai/gsm8k`` hold it.

    Its chain of thought is natural language, so it is kept for ``cot="ncot"`` only.

    >>> gsm8k_record({"question": "Q?", "answer": "2 * 3 = <<2*3=6>>6 pens.\\n#### 6"}, 4)
    {'item_id': 'gsm8k_4', 'question': 'Q?', 'answer_value': '6', 'answer_cot': '2 * 3 = 6 pens.'}
    """
    row = require_object(row)
    solution = require_field(row, "answer")
    if not isinstance(solution, str):
        raise DataFormatError(f"solution is not text: {solution!r}", field="answer")
    reasoning, final = split_final_answer(solution)
    return {
        "item_id": f"{TASK}_{index}",
        "question": require_field(row, "question"),
        "answer_value": final,
        "answer_cot": strip_calculator_annotations(reasoning).strip() if cot == "ncot" else None,
    }


def gsm8k_source(cot: str, split: str, source: str | None) -> Source:
    """Resolve `source` (None for the default) to rows and a row mapper."""
    if source is None:
        source = DEFAULT_SOURCES.get((cot, split))
        if source is None:
            raise ValueError(
                "GSM8K has no bundled program-CoT (pcot) training data. Pass source=<path or URL of a ReFT-format "
                "JSON file whose answer_cot holds programs> (e.g. gsm8k_python_sdp.json from the ReFT repository), "
                "or source='original' / 'hub' for questions and answers alone (completion None, enough for PPO)."
            )
    if source not in SOURCES:
        return user_file_source(source, TASK)
    mapper = partial(gsm8k_record, cot=cot)
    if source == "hub":
        return Source(*hub_rows(HUB_ID, split, HUB_CONFIG), mapper)
    if source == "original":
        return Source(*file_rows(bundled_file(TASK, ORIGINAL_FILES[split])), mapper)
    if split not in REFT_FILES:
        raise ValueError(
            f"no bundled ReFT-format GSM8K {split} file; use source='original' (GSM8K's own solutions in ReFT "
            "N-CoT form, the default) or 'hub', or pass the path of a ReFT-format file."
        )
    return reft_source(bundled_file(TASK, REFT_FILES[split]), TASK)


def load_gsm8k(
    cot: str = "ncot",
    split: str = "train",
    *,
    source: str | None = None,
    template: str = "reft",
    skip_bad_rows: bool = False,
    limit: int | None = None,
    program_prefix_in_prompt: bool = False,
) -> Dataset:
    """GSM8K as a TRL prompt-completion dataset; see `reft_trl.data.load_task` for the arguments."""
    fmt = ExampleFormat(cot, "number", template, program_prefix_in_prompt)
    return load_from_source(gsm8k_source, fmt, split, source, skip_bad_rows=skip_bad_rows, limit=limit)
