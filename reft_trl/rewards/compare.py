"""Is a predicted answer equal to the gold one? Plain numbers take a fast float path; the rest goes to math-verify.

The ReFT paper's code parses both sides with `float` and accepts an absolute difference of at most 1e-2 on
GSM8K, SVAMP and MathQA-numeric, and compares option letters as strings on MathQA multiple choice. This module
keeps that rule for plain numbers (with commas, `$`, `%` and simple fractions allowed), in this process, and hands
anything else (LaTeX, `\\sqrt{2}`, expressions) to math-verify in a worker process (`_compare_worker.py`) that is
killed when a comparison takes longer than `SYMBOLIC_TIMEOUT_S`: sympy can take hours on an answer such as
`9^9^9^9`, and a stalled reward stalls training. Answers that would obviously explode never reach sympy.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import math
import os
import re
import select
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reft_trl.answer_format import MULTIPLE_CHOICE_TASKS, TASKS

DEFAULT_TOLERANCE = 1e-2
"""Absolute tolerance of the paper's code (`abs(extracted - target) <= 1e-2`) on every numeric task."""

ROUNDING_SLACK = 1e-9
"""Added to the tolerance so that a difference of exactly the tolerance (18 - 17.99) counts despite binary rounding."""

MAX_MATH_VERIFY_CHARS = 200
"""Longer strings are not answers but runaway text; sending them to sympy would only cost time."""
MAX_EXPONENT = 10_000
"""A literal exponent above this (`2^{99999999}`) is refused without evaluating it."""
MAX_FACTORIAL_ARGUMENT = 1_000
"""A factorial of a literal above this (`100000!`) is refused without evaluating it."""
MAX_NESTING = 30
"""Brackets nested deeper than this are refused (sympy's parsers recurse on them)."""
SYMBOLIC_TIMEOUT_S = 3.0
"""Wall-clock seconds one symbolic comparison may take before its worker is killed and the answer scores 0."""
SYMBOLIC_MEMORY_BYTES = 1 << 30
"""Memory one symbolic comparison may add to its worker before allocations fail (and the answer scores 0)."""
SYMBOLIC_START_TIMEOUT_S = 120.0
"""Seconds the symbolic worker may take to start (importing math-verify and sympy on a loaded machine)."""
READ_CHUNK_BYTES = 65536
_COMPARE_WORKER = str(Path(__file__).with_name("_compare_worker.py"))

logger = logging.getLogger(__name__)

