"""Reading raw rows: bundled files, local JSON / JSON-lines files or URLs, and Hugging Face Hub datasets.

Every reader yields `(row_index, row)` pairs. A JSON-lines line that does not parse is yielded as a
`DataFormatError` in place of its row, so that the loader can skip it (`skip_bad_rows=True`) or raise it.
"""

from __future__ import annotations

import json
import math
import os
import urllib.request
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import DataFormatError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

URL_SCHEMES = ("http://", "https://", "file://")
URL_TIMEOUT_ENV = "REFT_TRL_URL_TIMEOUT"
DEFAULT_URL_TIMEOUT = 60.0
"""Seconds a data URL may stay silent before reading it fails (`REFT_TRL_URL_TIMEOUT` overrides it)."""

Rows = Iterator[tuple[int, Any]]


def bundled_file(task_dir: str, name: str) -> Traversable:
    """A data file shipped inside the package under `reft_trl/data/bundled/{task_dir}/{name}`.

    >>> bundled_file("gsm8k", "test.jsonl").name
    'test.jsonl'
    """
    return files("reft_trl.data") / "bundled" / task_dir / name


def is_url(location: str) -> bool:
    """Whether `location` names a URL rather than a local path.

    >>> is_url("https://example.org/train.json"), is_url("data/train.json")
    (True, False)
    """
    return location.startswith(URL_SCHEMES)


def url_timeout() -> float:
    """Seconds to wait for a data server: `REFT_TRL_URL_TIMEOUT` when set, else `DEFAULT_URL_TIMEOUT`."""
    value = os.environ.get(URL_TIMEOUT_ENV)
    if value is None:
        return DEFAULT_URL_TIMEOUT
    try:
        timeout = float(value)
    except ValueError:
        timeout = math.nan
    if not timeout > 0 or not math.isfinite(timeout):
        raise ValueError(f"{URL_TIMEOUT_ENV}={value!r}: set it to a number of seconds > 0.")
    return timeout


def read_text(location: str | Path | Traversable) -> str:
    """The UTF-8 text of a local path, a bundled file or a URL (a leading byte-order mark is dropped)."""
    source = str(location)
    if isinstance(location, str) and is_url(location):
        data = _read_url(location)
    else:
        if isinstance(location, str):
            location = Path(location)
        if not location.is_file():
            raise FileNotFoundError(f"no such data file: {location}")
        data = location.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataFormatError(
            f"not UTF-8 text: byte {error.start} (0x{data[error.start]:02x}) cannot be decoded; save the file as "
            "UTF-8 (a Latin-1 file, for instance: `iconv -f latin1 -t utf-8`)",
            source=source,
            line=line,
        ) from None


def _read_url(url: str) -> bytes:
    timeout = url_timeout()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except OSError as error:  # urllib's URLError and TimeoutError are OSErrors
        if isinstance(error, TimeoutError) or isinstance(getattr(error, "reason", None), TimeoutError):
            raise TimeoutError(
                f"{url}: no answer within {timeout:g} s; check the server, or allow longer with "
                f"{URL_TIMEOUT_ENV}=<seconds>"
            ) from error
        raise OSError(f"{url}: cannot be read ({getattr(error, 'reason', error)})") from error


def json_rows(text: str, source: str) -> Rows:
    """Rows of a JSON array (`[{...}, ...]`) or of JSON lines (one object a line), told apart by the first character.

    Blank lines are ignored; in JSON lines the row index is the 0-based line index.

    >>> list(json_rows('[{"a": 1}, {"a": 2}]', "x.json"))
    [(0, {'a': 1}), (1, {'a': 2})]
    >>> list(json_rows('{"a": 1}\\n\\n{"a": 2}\\n', "x.jsonl"))
    [(0, {'a': 1}), (2, {'a': 2})]
    """
    if not text.strip():
        raise DataFormatError("the file is empty: it holds no rows", source=source)
    if text.lstrip().startswith("["):
        yield from enumerate(_json_array(text, source))
        return
    for line_index, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            yield line_index, json.loads(line)
        except json.JSONDecodeError as error:
            yield line_index, DataFormatError(f"malformed JSON line: {error.msg}", source=source, line=line_index + 1)


def _json_array(text: str, source: str) -> list:
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataFormatError(
            f"malformed JSON: {error.msg} (column {error.colno})", source=source, line=error.lineno
        ) from None
    if rows == []:
        raise DataFormatError("the file holds an empty JSON array: no rows", source=source)
    return rows


def file_rows(location: str | Path | Traversable) -> tuple[str, Rows]:
    """`(source_name, rows)` for a local path, bundled file or URL holding JSON or JSON lines."""
    source = str(location)
    return source, json_rows(read_text(location), source)


def hub_rows(dataset_id: str, split: str, config: str | None = None) -> tuple[str, Rows]:
    """`(source_name, rows)` of a Hugging Face Hub dataset split (needs network access or a warm cache)."""
    from datasets import load_dataset

    dataset = load_dataset(dataset_id, config, split=split)
    name = f"{dataset_id}[{config}]" if config else dataset_id
    return f"hub:{name}/{split}", enumerate(dataset)
