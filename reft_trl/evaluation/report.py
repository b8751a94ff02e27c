"""What an evaluation leaves behind: per-question JSON lines written as they finish, a summary JSON, a text table.

>>> print(format_table([("task", "svamp"), ("accuracy", "41.20%")]))
task      svamp
accuracy  41.20%
"""

from __future__ import annotations

import json
import os
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


class PredictionWriter:
    """Appends one JSON object per line and flushes it, so an interrupted run keeps every finished question.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "run.predictions.jsonl"
    >>> with PredictionWriter(path) as writer:
    ...     writer.write({"item_id": "svamp_0", "score": 1.0})
    >>> read_predictions(path)
    [{'item_id': 'svamp_0', 'score': 1.0}]
    """

    def __init__(self, path: str | os.PathLike, append: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a" if append else "w", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def read_predictions(path: str | os.PathLike) -> list[dict]:
    """The records of a predictions file; a last line cut short by an interruption is left out (and cut off the file,
    so appending resumes on a clean line)."""
    path = Path(path)
    if not path.is_file():
        return []
    records, good_bytes = [], 0
    with path.open("rb") as file:
        for line in file:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
            good_bytes += len(line)
    if good_bytes < path.stat().st_size:
        with path.open("r+b") as file:
            file.truncate(good_bytes)
    return records


def write_summary(path: str | os.PathLike, summary: dict) -> None:
    """Write the summary JSON through a temporary file, so a reader never sees half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
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
