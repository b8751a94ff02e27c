"""What an evaluation leaves behind: per-question JSON lines written as they finish, a summary JSON, a text table.

>>> print(format_table([("task", "svamp"), ("accuracy", "41.20%")]))
task      svamp
accuracy  41.20%
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

PREDICTIONS_SUFFIX = ".predictions.jsonl"
SUMMARY_SUFFIX = ".summary.json"
VERSIONED_PACKAGES = ("reft_trl", "torch", "transformers", "trl", "datasets", "vllm")


def run_name(task: str, cot: str, mode: str, k: int) -> str:
    """The stem of a run's files: one per task, chain-of-thought kind, mode and k, so runs share a folder.

    >>> run_name("svamp", "ncot", "greedy", 1), run_name("gsm8k", "pcot", "voting", 100)
    ('svamp-ncot-greedy', 'gsm8k-pcot-voting@100')
    >>> run_name("gsm8k", "ncot", "pass@k", 8)
    'gsm8k-ncot-pass@8'
    """
    if mode == "greedy":
        return f"{task}-{cot}-greedy"
    return f"{task}-{cot}-{mode.removesuffix('@k')}@{k}"


RECORD_FIELDS = {"item_id": (str, int), "completions": list, "extracted": list, "correct": list, "score": (int, float)}
"""The fields of a question's record that resuming and the summary read, with their JSON types."""
OPTIONAL_RECORD_FIELDS = {"prompt_sha256": str}
"""Fields of a record that resuming reads when they are there, with their JSON types: `prompt_sha256`, the digest of
the prompt the completions were generated from (`reft_trl.evaluation.evaluator.prompt_digest`), absent from files
written before records had it."""
MAX_REPORTED_LINES = 10
"""Bad lines named one by one in the warning of `read_predictions`; the rest are counted."""


