"""The program sandbox on ordinary programs: values, errors, ordering, threads, limits, the wire format."""

from __future__ import annotations

import ast
import errno
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from reft_trl.rewards import sandbox as sandbox_package
from reft_trl.rewards.sandbox import (
    LAYERS,
    MAX_CODE_CHARS,
    WORKER_SCRIPT,
    ProgramResult,
    ProgramSandbox,
    SandboxLimits,
    run_program,
    run_programs,
    sandbox_capabilities,
)
from reft_trl.rewards.sandbox import _sandbox_worker as worker

PCOT_EXAMPLE = '''def solution():
    """tyler ... if each species has 7 pairs of birds how many pairs does he have in total ?"""
    num_species = 29
    num_pairs_per_species = 7
    num_pairs_total = num_species * num_pairs_per_species
    result = num_pairs_total
    return result'''


def program(body: str) -> str:
    """`body` (lines of Python) as the body of `solution()`."""
    return "def solution():\n" + "".join(f"    {line}\n" for line in body.strip().splitlines())


@pytest.fixture(scope="module")
def sandbox():
    with ProgramSandbox(num_workers=2, limits=SandboxLimits(timeout=5.0)) as pool:
        yield pool


def test_pcot_program_returns_its_value(sandbox):
    assert sandbox.run(PCOT_EXAMPLE) == ProgramResult(ok=True, value=203, error=None)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("return 7 // 2", 3),
        ("return 1 / 4", 0.25),
        ("return 'twelve'", "twelve"),
        ("return True", True),
        ("return None", None),
        ("return -(2**62)", -(2**62)),
    ],
)
def test_scalar_values_come_back_as_they_are(sandbox, body, expected):
    result = sandbox.run(program(body))
    assert result.ok and result.error is None
    assert result.value == expected and type(result.value) is type(expected)


def test_math_and_sympy_are_bound_and_importable(sandbox):
    codes = [
        program("return math.sqrt(16) + math.floor(2.5)"),
        "import math\n" + program("return math.gcd(12, 18)"),
        program("x = sympy.Symbol('x')\nreturn int(sympy.solve(3 * x - 12, x)[0])"),
        "from sympy import Rational\n" + program("return float(Rational(3, 4) + Rational(1, 4))"),
        "from fractions import Fraction\n" + program("return float(Fraction(1, 3) * 3)"),
        "import statistics, itertools\n" + program("return statistics.mean(itertools.islice(range(10), 5))"),
    ]
    assert [r.value for r in sandbox.run_many(codes)] == [6.0, 6, 4, 1.0, 1.0, 2]


def test_exceptions_are_reported_with_their_message(sandbox):
    result = sandbox.run(program("return 1 / 0"))
    assert result == ProgramResult(ok=False, value=None, error="ZeroDivisionError: division by zero")
    result = sandbox.run(program("return undefined_name + 1"))
    assert not result.ok and result.error == "NameError: name 'undefined_name' is not defined"


def test_syntax_errors(sandbox):
    result = sandbox.run("def solution(:\n    return 1\n")
    assert not result.ok and result.error.startswith("SyntaxError:") and "line 1" in result.error
    result = sandbox.run("def solution():\nreturn 1\n")
    assert not result.ok and result.error.startswith("IndentationError:")
    assert sandbox.run("x = 1\0").error.startswith(("SyntaxError", "ValueError"))


@pytest.mark.parametrize("code", ["x = 3\n", "solution = 3\n", "", "def answer():\n    return 1\n"])
def test_missing_solution(sandbox, code):
    assert sandbox.run(code) == ProgramResult(ok=False, value=None, error="no solution() defined")


def test_non_json_values_come_back_as_capped_reprs(sandbox):
    codes = [
        "from fractions import Fraction\n" + program("return Fraction(1, 3)"),
        program("return [1, 2.5, 'a']"),
        program("return {'a': (1, 2)}"),
        program("return sympy.Rational(3, 4)"),
        program("return 2 + 3j"),
        program("return list(range(100000))"),
        program("return 'y' * 100000"),
    ]
    values = [r.value for r in sandbox.run_many(codes)]
    assert values[:5] == ["Fraction(1, 3)", "[1, 2.5, 'a']", "{'a': (1, 2)}", "3/4", "(2+3j)"]
    max_chars = sandbox.limits.max_value_chars
    assert values[5] == repr(list(range(100000)))[:max_chars] and len(values[5]) == max_chars
    assert values[6] == "y" * max_chars


def test_int_too_large_for_json_is_an_error_not_a_crash(sandbox):
    result = sandbox.run(program("return 10 ** 5000"))
    assert not result.ok and result.error.startswith("ValueError")


