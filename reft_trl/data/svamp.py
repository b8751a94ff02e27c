"""SVAMP (Patel et al., 2021): one-unknown arithmetic word problems with numeric answers.

Sources
- ``"reft"``: the ReFT authors' files, bundled: train with natural-language CoT (3,076 rows) or programs
  (3,043 rows, ``def solution():\\n    \"\"\"{question}\"\"\"\\n    ...\\n    return result``), and the
  1,000-problem test set (``item_id``, ``question``, ``answer_value``). The default for both splits.
- ``"original"``: ``SVAMP.json``, the original challenge set (the 1,000 problems ReFT tests on): question
  = ``Body + " " + Question``, answer = ``Answer``. No chain of thought, so the completion is None.
- ``"hub"``: ``ChilleD/SVAMP`` (700 train / 300 test of the same challenge set), mapped like ``"original"``.
- any other string: a ReFT-format JSON / JSON-lines file (path or URL).
"""

from __future__ import annotations

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

TASK = "svamp"
HUB_ID = "ChilleD/SVAMP"
REFT_FILES = {
    ("ncot", "train"): "reft_train_ncot.json",
    ("pcot", "train"): "reft_train_pcot.json",
    ("ncot", "test"): "reft_test_set.json",
    ("pcot", "test"): "reft_test_set.json",
}
ORIGINAL_FILES = {"test": "SVAMP.json"}


def svamp_record(row: Any, index: int) -> dict[str, Any]:
    """A ReFT record from an original SVAMP row (``ID``, ``Body``, ``Question``, ``Answer``), as in ``SVAMP.json``
    and ``ChilleD/SVAMP``. SVAMP has no chain of thought.

    >>> svamp_record({"ID": "chal-2", "Body": "Dan had $ 4.", "Question": "How much left?", "Answer": 1.0}, 1)
    {'item_id': 'chal-2', 'question': 'Dan had $ 4. How much left?', 'answer_value': '1.0', 'answer_cot': None}
    """
    row = require_object(row)
    parts = []
    for field in ("Body", "Question"):
        text = require_field(row, field)
        if not isinstance(text, str):
            raise DataFormatError(f"not text: {text!r}", field=field)
        parts.append(text.strip())
    answer = require_field(row, "Answer")
    return {
        "item_id": str(row.get("ID", f"{TASK}_{index}")),
        "question": " ".join(part for part in parts if part),
        "answer_value": None if answer is None else str(answer),
        "answer_cot": None,
    }


def svamp_source(cot: str, split: str, source: str | None) -> Source:
    """Resolve `source` (None for the default, ``"reft"``) to rows and a row mapper."""
    source = "reft" if source is None else source
    if source not in SOURCES:
        return user_file_source(source, TASK)
    if source == "reft":
        return reft_source(bundled_file(TASK, REFT_FILES[cot, split]), TASK)
    if source == "hub":
        return Source(*hub_rows(HUB_ID, split), svamp_record)
    if split not in ORIGINAL_FILES:
        raise ValueError(
            "SVAMP.json is the original challenge set, which ReFT uses as its test set: load it with split='test'. "
            "For training data use source='reft' (the default) or 'hub' (ChilleD/SVAMP's train split)."
        )
    return Source(*file_rows(bundled_file(TASK, ORIGINAL_FILES[split])), svamp_record)


def load_svamp(
    cot: str = "ncot",
    split: str = "train",
    *,
    source: str | None = None,
    template: str = "reft",
    skip_bad_rows: bool = False,
    limit: int | None = None,
    program_prefix_in_prompt: bool = False,
) -> Dataset:
    """SVAMP as a TRL prompt-completion dataset; see `reft_trl.data.load_task` for the arguments."""
    fmt = ExampleFormat(cot, "number", template, program_prefix_in_prompt)
    return load_from_source(svamp_source, fmt, split, source, skip_bad_rows=skip_bad_rows, limit=limit)
