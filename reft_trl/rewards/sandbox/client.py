"""Run untrusted P-CoT programs (``def solution(): ...``) in isolated worker processes.

A P-CoT completion is Python written by the policy model. Running it means exec'ing the code in a fresh namespace
(``math`` and ``sympy`` pre-bound, as in the ReFT authors' runner), calling ``solution()`` and keeping its return
value. The code is untrusted, so it never runs in the caller's process: a pool of long-lived worker processes
(``_sandbox_worker.py``, started with ``subprocess``, never forked from the trainer) forks one jailed child per
program from a warm template that has already imported ``math``, ``sympy`` and friends.

What each program gets (``docs/sandbox.md`` has the full list, with what each layer stops):

* always: its own process (forked from a worker, never from the trainer) and session, an empty directory as
  cwd/HOME/TMPDIR, an environment of fixed variables (no secrets), rlimits on address space, CPU seconds, file
  size, open files, locked memory, message queues, core dumps and processes, a wall-clock limit enforced by the
  worker (SIGKILL), and stdout/stderr counted and capped by the worker;
* with root: new network (only a down loopback), PID, mount and IPC namespaces per worker, a fresh ``/proc`` and
  private root-owned tmpfs over ``/tmp``, ``/var/tmp``, ``/dev/shm`` and ``/run/lock``, and uid/gid 65534
  (``nobody``) with no groups, under which ``RLIMIT_NPROC = 0`` also forbids processes and threads;
* where the kernel has Landlock (5.13+): reads only under the interpreter's directories and the system libraries,
  writes only under the worker's private temporary root (wiped after every program), and, by ABI, no TCP and no
  signals or abstract sockets outside itself;
* on x86_64 and aarch64: a seccomp filter failing fork/clone, exec, kill/tgkill, socket, ptrace, namespaces,
  mounts, chmod/chown/xattrs/utimes, bpf, io_uring, keyrings and similar with EPERM.

Not isolated: CPU time, caches and memory bandwidth are shared with the trainer; the kernel itself (a deny-list
filter, not a VM); without Landlock, every file readable by the program's uid (world-readable files as root, all
the user's files without root); without root and Landlock, the user's files can be written and ``/proc`` of the
user's processes read; without root and seccomp, the user's processes can be signalled. Which layers are active is
reported by `sandbox_capabilities()` / `ProgramSandbox.capabilities` and logged once per pool.

>>> run_program("def solution():\\n    return 29 * 7\\n")
ProgramResult(ok=True, value=203, error=None)
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import math
import os
import selectors
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field

from . import _sandbox_worker as worker_protocol

logger = logging.getLogger(__name__)

WORKER_SCRIPT = worker_protocol.__file__
WORKER_START_TIMEOUT_S = 120.0  # importing sympy on a loaded 2-core machine
RESPONSE_GRACE_S = 10.0  # beyond a program's wall-clock limit, before the pool gives up on its worker
PIPELINE_DEPTH = 2  # programs queued per worker, so it starts the next one without waiting for the pool
PIPELINED_FRAME_MAX_BYTES = 16 * 1024  # well under the 64 KiB a Linux pipe holds
WORKER_EXIT_GRACE_S = 2.0  # an idle worker exits at end of input; after this it is killed
MAX_WORKER_START_FAILURES = 3
MAX_CODE_CHARS = 200_000
MAX_STDERR_TAIL_BYTES = 4096
READ_CHUNK_BYTES = 65536
WORKER_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
LAYERS = ("namespaces", "uid", "landlock", "seccomp")


@dataclass(frozen=True)
class ProgramResult:
    """The outcome of one program.

    ``ok`` is True when the program ran and ``solution()`` returned. ``value`` is that return value: int, finite
    float, str, bool and None as they are (strings capped at ``max_value_chars``), anything else as its capped
    ``repr`` (an infinity as ``"inf"``). Strings never hold a lone surrogate: it comes back escaped (``"\\ud800"``),
    so every value can be written as UTF-8. ``error`` is a short reason when ``ok`` is False: ``"timeout"``,
    ``"cpu limit"``, ``"memory"``, ``"exit"``, ``"output limit"``, ``"file size limit"``, ``"no solution() defined"``,
    ``"killed by SIGSEGV"``, ``"malformed result"`` (the program wrote something other than a scalar into the results
    channel itself), or the exception, e.g. ``"ZeroDivisionError: division by zero"``.
    """

    ok: bool
    value: object
    error: str | None


@dataclass(frozen=True)
class SandboxLimits:
    """Per-program limits. Defaults follow the ReFT authors' 10 s timeout; the rest are ours."""

    timeout: float = 10.0
    """Wall-clock seconds before the worker SIGKILLs the program (mwp_ReFT `src/python_engine.py`: 10 s)."""
    cpu_seconds: int | None = None
    """RLIMIT_CPU: SIGXCPU after this many CPU seconds, SIGKILL one later. None: ``ceil(timeout)``."""
    memory_bytes: int = 1 << 30
    """Address space the program may add to the worker's own (RLIMIT_AS = worker's size + this)."""
    max_output_bytes: int = 1 << 20
    """Bytes of stdout + stderr before the program is killed with ``error="output limit"``."""
    max_file_bytes: int = 16 << 20
    """RLIMIT_FSIZE: the largest file the program may write in its directory."""
    max_open_files: int = 64
    """RLIMIT_NOFILE."""
    max_value_chars: int = 1000
    """Cap on a returned string, or on the repr of a returned non-scalar."""

    def __post_init__(self):
        if not self.timeout > 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")
        for name in ("memory_bytes", "max_output_bytes", "max_file_bytes", "max_open_files", "max_value_chars"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.cpu_seconds is not None and self.cpu_seconds <= 0:
            raise ValueError(f"cpu_seconds must be positive or None, got {self.cpu_seconds}")

    def to_wire(self) -> dict:
        wire = asdict(self)
        wire["cpu_seconds"] = self.cpu_seconds or max(1, math.ceil(self.timeout))
        return wire


@dataclass(frozen=True)
class SandboxCapabilities:
    """The isolation layers a pool's workers apply, as they reported them at start-up."""

    root: bool
    namespaces: tuple[str, ...]
    private_mounts: tuple[str, ...]
    sandbox_uid: int | None
    seccomp_arch: str | None
    landlock_abi: int
    preloaded: tuple[str, ...]
    python: str
    kernel: str
    namespace_error: str | None = field(default=None, compare=False)

    @classmethod
    def from_report(cls, report: dict) -> SandboxCapabilities:
        return cls(
            root=bool(report["root"]),
            namespaces=tuple(report["namespaces"]),
            private_mounts=tuple(report["private_mounts"]),
            sandbox_uid=report["sandbox_uid"],
            seccomp_arch=report["seccomp_arch"],
            landlock_abi=int(report["landlock_abi"]),
            preloaded=tuple(report["preloaded"]),
            python=report["python"],
            kernel=report["kernel"],
            namespace_error=report.get("namespace_error"),
        )

    @property
    def layers(self) -> tuple[str, ...]:
        """The active optional layers, out of ``LAYERS``."""
        active = {
            "namespaces": bool(self.namespaces),
            "uid": self.sandbox_uid is not None,
            "landlock": self.landlock_abi > 0,
            "seccomp": self.seccomp_arch is not None,
        }
        return tuple(layer for layer in LAYERS if active[layer])

    def describe(self) -> str:
        parts = ["process+rlimits+tmpdir+clean env"]
        if self.namespaces:
            parts.append(f"namespaces({','.join(self.namespaces)})")
        if self.sandbox_uid is not None:
            parts.append(f"uid {self.sandbox_uid}")
        if self.landlock_abi:
            parts.append(f"landlock v{self.landlock_abi}")
        if self.seccomp_arch:
            parts.append(f"seccomp({self.seccomp_arch})")
        missing = [layer for layer in LAYERS if layer not in self.layers]
        suffix = f"; missing: {', '.join(missing)}" if missing else ""
        return " + ".join(parts) + suffix


def available_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class SandboxError(RuntimeError):
    """The sandbox could not start a worker (the program never ran)."""


class _Worker:
    """One worker process and its pipes, as seen from the pool (the only code that touches them)."""

    def __init__(self, command: list[str]):
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=WORKER_ENV,
            cwd="/",
            close_fds=True,
            start_new_session=True,  # the terminal's Ctrl-C goes to the trainer, which then closes the pool
        )
        for stream in (self.proc.stdout, self.proc.stderr):
            os.set_blocking(stream.fileno(), False)
        self.buffer = bytearray()
        self.stderr_tail = b""
        self.ready = False
        self.tasks: deque[int] = deque()  # sent and unanswered, oldest (the one running) first
        self.failure = "timeout"  # what the running program gets if this worker is lost
        self.deadline = time.monotonic() + WORKER_START_TIMEOUT_S

    def can_take(self, frame: bytes, depth: int) -> bool:
        """Whether to send `frame` now, keeping at most `depth` programs queued at this worker.

        A queued frame must fit in the pipe: the worker only reads it after answering the program it runs.
        """
        if not self.ready or len(self.tasks) >= depth:
            return False
        return not self.tasks or len(frame) <= PIPELINED_FRAME_MAX_BYTES

    def send(self, task: int, frame: bytes, timeout: float) -> None:
        if not self.tasks:
            self.deadline = time.monotonic() + timeout + RESPONSE_GRACE_S
        self.tasks.append(task)
        self.proc.stdin.write(frame)
        self.proc.stdin.flush()

    def answered(self, timeout: float) -> int:
        """The task the worker just answered; the next queued one (if any) starts its clock now."""
        task = self.tasks.popleft()
        self.deadline = time.monotonic() + timeout + RESPONSE_GRACE_S if self.tasks else math.inf
        return task

    def read_stdout(self) -> list | None:
        """Messages that arrived, or None at end of file or on data that is not a frame (the worker is lost)."""
        chunk = _read_available(self.proc.stdout.fileno())
        if chunk == b"":
            return None
        self.buffer += chunk or b""
        try:
            return worker_protocol.decode_frames(self.buffer)
        except (ValueError, RecursionError):  # a corrupt stream; the worker is replaced, never trusted again
            self.failure = "malformed result"
            return None

    def read_stderr(self) -> bool:
        """Keep the last bytes of the worker's stderr; False at end of file."""
        chunk = _read_available(self.proc.stderr.fileno())
        if chunk:
            self.stderr_tail = (self.stderr_tail + chunk)[-MAX_STDERR_TAIL_BYTES:]
        return chunk != b""

    def mark_dead(self) -> None:
        if self.failure == "timeout":
            self.failure = "worker died"
        self.deadline = 0.0

    def stop(self, grace_s: float = 0.0) -> None:
        """Close the worker's stdin (it exits at end of input), wait up to `grace_s`, then SIGKILL it."""
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _read_available(fd: int) -> bytes | None:
    try:
        return os.read(fd, READ_CHUNK_BYTES)
    except BlockingIOError:
        return None


