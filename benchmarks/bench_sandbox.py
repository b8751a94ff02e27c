"""Programs per second through the isolated sandbox, side by side with the ReFT authors' unisolated process pool.

Inputs: the real P-CoT programs of the bundled SVAMP training set (`answer_cot`), checked against `answer_value`.

* ``sandbox``: `reft_trl.rewards.sandbox.ProgramSandbox`, one warm worker per core, every program in a fresh jailed
  child (namespaces, uid 65534, Landlock, seccomp, rlimits where the machine allows them).
* ``sandbox, sympy template``: the same programs with ``import sympy`` prepended, so each is forked from the
  worker's heavier sympy template (as GSM8K programs that use sympy are).
* ``authors' pool``: what mwp_ReFT's `src/python_engine.py` does, with the standard library instead of pebble:
  a `ProcessPoolExecutor` whose workers pre-import math and sympy and `exec` each program in the worker itself
  (no isolation), then ``eval("solution()")``, with a 10 s timeout on each result.

Both run in the same process, one after the other, for ``--rounds`` rounds; the median round is reported.

    python benchmarks/bench_sandbox.py            # all 3,043 programs
    python benchmarks/bench_sandbox.py --n 500    # a quick run
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reft_trl.rewards.sandbox import ProgramSandbox, SandboxLimits  # noqa: E402

DATA = REPO / "reft_trl" / "data" / "bundled" / "svamp" / "reft_train_pcot.json"
AUTHORS_TIMEOUT_S = 10.0  # mwp_ReFT runs programs with a 10 s timeout
ANSWER_TOLERANCE = 1e-4
WARMUP_PROGRAMS = 32


def load_programs(n: int | None) -> tuple[list[str], list[float]]:
    records = json.loads(DATA.read_text())[:n]
    return [r["answer_cot"] for r in records], [float(r["answer_value"]) for r in records]


def is_correct(value: object, gold: float) -> bool:
    try:
        return math.isclose(float(value), gold, rel_tol=ANSWER_TOLERANCE, abs_tol=ANSWER_TOLERANCE)
    except (TypeError, ValueError, OverflowError):
        return False


# The authors' approach --------------------------------------------------------------------------------------------


def _authors_initializer() -> None:
    global _AUTHORS_GLOBALS
    import sympy  # noqa: F401  (imported once per worker, as their pool's module-level import does)

    _AUTHORS_GLOBALS = {"math": math, "sympy": sys.modules["sympy"]}


def _authors_run(code: str) -> object:
    global_vars, local_vars = dict(_AUTHORS_GLOBALS), {}
    exec(code, global_vars, local_vars)
    try:
        return eval("solution()", global_vars, local_vars)
    except Exception:
        return None


def run_authors(pool: concurrent.futures.ProcessPoolExecutor, codes: list[str], batch_size: int) -> list[object]:
    values = []
    for start in range(0, len(codes), batch_size):
        futures = [pool.submit(_authors_run, code) for code in codes[start : start + batch_size]]
        for future in futures:
            try:
                values.append(future.result(timeout=AUTHORS_TIMEOUT_S))
            except Exception:
                values.append(None)
    return values


# The sandbox ------------------------------------------------------------------------------------------------------


def run_sandbox(sandbox: ProgramSandbox, codes: list[str], batch_size: int) -> list[object]:
    values = []
    for start in range(0, len(codes), batch_size):
        values += [r.value if r.ok else None for r in sandbox.run_many(codes[start : start + batch_size])]
    return values


# Reporting --------------------------------------------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    import sympy

    return {
        "cpus (sched_getaffinity)": str(len(os.sched_getaffinity(0))),
        "cpu model": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sympy": sympy.__version__,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def measure(label: str, run, codes: list[str], gold: list[float], rounds: int) -> dict:
    rates, correct, returned = [], None, None
    for _ in range(rounds):
        start = time.perf_counter()
        values = run(codes)
        elapsed = time.perf_counter() - start
        rates.append(len(codes) / elapsed)
        returned = sum(v is not None for v in values)
        correct = sum(is_correct(v, g) for v, g in zip(values, gold))
    rate = statistics.median(rates)
    print(f"  {label:28s} {rate:8.1f} programs/s  (rounds: {', '.join(f'{r:.1f}' for r in rates)})  "
          f"returned {returned}/{len(codes)}, equal to answer_value {correct}/{len(codes)}")  # fmt: skip
    return {"rate": rate, "correct": correct}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="programs to run (default: all 3,043)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per CPU)")
    parser.add_argument("--batch-size", type=int, default=256, help="programs per call, as a reward batch")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per approach; the median is reported")
    args = parser.parse_args()

    workers = args.workers or len(os.sched_getaffinity(0))
    codes, gold = load_programs(args.n)
    sympy_codes = ["import sympy\n" + code for code in codes]
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable
    print(f"command: {' '.join([python, *sys.argv])}")
    for key, value in machine_info().items():
        print(f"{key}: {value}")
    print(f"programs: {len(codes)} from {DATA.relative_to(REPO)}; workers: {workers}; batch size: {args.batch_size}")

    start = time.perf_counter()
    sandbox = ProgramSandbox(num_workers=workers, limits=SandboxLimits(timeout=AUTHORS_TIMEOUT_S))
    sandbox.run_many(codes[:WARMUP_PROGRAMS] + sympy_codes[:WARMUP_PROGRAMS])
    sandbox_start_s = time.perf_counter() - start
    start = time.perf_counter()
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, initializer=_authors_initializer)
    run_authors(pool, codes[:WARMUP_PROGRAMS], args.batch_size)
    pool_start_s = time.perf_counter() - start
    print(f"sandbox isolation: {sandbox.capabilities.describe()}")
    print(f"start-up (workers + warm-up): sandbox {sandbox_start_s:.2f} s, authors' pool {pool_start_s:.2f} s")

    try:
        ours = measure("sandbox", lambda c: run_sandbox(sandbox, c, args.batch_size), codes, gold, args.rounds)
        heavy = measure(
            "sandbox, sympy template",
            lambda c: run_sandbox(sandbox, c, args.batch_size),
            sympy_codes,
            gold,
            args.rounds,
        )
        theirs = measure("authors' pool (no isolation)", lambda c: run_authors(pool, c, args.batch_size), codes, gold,
                         args.rounds)  # fmt: skip
    finally:
        sandbox.close()
        pool.shutdown()
    print(f"ratio sandbox / authors' pool: {ours['rate'] / theirs['rate']:.3f} "
          f"(sympy template: {heavy['rate'] / theirs['rate']:.3f})")  # fmt: skip
    print("end load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