class PredictionWriter:
    """Appends one JSON object per line and flushes it, so an interrupted run keeps every finished question.

    Appending continues on a line of its own: a last line that an interruption cut short (not JSON) is dropped, any
    other last line without a newline gets one. Text that UTF-8 cannot encode (a lone surrogate) is written as a
    JSON escape, which reads back as the same string.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "run.predictions.jsonl"
    >>> record = {"item_id": "svamp_0", "completions": ["7"], "extracted": ["7"], "correct": [True], "score": 1.0}
    >>> with PredictionWriter(path) as writer:
    ...     writer.write(record)
    >>> read_predictions(path) == [record]
    True
    """

    def __init__(self, path: str | os.PathLike, append: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if append:
            _end_last_line(self.path)
        self._file = self.path.open("a" if append else "w", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._file.write(_json_line(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def read_predictions(path: str | os.PathLike) -> list[dict]:
    """The good records of a predictions file, in file order; the file itself is left as it is.

    A line that is not a record is skipped: cut short by an interruption (also inside a UTF-8 character), not
    JSON, not an object, without a field of `RECORD_FIELDS`, or with a field of `RECORD_FIELDS` or
    `OPTIONAL_RECORD_FIELDS` of another type. So is a later record of an `item_id` seen before
    (a question is evaluated once). One warning names the file and the lines skipped, with the reason for each.
    """
    path = Path(path)
    if not path.is_file():
        return []
    records, seen, skipped = [], {}, []
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not line.strip():
            continue
        record, problem = _parse_record(line)
        if problem is None and record["item_id"] in seen:
            problem = f"item_id {record['item_id']!r} again (first on line {seen[record['item_id']]})"
        if problem is not None:
            skipped.append(f"line {number} ({problem})")
            continue
        seen[record["item_id"]] = number
        records.append(record)
    if skipped:
        named = ", ".join(skipped[:MAX_REPORTED_LINES])
        more = f" and {len(skipped) - MAX_REPORTED_LINES} more" if len(skipped) > MAX_REPORTED_LINES else ""
        warnings.warn(
            f"{path}: skipped {len(skipped)} line(s) that are not predictions records: {named}{more}; kept "
            f"{len(records)} record(s). Their questions are evaluated again on --resume.",
            stacklevel=2,
        )
    return records


def check_unique_item_ids(item_ids: Sequence) -> None:
    """Raise `ValueError` if an item id repeats: predictions are resumed and counted by `item_id`, so a repeated id
    would leave a resumed run short of questions (`complete: false`) for ever.

    >>> check_unique_item_ids(["svamp_0", "svamp_1", "svamp_0"])
    Traceback (most recent call last):
    ...
    ValueError: The dataset repeats item_id 'svamp_0' (rows 0 and 2); evaluation keys its predictions by item_id: give each question its own id, or drop the repeat.
    """
    first_row = {}
    for row, item_id in enumerate(item_ids):
        if item_id in first_row:
            raise ValueError(
                f"The dataset repeats item_id {item_id!r} (rows {first_row[item_id]} and {row}); evaluation keys its "
                "predictions by item_id: give each question its own id, or drop the repeat."
            )
        first_row[item_id] = row


def _parse_record(line: bytes) -> tuple[dict | None, str | None]:
    """`(record, None)` for a good line, `(None, reason)` otherwise."""
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8 text, cut short?"
    except (ValueError, RecursionError):
        return None, "not JSON, cut short?"
    if not isinstance(record, dict):
        return None, f"a JSON {type(record).__name__}, not an object"
    for field, kind in RECORD_FIELDS.items():
        if field not in record:
            return None, f"no field {field!r}"
        if not isinstance(record[field], kind) or isinstance(record[field], bool):
            return None, f"field {field!r} is a {type(record[field]).__name__}"
    for field, kind in OPTIONAL_RECORD_FIELDS.items():
        if field in record and not isinstance(record[field], kind):
            return None, f"field {field!r} is a {type(record[field]).__name__}"
    if not len(record["completions"]) == len(record["extracted"]) == len(record["correct"]):
        return None, "completions, extracted and correct differ in length"
    if isinstance(record["score"], float) and not math.isfinite(record["score"]):
        return None, f"score {record['score']} is not finite"
    return record, None


def _end_last_line(path: Path) -> None:
    """Make the file end with a newline: drop an unfinished last line (not JSON), or end a finished one."""
    if not path.is_file():
        return
    with path.open("r+b") as file:
        data = file.read()
        if not data or data.endswith(b"\n"):
            return
        start = data.rfind(b"\n") + 1
        try:
            json.loads(data[start:].decode("utf-8"))
        except (ValueError, RecursionError):
            file.truncate(start)
        else:
            file.write(b"\n")


def _json_line(record) -> str:
    """`record` as one line of JSON, non-ASCII text kept as is unless UTF-8 cannot encode it (lone surrogates)."""
    line = json.dumps(record, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(record)
    return line


def write_summary(path: str | os.PathLike, summary: dict) -> None:
    """Write the summary JSON through a temporary file, so a reader never sees half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    text = json.dumps(summary, indent=2, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(summary, indent=2)
    temporary.write_text(text + "\n", encoding="utf-8")
    os.replace(temporary, path)


def format_table(rows: Sequence[tuple[str, object]]) -> str:
    """Two left-aligned plain-text columns, names and values."""
    width = max((len(name) for name, _ in rows), default=0)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def summary_table(summary: dict) -> str:
    """The headline numbers of an evaluation summary as a plain-text table."""
    timings = summary.get("timings", {})
    rows = [
        ("model", summary.get("model")),
        ("task", f"{summary['task']} ({summary['cot']})"),
        ("mode", summary["mode"] if summary["mode"] == "greedy" else f"{summary['mode']} (k={summary['k']})"),
        ("extraction", "strict" if summary["strict"] else "flexible"),
        ("questions", summary["n"]),
        ("accuracy", f"{100 * summary['accuracy']:.2f}%"),
        ("any sample correct", f"{100 * summary['upper_bound']:.2f}%"),
        ("unextractable", f"{100 * summary['unextractable']:.2f}%"),
        ("time", f"{timings.get('total_s', 0.0):.1f} s"),
    ]
    return format_table(rows)


def package_versions() -> dict[str, str]:
    """Versions of the packages an evaluation depends on; those not installed are left out."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = version(name.replace("_", "-"))
        except PackageNotFoundError:
            continue
    return versions