class ProgramSandbox:
    """A pool of sandbox workers; programs run in parallel, one per worker at a time, results in input order.

    Workers start on first use (about a second each, importing sympy) and live until `close()`; a worker that dies
    or stops answering is replaced. Calls from several threads are served one batch at a time.

    Args:
        num_workers: worker processes (default: the CPUs this process may run on).
        limits: default `SandboxLimits` for `run` / `run_many`.
        preload_modules: modules imported in each worker before forking (so programs import them for free, and
            without needing read access to the interpreter's files). ``math`` and ``sympy`` are also pre-bound in
            every program's namespace.
        sandbox_uid: the uid/gid programs run as when the worker is root (default 65534, ``nobody``).
        interpreter: the command that runs a worker script (default ``[sys.executable]``); e.g. another venv's
            python, or ``["setpriv", "--reuid=1000", ..., "/usr/bin/python3"]``.
        disable: optional layers to switch off, out of ``LAYERS``; for measuring them one by one, never needed.

    >>> with ProgramSandbox(num_workers=1) as sandbox:
    ...     sandbox.run_many(["def solution():\\n    return 1 / 4\\n", "def solution():\\n    return 1 / 0\\n"])
    [ProgramResult(ok=True, value=0.25, error=None), ProgramResult(ok=False, value=None, error='ZeroDivisionError: division by zero')]
    """

    def __init__(
        self,
        num_workers: int | None = None,
        limits: SandboxLimits | None = None,
        preload_modules: Sequence[str] = worker_protocol.DEFAULT_PRELOAD,
        sandbox_uid: int = worker_protocol.SANDBOX_UID,
        interpreter: Sequence[str] | None = None,
        disable: Collection[str] = (),
    ):
        unknown = set(disable) - set(LAYERS)
        if unknown:
            raise ValueError(f"unknown isolation layers {sorted(unknown)}; valid: {LAYERS}")
        self.num_workers = num_workers or available_cpus()
        if self.num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        self.limits = limits or SandboxLimits()
        config = {"preload": list(preload_modules), "sandbox_uid": sandbox_uid, "disable": sorted(disable)}
        self._command = [*(interpreter or [sys.executable]), "-I", WORKER_SCRIPT, json.dumps(config)]
        self._workers: list[_Worker] = []
        self._capabilities: SandboxCapabilities | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._owner_pid = os.getpid()

    # Public API ---------------------------------------------------------------------------------------------------

    @property
    def capabilities(self) -> SandboxCapabilities:
        """The isolation the workers apply (starts them if needed)."""
        if self._capabilities is None:
            self.run_many([])
        return self._capabilities

    def run(self, code: str, limits: SandboxLimits | None = None) -> ProgramResult:
        return self.run_many([code], limits)[0]

    def run_many(self, codes: Sequence[str], limits: SandboxLimits | None = None) -> list[ProgramResult]:
        """Run every program (in parallel over the workers); the results keep the order of `codes`."""
        for code in codes:
            if not isinstance(code, str):
                raise TypeError(f"programs must be str, got {type(code).__name__}")
        wire_limits = (limits or self.limits).to_wire()
        with self._lock:
            if self._closed:
                raise RuntimeError("this ProgramSandbox is closed")
            if os.getpid() != self._owner_pid:  # a forked copy of the caller: the workers' pipes are the parent's
                self._workers, self._owner_pid = [], os.getpid()
            return self._run_locked(list(codes), wire_limits)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for worker in self._workers:
                worker.stop(WORKER_EXIT_GRACE_S)
            self._workers = []

    def __enter__(self) -> ProgramSandbox:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # Scheduling ---------------------------------------------------------------------------------------------------

    def _run_locked(self, codes: list[str], limits: dict) -> list[ProgramResult]:
        results: list[ProgramResult | None] = [None] * len(codes)
        pending: deque[int] = deque()
        for index, code in enumerate(codes):
            if len(code) > MAX_CODE_CHARS:
                results[index] = ProgramResult(False, None, "program too long")
            else:
                pending.append(index)
        timeout = limits["timeout"]
        frames: dict[int, bytes] = {}
        while len(self._workers) < self.num_workers:
            self._workers.append(_Worker(self._command))
        start_failures = 0
        selector = selectors.DefaultSelector()
        try:
            for worker in self._workers:
                self._watch(selector, worker)
            while pending or any(w.tasks or not w.ready for w in self._workers):
                for depth in range(1, PIPELINE_DEPTH + 1):  # one program per worker first, then queue more
                    for worker in self._workers:
                        if not pending:
                            break
                        if pending[0] not in frames:
                            frames[pending[0]] = worker_protocol.encode_frame(
                                {"code": codes[pending[0]], "limits": limits}
                            )
                        frame = frames[pending[0]]
                        if worker.can_take(frame, depth):
                            try:
                                worker.send(pending.popleft(), frame, timeout)
                            except OSError:  # a broken pipe: the worker is gone
                                worker.mark_dead()
                next_deadline = min(w.deadline for w in self._workers)
                wait_s = None if next_deadline == math.inf else max(0.0, next_deadline - time.monotonic())
                for key, _ in selector.select(wait_s):
                    worker, stream = key.data
                    if stream == "stderr":
                        if not worker.read_stderr():
                            selector.unregister(key.fileobj)
                        continue
                    messages = worker.read_stdout()
                    if messages is None:
                        worker.mark_dead()
                        continue
                    for message in messages:
                        if not worker.ready:
                            start_failures = self._on_ready(worker, message, start_failures)
                        else:
                            task = worker.answered(timeout)
                            results[task] = _program_result(message, limits["max_value_chars"])
                now = time.monotonic()
                for position, worker in enumerate(self._workers):
                    if worker.deadline <= now:
                        start_failures = self._replace(selector, position, results, pending, start_failures)
        finally:
            selector.close()
            self._drop_interrupted_workers()
        return results

    def _drop_interrupted_workers(self) -> None:
        """After an exception (Ctrl-C, ...) mid-batch, workers still owe answers: stop them; new ones start later."""
        for worker in [w for w in self._workers if w.tasks]:
            worker.stop()
            self._workers.remove(worker)

    def _watch(self, selector: selectors.BaseSelector, worker: _Worker) -> None:
        selector.register(worker.proc.stdout, selectors.EVENT_READ, (worker, "stdout"))
        selector.register(worker.proc.stderr, selectors.EVENT_READ, (worker, "stderr"))

    def _on_ready(self, worker: _Worker, message, start_failures: int) -> int:
        if not isinstance(message, dict) or not isinstance(message.get("capabilities"), dict):
            worker.mark_dead()
            return start_failures
        if message.get("error"):  # its self-test failed: every worker would fail the same way, so stop here
            for other in self._workers:
                other.stop()
            self._workers = []
            raise SandboxError(
                f"the sandbox cannot run programs on this machine ({self._command[0]}): {message['error']}. "
                "See docs/sandbox.md."
            )
        worker.ready = True
        worker.deadline = math.inf
        if self._capabilities is None:
            self._capabilities = SandboxCapabilities.from_report(message["capabilities"])
            _log_capabilities_once(self._capabilities)
        return 0

    def _replace(self, selector, position: int, results: list, pending: deque, start_failures: int) -> int:
        """Kill the worker at `position` (dead, hung or refusing), fail its running program, requeue the rest."""
        worker = self._workers[position]
        for stream in (worker.proc.stdout, worker.proc.stderr):
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(stream)
        worker.read_stderr()
        worker.stop()
        if worker.tasks:
            results[worker.tasks.popleft()] = ProgramResult(False, None, worker.failure)
            pending.extendleft(reversed(worker.tasks))
            logger.warning(
                "sandbox worker %d lost (%s) while running a program; replacing it", worker.proc.pid, worker.failure
            )
        if not worker.ready:
            start_failures += 1
            if start_failures >= MAX_WORKER_START_FAILURES:
                self._workers.pop(position)
                raise SandboxError(
                    f"sandbox workers failed to start {start_failures} times; last stderr: "
                    f"{worker.stderr_tail.decode(errors='replace')}"
                )
        replacement = _Worker(self._command)
        self._workers[position] = replacement
        self._watch(selector, replacement)
        return start_failures