def test_print_goes_nowhere_and_the_value_still_comes_back(sandbox):
    result = sandbox.run(program("print('working...')\nimport sys\nprint('oops', file=sys.stderr)\nreturn 5"))
    assert result == ProgramResult(ok=True, value=5, error=None)


def test_programs_do_not_see_each_other(sandbox):
    """Module state and files written by one program are gone for the next (fresh child, wiped directory)."""
    first = program("math.pi = 3\nopen('notes.txt', 'w').write('x')\nreturn math.pi")
    second = "import os\n" + program("return (math.pi, os.path.exists('notes.txt'), os.listdir('.'))")
    for _ in range(2):  # twice, so both workers have run the first program before some second one
        assert sandbox.run(first).value == 3
        assert sandbox.run(second).value == repr((3.141592653589793, False, []))


def test_many_programs_in_parallel_keep_their_order(sandbox):
    codes = []
    for i in range(300):
        if i % 50 == 0:
            codes.append(program(f"import time\ntime.sleep(0.05)\nreturn {i}"))
        elif i % 7 == 0:
            codes.append(program(f"return {i} / 0"))
        else:
            codes.append(program(f"return {i} * 2"))
    results = sandbox.run_many(codes)
    for i, result in enumerate(results):
        if i % 50 == 0:
            assert result.value == i
        elif i % 7 == 0:
            assert not result.ok and result.error.startswith("ZeroDivisionError")
        else:
            assert result.value == i * 2


def test_programs_run_in_parallel(sandbox):
    codes = [program(f"import time\ntime.sleep(0.4)\nreturn {i}") for i in range(4)]
    start = time.monotonic()
    assert [r.value for r in sandbox.run_many(codes)] == [0, 1, 2, 3]
    assert time.monotonic() - start < 4 * 0.4  # two workers: about 0.8 s


