"""ReFT records in, TRL-ready `datasets.Dataset` out: validation, templates, the program prefix, bad rows.

Every source is first mapped, row by row, to a *ReFT record*: a dict with `item_id`, `question`,
`answer_value` and `answer_cot` (the chain of thought, or None). `build_dataset` validates each record
and turns it into the columns the trainers read: `prompt`, `completion`, `answer`, `item_id`, `question`.
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from datasets import Dataset

from reft_trl.answer_format import COTS, OPTION_LETTERS, parse_options

from .errors import DataFormatError
from .reading import Rows, file_rows, is_url
from .templates import format_ncot_target, format_pcot_target, format_prompt, program_prefix, split_program

logger = logging.getLogger(__name__)

SOURCES = ("reft", "original", "hub")
SPLITS = ("train", "test")
TEMPLATES = ("reft", "chat")
ANSWER_KINDS = ("number", "choice")
_GOLD_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?", re.ASCII)
"""A numeric gold answer once commas are removed: the plain numbers `reft_trl.rewards.compare.parse_number` reads."""
COLUMNS = ("prompt", "completion", "answer", "item_id", "question")

# A row mapper turns one raw row (and its index) into a ReFT record, or None when the row is not part of
# the task (e.g. a MathQA problem whose correct option is not a number, for MathQA-numeric).
RowMapper = Callable[[Any, int], "dict[str, Any] | None"]
# A task's source resolver turns `(cot, split, source)` (source None for the task's default) into a `Source`.
SourceResolver = Callable[[str, str, "str | None"], "Source"]


@dataclass(frozen=True)
class ExampleFormat:
    """How records become examples: which chain of thought, which answer check, which template."""

    cot: str = "ncot"
    answer_kind: str = "number"
    template: str = "reft"
    program_prefix_in_prompt: bool = False

    def __post_init__(self):
        check_choice("cot", self.cot, COTS)
        check_choice("answer_kind", self.answer_kind, ANSWER_KINDS)
        check_choice("template", self.template, TEMPLATES)
        if self.program_prefix_in_prompt and self.cot != "pcot":
            raise ValueError("program_prefix_in_prompt=True needs cot='pcot' (it moves the program's opening line)")


def check_choice(name: str, value: Any, valid: tuple[str, ...]) -> None:
    """Raise a `ValueError` that lists the valid keys when `value` is not one of them.

    >>> check_choice("cot", "pcot", COTS)
    >>> check_choice("cot", "cot", COTS)
    Traceback (most recent call last):
    ...
    ValueError: unknown cot 'cot'; valid: 'ncot', 'pcot'
    """
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(map(repr, valid))}")


def check_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ValueError(f"limit must be None or a non-negative int, got {limit!r}")


def reft_record(row: Any, index: int, *, item_prefix: str) -> dict[str, Any]:
    """Read a row of a ReFT-format file (`item_id`, `question`, `answer_value`, optional `answer_cot`).

    A missing `item_id` becomes `{item_prefix}_{index}`, as ReFT numbers its rows; a missing
    `answer_cot` leaves the completion empty (None).

    >>> reft_record({"question": "1 + 1?", "answer_value": "2"}, 7, item_prefix="svamp")
    {'item_id': 'svamp_7', 'question': '1 + 1?', 'answer_value': '2', 'answer_cot': None}
    """
    row = require_object(row)
    return {
        "item_id": str(row.get("item_id", f"{item_prefix}_{index}")),
        "question": require_field(row, "question"),
        "answer_value": require_field(row, "answer_value"),
        "answer_cot": row.get("answer_cot"),
    }


def require_object(row: Any) -> Mapping[str, Any]:
    if not isinstance(row, Mapping):
        raise DataFormatError(f"row is not a JSON object but {type(row).__name__}: {str(row)[:60]!r}")
    return row


def require_field(row: Mapping[str, Any], field: str) -> Any:
    if field not in row:
        raise DataFormatError(f"missing field {field!r} (fields present: {sorted(row)})", field=field)
    return row[field]


def normalize_number(value: Any) -> str:
    """A numeric gold answer as text: whitespace and thousands commas removed, the source's digits kept.

    >>> normalize_number(" 1,080 "), normalize_number(51.0), normalize_number("203.0")
    ('1080', '51.0', '203.0')
    >>> normalize_number("twelve")
    Traceback (most recent call last):
    ...
    reft_trl.data.errors.DataFormatError: field 'answer_value': not a number: 'twelve'

    The answer must be a finite plain number the reward reads the same way (`reft_trl.rewards.compare`): `1_000`,
    `1e999`, `nan` and `inf` are refused, where Python's `float` would accept them.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DataFormatError(f"not a number: {value!r}", field="answer_value")
    text = str(value).strip().replace(",", "")
    if "_" in text and _GOLD_NUMBER.fullmatch(text.replace("_", "")):
        raise DataFormatError(
            f"not a number: {value!r} (underscores are not digit separators; write {text.replace('_', '')})",
            field="answer_value",
        )
    if not _GOLD_NUMBER.fullmatch(text) or not math.isfinite(float(text)):
        raise DataFormatError(f"not a number: {value!r}", field="answer_value")
    return text


def normalize_choice(value: Any, options: Mapping[str, str]) -> str:
    """A multiple-choice gold answer as a lowercase letter that names one of `options`.

    >>> normalize_choice(" B", {"a": "1", "b": "2"})
    'b'
    """
    letter = value.strip().lower() if isinstance(value, str) else value
    if letter not in tuple(OPTION_LETTERS) or letter not in options:
        raise DataFormatError(
            f"bad option letter {value!r}; the question offers {sorted(options)}", field="answer_value"
        )
    return letter