def _program_result(message, max_value_chars: int) -> ProgramResult:
    """The worker's answer as a `ProgramResult`; a message that breaks the contract (a value that is not a scalar,
    or no `ok`) is a failed run, never an exception in the caller."""
    try:
        ok, value, error = message["ok"], message["value"], message["error"]
        if type(ok) is not bool or not (error is None or type(error) is str):
            raise TypeError("bad ok or error")
        value = worker_protocol.checked_value(value, max_value_chars)
    except (KeyError, TypeError, ValueError):
        return ProgramResult(False, None, "malformed result")
    if error is not None:
        error = worker_protocol.clean_text(error[: worker_protocol.MAX_ERROR_CHARS])
    return ProgramResult(ok, value if ok else None, error)


_logged_capabilities: set[SandboxCapabilities] = set()


def _log_capabilities_once(capabilities: SandboxCapabilities) -> None:
    if capabilities not in _logged_capabilities:
        _logged_capabilities.add(capabilities)
        level = logging.INFO if capabilities.layers == LAYERS else logging.WARNING
        logger.log(level, "program sandbox isolation: %s (see docs/sandbox.md)", capabilities.describe())


# Module-level pools for run_program / run_programs -----------------------------------------------------------------

_default_sandboxes: dict[int, ProgramSandbox] = {}
_default_lock = threading.Lock()


