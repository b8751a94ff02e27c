"""Symbolic-comparison worker: a long-lived process that runs math-verify for `reft_trl.rewards.compare`.

Sympy can hang on an answer whose value explodes (`9^9^9^9` makes `evalf` build a number of hundreds of millions of
digits, in C, where neither signals nor math-verify's own timeouts reach it). So the comparison never runs in the
caller's process: `compare.SymbolicComparer` starts this script as ``python _compare_worker.py <memory bytes>``,
sends one request per line (JSON: ``{"predicted", "gold", "tolerance"}``) and reads one answer per line
(``{"match": bool}``). An answer that is late gets the worker killed and restarted by the caller. Here the worker
caps its own address space, so a comparison that runs out of memory fails with `MemoryError` instead of swapping.

It imports only the standard library until it loads math-verify, so it starts with any Python that has
math-verify installed.
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import os
import resource
import signal
import sys

MATH_VERIFY_PARSING_TIMEOUT_S = 1
MATH_VERIFY_TIMEOUT_S = 1
"""math-verify's own (signal) timeouts: they stop the slow pure-Python cases early; the caller's kill stops the rest."""
PR_SET_PDEATHSIG = 1
WARM_UP = ("\\frac{3}{4}", "0.75")


def verify_match(predicted: str, gold: str, tolerance: float) -> bool:
    """Symbolic comparison for answers that are not plain numbers (LaTeX, radicals, expressions).

    Both sides are parsed; when both are numbers their values are compared with the absolute `tolerance`,
    otherwise math-verify decides. Infinities and NaN never match.
    """
    from math_verify import parse, verify

    gold_parsed = parse(_as_latex(gold), parsing_timeout=MATH_VERIFY_PARSING_TIMEOUT_S)
    predicted_parsed = parse(_as_latex(predicted), parsing_timeout=MATH_VERIFY_PARSING_TIMEOUT_S)
    if not gold_parsed or not predicted_parsed:
        return False
    if _has_non_finite(gold_parsed[0]) or _has_non_finite(predicted_parsed[0]):
        return False
    gold_value, predicted_value = _numeric_value(gold_parsed[0]), _numeric_value(predicted_parsed[0])
    if gold_value is not None and predicted_value is not None:
        return abs(predicted_value - gold_value) <= tolerance
    return bool(verify(gold_parsed, predicted_parsed, timeout_seconds=MATH_VERIFY_TIMEOUT_S))


def _as_latex(text: str) -> str:
    """math-verify reads LaTeX such as `\\sqrt{2}` or `5\\pi` correctly only between `$` delimiters."""
    text = text.strip()
    return f"${text}$" if "\\" in text and "$" not in text else text


def _has_non_finite(expression) -> bool:
    import sympy

    has = getattr(expression, "has", None)
    return bool(has is not None and has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan))


def _numeric_value(expression) -> float | None:
    """The float value of a parsed sympy expression that is a number (`3/4`, `sqrt(2)`), else None."""
    if not getattr(expression, "is_number", False):
        return None
    try:
        value = complex(expression.evalf())
    except (TypeError, ValueError, OverflowError):
        return None
    return value.real if value.imag == 0 and math.isfinite(value.real) else None


def _die_with_parent(parent_pid: int) -> None:
    """SIGKILL when the caller dies, even in the middle of a computation that never returns to Python."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the worker still exits at the end of its input
        return
    if os.getppid() != parent_pid:  # the caller died before prctl took effect
        os._exit(0)


def _cap_address_space(extra_bytes: int) -> None:
    """Let the worker grow by `extra_bytes` beyond what it holds now; past that, allocations fail."""
    try:
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = current + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _reply(out, message: dict) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def main() -> None:
    script_dir = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [path for path in sys.path if os.path.abspath(path or ".") != script_dir]  # no shadowing modules
    memory_bytes, parent_pid = int(sys.argv[1]), int(sys.argv[2])
    _die_with_parent(parent_pid)
    out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # a stray print must never corrupt the protocol
    logging.disable(logging.WARNING)  # math-verify logs every timeout; the caller reports what matters
    try:
        verify_match(*WARM_UP, 1e-2)  # imports math-verify and sympy's lazily loaded parts now, not on a deadline
    except Exception as exc:
        _reply(out, {"error": f"{type(exc).__name__}: {exc}"[:500]})
        return
    _cap_address_space(memory_bytes)
    _reply(out, {"ready": True})
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
            match = verify_match(str(request["predicted"]), str(request["gold"]), float(request["tolerance"]))
        except Exception:  # sympy gave up (RecursionError, MemoryError, ...): not a match
            match = False
        _reply(out, {"match": match})


if __name__ == "__main__":
    main()