class _Builder:
    """Turns validated records into example dicts, counting programs whose docstring is not the question."""

    def __init__(self, fmt: ExampleFormat):
        self.fmt = fmt
        self.replaced_docstrings = 0

    def example(self, record: Mapping[str, Any]) -> dict[str, Any]:
        question = record["question"]
        if not isinstance(question, str) or not question.strip():
            raise DataFormatError(f"empty question: {question!r}", field="question")
        question = question.strip()
        answer = self._answer(record.get("answer_value"), question)
        prompt = format_prompt(question)
        completion = self._target(record.get("answer_cot"), answer)
        prefix = ""
        if self.fmt.program_prefix_in_prompt:
            prefix = program_prefix(question)
            if completion is not None:
                completion = self._program_body(completion, question)
        return {
            "prompt": self._prompt(prompt, prefix),
            "completion": self._completion(completion),
            "answer": answer,
            "item_id": str(record["item_id"]),
            "question": question,
        }

    def _answer(self, value: Any, question: str) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataFormatError(f"missing answer: {value!r}", field="answer_value")
        if self.fmt.answer_kind == "number":
            return normalize_number(value)
        try:
            options = parse_options(question)
        except ValueError as error:
            raise DataFormatError(str(error), field="question") from None
        return normalize_choice(value, options)

    def _target(self, answer_cot: Any, answer: str) -> str | None:
        if answer_cot is None:
            return None
        if not isinstance(answer_cot, str) or not answer_cot.strip():
            raise DataFormatError(f"empty or non-text chain of thought: {answer_cot!r}", field="answer_cot")
        return format_ncot_target(answer_cot, answer) if self.fmt.cot == "ncot" else format_pcot_target(answer_cot)

    def _program_body(self, program: str, question: str) -> str:
        try:
            docstring, body = split_program(program)
        except ValueError as error:
            raise DataFormatError(str(error), field="answer_cot") from None
        if not body.strip():
            raise DataFormatError(f"program has no body after its docstring: {program[:60]!r}", field="answer_cot")
        if docstring != question:
            self.replaced_docstrings += 1
        return body

    def _prompt(self, prompt: str, prefix: str) -> str | list[dict[str, str]]:
        if self.fmt.template == "reft":
            return prompt + prefix
        messages = [{"role": "user", "content": prompt}]
        if prefix:
            messages.append({"role": "assistant", "content": prefix})
        return messages

    def _completion(self, completion: str | None) -> str | list[dict[str, str]] | None:
        if completion is None or self.fmt.template == "reft":
            return completion
        return [{"role": "assistant", "content": completion}]


def build_dataset(
    rows: Rows,
    to_record: RowMapper,
    *,
    source: str,
    fmt: ExampleFormat,
    skip_bad_rows: bool = False,
    limit: int | None = None,
) -> Dataset:
    """Map `rows` to ReFT records with `to_record`, validate them and build the dataset.

    A bad row raises `DataFormatError` naming `source`, the row, its item id and the field; with
    `skip_bad_rows=True` it is left out and a warning says how many were. `limit` keeps the first N examples.
    """
    check_limit(limit)
    builder = _Builder(fmt)
    examples: list[dict[str, Any]] = []
    skipped: list[DataFormatError] = []
    not_in_task = 0
    for index, row in rows:
        if limit is not None and len(examples) >= limit:
            break
        item_id = row.get("item_id") if isinstance(row, Mapping) else None
        try:
            if isinstance(row, DataFormatError):
                raise row
            record = to_record(row, index)
            if record is None:
                not_in_task += 1
                continue
            item_id = record.get("item_id", item_id)
            examples.append(builder.example(record))
        except DataFormatError as error:
            located = error.located(source=source, row=index, item_id=None if item_id is None else str(item_id))
            if not skip_bad_rows:
                raise located from None
            skipped.append(located)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} bad row(s) of {source}; first: {skipped[0]}", stacklevel=2)
    if not_in_task:
        logger.info("left out %d row(s) of %s that do not belong to this task", not_in_task, source)
    if builder.replaced_docstrings:
        logger.info(
            "%d program(s) in %s carry a docstring that differs from the question; with the program prefix in "
            "the prompt, their opening line is the question's instead",
            builder.replaced_docstrings,
            source,
        )
    return Dataset.from_dict({column: [example[column] for example in examples] for column in COLUMNS})


@dataclass(frozen=True)
class Source:
    """Where a dataset's rows come from, and how one row becomes a ReFT record."""

    name: str
    rows: Rows
    to_record: RowMapper


def reft_source(location: Any, item_prefix: str) -> Source:
    """A ReFT-format JSON / JSON-lines file: bundled, a local path or a URL."""
    name, rows = file_rows(location)
    return Source(name, rows, partial(reft_record, item_prefix=item_prefix))


def load_from_source(
    resolve: SourceResolver,
    fmt: ExampleFormat,
    split: str,
    source: str | None,
    *,
    skip_bad_rows: bool = False,
    limit: int | None = None,
) -> Dataset:
    """What every task loader does once its `fmt` is set: check the split, resolve `source` (None: the task's default)
    with the task's `resolve`, then `build_dataset` from the rows it names."""
    check_choice("split", split, SPLITS)
    resolved = resolve(fmt.cot, split, source)
    return build_dataset(
        resolved.rows, resolved.to_record, source=resolved.name, fmt=fmt, skip_bad_rows=skip_bad_rows, limit=limit
    )


def user_file_source(location: str | os.PathLike, item_prefix: str) -> Source:
    """A user's ReFT-format file, given as `source=`: a local path or a URL."""
    location = os.fspath(location)
    if not is_url(location) and not Path(location).is_file():
        raise FileNotFoundError(
            f"source {location!r} is neither one of {', '.join(map(repr, SOURCES))} nor an existing file or URL"
        )
    return reft_source(location, item_prefix)