def default_sandbox(max_workers: int | None = None) -> ProgramSandbox:
    """The shared pool with `max_workers` workers (default: all CPUs), created on first use, closed at exit."""
    num_workers = max_workers or available_cpus()
    with _default_lock:
        sandbox = _default_sandboxes.get(num_workers)
        if sandbox is None:
            sandbox = _default_sandboxes[num_workers] = ProgramSandbox(num_workers=num_workers)
        return sandbox


@atexit.register
def close_default_sandboxes() -> None:
    with _default_lock:
        for sandbox in _default_sandboxes.values():
            sandbox.close()
        _default_sandboxes.clear()


def run_program(code: str, timeout: float = 10.0, **limits) -> ProgramResult:
    """Run one program in the shared pool. `limits`: any other `SandboxLimits` field."""
    return default_sandbox().run(code, SandboxLimits(timeout=timeout, **limits))


def run_programs(
    codes: Sequence[str], timeout: float = 10.0, max_workers: int | None = None, **limits
) -> list[ProgramResult]:
    """Run programs in parallel on all cores (or `max_workers` workers); results keep the order of `codes`."""
    return default_sandbox(max_workers).run_many(codes, SandboxLimits(timeout=timeout, **limits))


def sandbox_capabilities() -> SandboxCapabilities:
    """The isolation the shared pool applies on this machine."""
    return default_sandbox().capabilities