def test_calls_from_threads(sandbox):
    outcomes = {}

    def call(name: str, offset: int):
        outcomes[name] = [r.value for r in sandbox.run_many([program(f"return {offset + i}") for i in range(20)])]

    threads = [threading.Thread(target=call, args=(f"t{k}", 100 * k)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == {f"t{k}": [100 * k + i for i in range(20)] for k in range(3)}


class Interrupted(Exception):
    pass


def test_an_interrupted_batch_leaves_no_stale_answers(sandbox):
    """An exception mid-batch (Ctrl-C in a trainer) must not let the next batch receive the old batch's answers."""

    def interrupt(signum, frame):
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with pytest.raises(Interrupted):
            sandbox.run_many([program(f"import time\ntime.sleep(1.0)\nreturn {i}") for i in range(6)])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert [r.value for r in sandbox.run_many([program(f"return {100 + i}") for i in range(6)])] == list(
        range(100, 106)
    )
    assert len(sandbox._workers) == 2


def test_module_functions_and_default_pool_from_a_thread():
    outcome = {}

    def call():
        outcome["one"] = run_program(PCOT_EXAMPLE)
        outcome["many"] = run_programs([program("return 1"), program("return 1 / 0")], timeout=2.0)
        outcome["capabilities"] = sandbox_capabilities()

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(timeout=120)
    assert outcome["one"] == ProgramResult(True, 203, None)
    assert [r.ok for r in outcome["many"]] == [True, False]
    assert "math" in outcome["capabilities"].preloaded


def test_a_forked_caller_gets_workers_of_its_own(sandbox):
    """A fork of the trainer (a data-loader worker, say) must not talk over the parent's pipes."""
    assert sandbox.run(program("return 1")).value == 1
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports through the pipe and exits without running pytest's teardown
        try:
            value = sandbox.run(program("return 2")).value
            os.write(write_end, str(value).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    assert os.read(read_end, 100) == b"2"
    os.close(read_end)
    assert [r.value for r in sandbox.run_many([program(f"return {i}") for i in range(4)])] == [0, 1, 2, 3]


def test_capabilities_report_the_layers_this_machine_allows(sandbox):
    capabilities = sandbox.capabilities
    assert capabilities.root == (os.geteuid() == 0)
    assert ("uid" in capabilities.layers) == capabilities.root
    missing = [layer for layer in LAYERS if layer not in capabilities.layers]
    if missing:
        pytest.skip(f"this machine lacks {missing}: {capabilities.describe()} ({capabilities.namespace_error})")
    assert capabilities.sandbox_uid == worker.SANDBOX_UID
    assert set(capabilities.namespaces) == {"net", "pid", "mount", "ipc"}
    assert {"/proc", "/tmp"} <= set(capabilities.private_mounts)
    assert "missing" not in capabilities.describe()


def test_disabled_layers_are_reported():
    with ProgramSandbox(num_workers=1, preload_modules=("math",), disable=("seccomp", "landlock")) as pool:
        assert pool.run(program("return 2")).value == 2
        assert "seccomp" not in pool.capabilities.layers and "landlock" not in pool.capabilities.layers
        assert "missing: landlock, seccomp" in pool.capabilities.describe()
    with pytest.raises(ValueError, match="unknown isolation layers"):
        ProgramSandbox(disable=("selinux",))


def test_limits_validation_and_wire_format():
    assert SandboxLimits(timeout=2.5).to_wire()["cpu_seconds"] == 3
    assert SandboxLimits(timeout=2.5, cpu_seconds=1).to_wire()["cpu_seconds"] == 1
    for bad in [{"timeout": 0}, {"memory_bytes": -1}, {"cpu_seconds": 0}, {"max_output_bytes": 0}]:
        with pytest.raises(ValueError):
            SandboxLimits(**bad)
    with pytest.raises(TypeError):
        run_program(PCOT_EXAMPLE, not_a_limit=3)


def test_oversized_and_non_string_programs(sandbox):
    assert sandbox.run("#" * (MAX_CODE_CHARS + 1)) == ProgramResult(False, None, "program too long")
    with pytest.raises(TypeError):
        sandbox.run_many([b"def solution(): return 1"])
    assert sandbox.run_many([]) == []


def test_frames_survive_partial_reads():
    messages = [{"code": "x" * 70000, "limits": {}}, {"ok": True, "value": 1.5}, {"error": None}]
    stream = b"".join(worker.encode_frame(m) for m in messages)
    buffer, decoded = bytearray(), []
    for start in range(0, len(stream), 1000):
        buffer += stream[start : start + 1000]
        decoded += worker.decode_frames(buffer)
    assert decoded == messages and not buffer


def _run_bpf(program: list[tuple[int, int, int, int]], arch: int, nr: int) -> int:
    """Evaluate the filter's four instruction kinds on one syscall, as the kernel would."""
    fields = {0: nr, 4: arch}
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x20:  # BPF_LD | BPF_W | BPF_ABS
            accumulator, pc = fields[k], pc + 1
        elif code == 0x15:  # BPF_JMP | BPF_JEQ | BPF_K
            pc += 1 + (jt if accumulator == k else jf)
        elif code == 0x35:  # BPF_JMP | BPF_JGE | BPF_K
            pc += 1 + (jt if accumulator >= k else jf)
        elif code == 0x06:  # BPF_RET | BPF_K
            return k
        else:
            raise AssertionError(f"unexpected BPF opcode {code:#x}")


@pytest.mark.parametrize("machine", sorted(worker.DENIED_SYSCALLS))
def test_seccomp_filter_denies_exactly_the_listed_syscalls(machine):
    program = worker.seccomp_program(machine)
    arch = worker.AUDIT_ARCH[machine]
    denied = set(worker.DENIED_SYSCALLS[machine].values())
    eperm = worker.SECCOMP_RET_ERRNO | errno.EPERM
    for nr in range(480):
        expected = eperm if nr in denied else worker.SECCOMP_RET_ALLOW
        assert _run_bpf(program, arch, nr) == expected, f"{machine} syscall {nr}"
    assert _run_bpf(program, 0x40000003, 1) == worker.SECCOMP_RET_KILL_PROCESS  # i386 int 0x80
    if machine == "x86_64":
        assert _run_bpf(program, arch, worker.X32_SYSCALL_BIT | 1) == eperm


def test_execute_program_and_encode_value_in_process():
    """The child's last step on trusted input, without a process around it."""
    assert worker.execute_program(PCOT_EXAMPLE, {}, 50) == {"ok": True, "value": 203, "error": None}
    assert worker.execute_program(program("raise SystemExit(3)"), {}, 50) == {"ok": False, "error": "exit"}
    assert worker.execute_program(program("raise MemoryError"), {}, 50) == {"ok": False, "error": "memory"}
    assert worker.encode_value(("a", 1), 4) == "('a'"
    assert worker.encode_value(True, 4) is True


def test_the_worker_script_is_started_from_the_sandbox_package_and_imports_nothing_of_ours():
    """The client starts the worker by path (``python -I <path>``, no `reft_trl` on its path): that path is the
    worker module's own file, and the script imports only absolute, non-`reft_trl` modules."""
    path = Path(WORKER_SCRIPT)
    assert path.is_file() and path == Path(worker.__file__)
    assert path.parent == Path(sandbox_package.__file__).parent
    imports = [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Import | ast.ImportFrom)]
    names = [alias.name for node in imports if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module for node in imports if isinstance(node, ast.ImportFrom)]
    assert imports and all(getattr(node, "level", 0) == 0 for node in imports)
    assert not [name for name in names if name.split(".")[0] == "reft_trl"]