# `\d+(?:\.\d*)?` rather than `\d+\.?\d*`: two adjacent digit runs would backtrack quadratically on a long number
_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_SIMPLE_FRACTION = re.compile(r"([-+]?\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NUMBER_DECORATION = str.maketrans({"$": None, "%": None, "<": None, ">": None, "\u2212": "-"})
_LETTER_DECORATION = str.maketrans({'"': None, "'": None, "(": None, ")": None, ".": None, " ": None})


def canonical_task(task: str) -> str:
    """The task name used as a key here: lower case, `mathqa-numeric` (the ReFT item-id spelling) as `mathqa_numeric`.

    >>> canonical_task("MathQA-numeric")
    'mathqa_numeric'
    """
    name = task.strip().lower().replace("-", "_")
    if name not in TASKS:
        raise ValueError(f"Unknown task {task!r}; valid tasks: {', '.join(sorted(TASKS))}.")
    return name


def parse_number(text: str | None) -> float | None:
    """The value of a plain number written as a model or a dataset writes it, or None if `text` is anything else.

    Accepts a sign, thousands commas, `$`, `%`, `<...>` brackets, a trailing period, scientific notation and a
    simple fraction `a/b`. Words, units, expressions, underscores (`1_000`) and values that overflow a float
    (`1e999`) are not plain numbers: those return None.

    >>> parse_number("1,000")
    1000.0
    >>> parse_number("$18.00")
    18.0
    >>> parse_number("3/4")
    0.75
    >>> parse_number("-2.5e3")
    -2500.0
    >>> parse_number("<203>.")
    203.0
    >>> parse_number("18 dollars") is None, parse_number("1_000") is None, parse_number("1e999") is None
    (True, True, True)
    """
    value = _plain_value(text)
    return value if value is not None and math.isfinite(value) else None


def _plain_value(text: str | None) -> float | None:
    """`parse_number` without the finiteness check: `1e999` is inf here, so that it can be refused as such."""
    if text is None:
        return None
    cleaned = text.translate(_NUMBER_DECORATION).strip().rstrip(".").strip()
    if "," in cleaned:
        cleaned = _THOUSANDS_COMMA.sub("", cleaned)
    if _PLAIN_NUMBER.fullmatch(cleaned):
        return float(cleaned)
    fraction = _SIMPLE_FRACTION.fullmatch(cleaned)
    if fraction:
        denominator = float(fraction.group(2))
        return float(fraction.group(1)) / denominator if denominator else None
    return None


def normalize_choice(text: str) -> str:
    """An option letter as the paper's code compares it: lower case, without quotes, brackets, periods or spaces.

    >>> normalize_choice(" (C). ")
    'c'
    """
    return text.translate(_LETTER_DECORATION).lower()


def answers_match(predicted: str | None, gold: str, task: str, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    """Whether `predicted` is the gold answer of `task` (gsm8k, svamp, mathqa, mathqa_numeric).

    Multiple choice compares letters. Numeric tasks compare plain numbers with an absolute `tolerance`, in this
    process. When either side is not a plain number, math-verify compares them (symbolic equality, or the same
    tolerance when both sides evaluate to numbers) in a worker process that is killed after `SYMBOLIC_TIMEOUT_S`:
    an answer whose evaluation explodes scores no match instead of stalling the caller. Answers that would
    obviously explode (`9^9^9^9`, `100000!`, see `looks_explosive`), runaway text, underscores between digits and
    values that are not finite never match and never reach sympy.

    >>> answers_match("1,000", "1000.0", "gsm8k")
    True
    >>> answers_match("18.004", "18", "svamp")
    True
    >>> answers_match("18.5", "18", "gsm8k")
    False
    >>> answers_match("(C)", "c", "mathqa")
    True
    >>> answers_match(None, "18", "gsm8k")
    False
    >>> answers_match("9^9^9^9", "18", "gsm8k"), answers_match("1e999", "1e999", "gsm8k")
    (False, False)
    """
    if predicted is None:
        return False
    task = canonical_task(task)
    if task in MULTIPLE_CHOICE_TASKS:
        return normalize_choice(predicted) == normalize_choice(gold)
    predicted_value, gold_value = _plain_value(predicted), _plain_value(gold)
    if predicted_value is not None and gold_value is not None:
        finite = math.isfinite(predicted_value) and math.isfinite(gold_value)
        return finite and abs(predicted_value - gold_value) <= tolerance + ROUNDING_SLACK
    if _refused(predicted, predicted_value) or _refused(gold, gold_value):
        return False
    return default_comparer().match(predicted, gold, tolerance + ROUNDING_SLACK)


_DIGIT_UNDERSCORE = re.compile(r"\d_\d")
_POWER = re.compile(r"\^|\*\*")
_FACTORIAL = re.compile(r"!(?!=)")
_OPENING, _CLOSING = "({[", ")}]"
_OPERAND_RUN = re.compile(r"\\?[\w.]*")
_LITERAL = re.compile(r"[-+]?\d+(?:\.\d+)?")


def _refused(text: str, plain_value: float | None) -> bool:
    """Whether a side that is not compared as a plain number must not go to sympy at all."""
    if plain_value is not None:  # a plain number that overflows (`1e999`)
        return not math.isfinite(plain_value)
    return (
        not text.strip()
        or len(text) > MAX_MATH_VERIFY_CHARS
        or _DIGIT_UNDERSCORE.search(text) is not None
        or looks_explosive(text)
    )


def looks_explosive(text: str) -> bool:
    """Whether evaluating `text` could explode: a power tower, a huge literal exponent, a factorial of a large or
    compound argument, or brackets nested deeper than `MAX_NESTING`. A cheap refusal before sympy; whatever it lets
    through is still bounded by the worker's timeout.

    >>> [looks_explosive(t) for t in ("9^9^9^9", "2^{3^{4}}", "(9^9)^(9^9)", "2^{99999999}", "100000!", "(10^7)!")]
    [True, True, True, True, True, True]
    >>> [looks_explosive(t) for t in ("2^10", "(10^2)^3", "5!", "\\\\frac{3}{4}", "x != 5", "2^{-3} + 3^2")]
    [False, False, False, False, False, False]
    """
    depth = 0
    for char in text:
        if char in _OPENING:
            depth += 1
            if depth > MAX_NESTING:
                return True
        elif char in _CLOSING:
            depth = max(depth - 1, 0)
    for power in _POWER.finditer(text):
        exponent, end = _operand_after(text, power.end())
        if _POWER.search(exponent) or _FACTORIAL.search(exponent) or _POWER.match(text, _skip_spaces(text, end)):
            return True
        literal = _LITERAL.fullmatch(exponent.strip())
        if literal is not None and abs(float(literal.group())) > MAX_EXPONENT:
            return True
    for factorial in _FACTORIAL.finditer(text):
        argument = _operand_before(text, factorial.start())
        if _POWER.search(argument) or _FACTORIAL.search(argument):
            return True
        literal = _LITERAL.fullmatch(argument.strip())
        if literal is None or float(literal.group()) > MAX_FACTORIAL_ARGUMENT:
            return True
    return False


def _skip_spaces(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _operand_after(text: str, start: int) -> tuple[str, int]:
    """The operand that starts at `start`: a bracketed group (its inside) or a run of word characters, and its end."""
    start = _skip_spaces(text, start)
    if start < len(text) and text[start] in "+-":
        start = _skip_spaces(text, start + 1)
    if start < len(text) and text[start] in _OPENING:
        depth = 0
        for position in range(start, len(text)):
            if text[position] in _OPENING:
                depth += 1
            elif text[position] in _CLOSING:
                depth -= 1
                if depth == 0:
                    return text[start + 1 : position], position + 1
        return text[start + 1 :], len(text)
    end = _OPERAND_RUN.match(text, start).end()
    return text[start:end], end


def _operand_before(text: str, end: int) -> str:
    """The operand that ends at `end`: a bracketed group (its inside) or a run of word characters."""
    end = len(text[:end].rstrip())
    if end and text[end - 1] in _CLOSING:
        depth = 0
        for position in range(end - 1, -1, -1):
            if text[position] in _CLOSING:
                depth += 1
            elif text[position] in _OPENING:
                depth -= 1
                if depth == 0:
                    return text[position + 1 : end - 1]
        return text[: end - 1]
    start = end
    while start and (text[start - 1].isalnum() or text[start - 1] in "._"):
        start -= 1
    return text[start:end]


class SymbolicComparer:
    """math-verify in a worker process, bounded in time and memory: the caller never hangs on an answer.

    One comparison at a time (calls from several threads wait for each other). A comparison that is not answered
    within `timeout_s` scores no match; its worker is killed and a new one starts on the next call. A worker that
    cannot start at all (math-verify missing) raises `RuntimeError`; one that starts too slowly scores no match and
    is tried again on the next call.

    Args:
        timeout_s: wall-clock seconds per comparison.
        memory_bytes: memory one comparison may add to the worker.
        start_timeout_s: seconds the worker may take to import math-verify and sympy.

    >>> comparer = SymbolicComparer()
    >>> comparer.match("\\\\frac{3}{4}", "0.75", 1e-2), comparer.match("\\\\frac{1}{2}", "0.75", 1e-2)
    (True, False)
    >>> comparer.close()
    """

    def __init__(
        self,
        timeout_s: float = SYMBOLIC_TIMEOUT_S,
        memory_bytes: int = SYMBOLIC_MEMORY_BYTES,
        start_timeout_s: float = SYMBOLIC_START_TIMEOUT_S,
    ):
        if not timeout_s > 0 or not start_timeout_s > 0 or memory_bytes <= 0:
            raise ValueError(
                f"timeout_s, start_timeout_s and memory_bytes must be positive; got {timeout_s}, {start_timeout_s}, "
                f"{memory_bytes}"
            )
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen | None = None
        self._buffer = b""
        self._owner_pid = os.getpid()
        self._lock = threading.Lock()

    def match(self, predicted: str, gold: str, tolerance: float) -> bool:
        """Whether math-verify finds `predicted` equal to `gold` (numbers within the absolute `tolerance`)."""
        request = json.dumps({"predicted": predicted, "gold": gold, "tolerance": tolerance}).encode() + b"\n"
        with self._lock:
            for attempt in range(2):  # a worker that died on its own (not on a deadline) is replaced once
                process = self._running_worker()
                if process is None:
                    return False
                started = time.monotonic()
                try:
                    process.stdin.write(request)
                    process.stdin.flush()
                except OSError:
                    reply = None
                else:
                    reply = self._read_reply(self.timeout_s)
                if reply is not None and isinstance(reply.get("match"), bool):
                    return reply["match"]
                died_early = time.monotonic() - started < self.timeout_s  # not a timeout: the pipe closed
                self._stop()
                if died_early and not attempt:
                    continue
                logger.warning(
                    "symbolic comparison of %r with %r gave no answer within %.1f s%s; scored as no match",
                    predicted[:80],
                    gold[:80],
                    self.timeout_s,
                    " (its worker died)" if died_early else ", its worker is restarted",
                )
                return False
            return False

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _running_worker(self) -> subprocess.Popen | None:
        """The worker, started if needed; None if it did not start in time."""
        if os.getpid() != self._owner_pid:  # a forked copy of the caller: the worker's pipes are the parent's
            self._process, self._buffer, self._owner_pid = None, b"", os.getpid()
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._stop()
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self._process = _start_process(
            [sys.executable, _COMPARE_WORKER, str(self.memory_bytes), str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=environment,
            cwd="/",
            close_fds=True,
            start_new_session=True,  # the terminal's Ctrl-C goes to the caller only
        )
        reply = self._read_reply(self.start_timeout_s)
        if reply is not None and "error" in reply:
            self._stop()
            raise RuntimeError(
                f"The symbolic-comparison worker ({sys.executable} {_COMPARE_WORKER}) could not load math-verify: "
                f"{reply['error']}. Install it with `pip install math-verify`."
            )
        if reply is None or not reply.get("ready"):
            logger.warning(
                "the symbolic-comparison worker did not start within %.0f s; scored as no match, retrying on the "
                "next comparison",
                self.start_timeout_s,
            )
            self._stop()
            return None
        return self._process

    def _read_reply(self, timeout_s: float) -> dict | None:
        """The worker's next line as a dict; None if none came within `timeout_s`, or the worker died or wrote junk."""
        deadline = time.monotonic() + timeout_s
        stdout = self._process.stdout.fileno()
        poller = select.poll()
        poller.register(stdout, select.POLLIN)
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                return None
            chunk = os.read(stdout, READ_CHUNK_BYTES)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            reply = json.loads(line)
        except ValueError:
            return None
        return reply if isinstance(reply, dict) else None

    def _stop(self) -> None:
        """Kill the worker (if any) and forget what it had written."""
        process, self._process, self._buffer = self._process, None, b""
        if process is None:
            return
        with contextlib.suppress(OSError):
            process.kill()
        for stream in (process.stdin, process.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        process.wait()


_default_comparer: SymbolicComparer | None = None
_default_lock = threading.Lock()
_launchers: dict[int, ThreadPoolExecutor] = {}


def _start_process(command: list[str], **options) -> subprocess.Popen:
    """`subprocess.Popen` run by a thread that lives as long as this process. The worker dies with the thread that
    started it (its parent-death signal), so a caller's short-lived thread must not be that thread."""
    with _default_lock:
        launcher = _launchers.get(os.getpid())  # threads do not survive a fork: one launcher per process
        if launcher is None:
            launcher = _launchers[os.getpid()] = ThreadPoolExecutor(1, thread_name_prefix="symbolic-worker-launcher")
    return launcher.submit(subprocess.Popen, command, **options).result()


def default_comparer() -> SymbolicComparer:
    """The shared `SymbolicComparer` of `answers_match`, created on first use and closed at exit."""
    global _default_comparer
    with _default_lock:
        if _default_comparer is None:
            _default_comparer = SymbolicComparer()
            atexit.register(_default_comparer.close)
        return _default_comparer
