"""Hostile programs: each must fail (or finish harmlessly) while the caller, its files and processes stay intact.

The module's sandbox preloads attack tools (socket, ctypes, subprocess, ...) so that the attacks reach the kernel
instead of failing at the import. A check that needs a layer this machine lacks (root's uid drop and namespaces,
Landlock, seccomp) is skipped with the reason; on the development machines every layer is present.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from reft_trl.rewards.sandbox import LAYERS, ProgramResult, ProgramSandbox, SandboxLimits, client
from reft_trl.rewards.sandbox import _sandbox_worker as worker

ATTACK_TOOLS = (
    "ctypes",
    "socket",
    "encodings.idna",  # host names in socket.create_connection / getaddrinfo
    "subprocess",
    "threading",
    "multiprocessing.popen_fork",
    "signal",
    "shutil",
    "mmap",
)
CONNECT = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\ns.settimeout(1)\ns.connect(('127.0.0.1', {port}))"
ORDINARY = "def solution():\n    return 6 * 7\n"
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="the uid drop and the namespaces need root")


def program(body: str, header: str = "") -> str:
    return header + "def solution():\n" + "".join(f"    {line}\n" for line in body.strip().splitlines())


def stray_program_processes() -> list[int]:
    """Processes running as the sandbox uid below this test process: finished programs must leave none."""
    parent_and_uid = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parent_and_uid[int(entry.name)] = (int(fields["PPid"]), int(fields["Uid"].split()[0]))
    descendants, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, (ppid, _) in parent_and_uid.items() if ppid in frontier} - descendants
        descendants |= frontier
    return sorted(pid for pid in descendants if parent_and_uid[pid][1] == worker.SANDBOX_UID)


def victim_directory(request, name: str) -> Path:
    """A directory outside /tmp that any user can reach (pytest's cache directory is under the repository)."""
    directory = Path(request.config.rootpath) / ".pytest_cache" / f"{name}-{os.getpid()}"
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    request.addfinalizer(lambda: shutil.rmtree(directory, ignore_errors=True))
    return directory


def world_readable_directory(request, name: str) -> Path:
    """A fresh directory any user can reach, whatever the permissions above the clone (`mktemp -d` gives 0700)."""
    directory = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    os.chmod(directory, 0o755)
    request.addfinalizer(lambda: shutil.rmtree(directory, ignore_errors=True))
    return directory


@pytest.fixture(scope="module")
def sandbox():
    preload = (*worker.DEFAULT_PRELOAD, *ATTACK_TOOLS)
    with ProgramSandbox(num_workers=2, limits=SandboxLimits(timeout=2.0), preload_modules=preload) as pool:
        yield pool


@pytest.fixture
def caller_unaffected(sandbox):
    """After the test: ordinary programs still work, every worker is the same live process, no program lingers."""
    sandbox.run(ORDINARY)
    workers_before = [w.proc.pid for w in sandbox._workers]
    yield
    assert [r.value for r in sandbox.run_many([ORDINARY] * 4)] == [42] * 4
    assert [w.proc.pid for w in sandbox._workers] == workers_before
    assert all(w.proc.poll() is None for w in sandbox._workers)
    assert stray_program_processes() == []


@pytest.fixture
def victim_files(tmp_path, request):
    """Files owned by the caller: one under pytest's tmp_path, one in a world-readable directory outside /tmp."""
    files = []
    for directory in (tmp_path, victim_directory(request, "sandbox-victim")):
        path = directory / "precious.txt"
        path.write_text("keep me")
        os.chmod(path, 0o644)
        files.append(path)
    return files


@pytest.fixture
def victim_process():
    """A process of the caller that a program will try to kill."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


@pytest.fixture
def listener():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.5)
    yield server
    server.close()


def assert_blocked_by_the_kernel(results) -> None:
    """Each attack failed at a system call, not at an import or a name (which would prove nothing)."""
    for result in results:
        assert not result.ok, result
        assert not result.error.startswith(("ModuleNotFoundError", "ImportError", "LookupError", "NameError")), result


def require_any_layer(sandbox: ProgramSandbox, layers: tuple[str, ...], stops: str) -> None:
    if not set(layers) & set(sandbox.capabilities.layers):
        pytest.skip(f"without any of {layers} ({sandbox.capabilities.describe()}), nothing stops {stops}")


def assert_no_connection(server: socket.socket) -> None:
    with pytest.raises(socket.timeout):
        server.accept()


# --- Time ---------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("caller_unaffected")
def test_infinite_loop_hits_the_wall_clock(sandbox):
    start = time.monotonic()
    result = sandbox.run(program("while True:\n    pass"), SandboxLimits(timeout=1.0, cpu_seconds=30))
    assert result.error == "timeout" and not result.ok
    assert time.monotonic() - start < 3.0


@pytest.mark.usefixtures("caller_unaffected")
def test_infinite_loop_hits_the_cpu_limit(sandbox):
    start = time.monotonic()
    result = sandbox.run(program("x = 0\nwhile True:\n    x += 1"), SandboxLimits(timeout=10.0, cpu_seconds=1))
    assert result.error == "cpu limit" and not result.ok
    assert time.monotonic() - start < 4.0


@pytest.mark.usefixtures("caller_unaffected")
def test_sleeping_forever_hits_the_wall_clock(sandbox):
    result = sandbox.run(program("import time\ntime.sleep(3600)"), SandboxLimits(timeout=1.0))
    assert result.error == "timeout"


@pytest.mark.usefixtures("caller_unaffected")
def test_signal_tricks_do_not_extend_the_limits(sandbox):
    body = """
import signal
for sig in (signal.SIGALRM, signal.SIGXCPU, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
signal.alarm(0)
signal.setitimer(signal.ITIMER_REAL, 0)
while True:
    pass
"""
    result = sandbox.run(program(body), SandboxLimits(timeout=1.5, cpu_seconds=1))
    assert not result.ok and result.error in ("timeout", "cpu limit")
    result = sandbox.run(program("import signal\nsignal.alarm(1)\nimport time\ntime.sleep(5)"), SandboxLimits(2.0))
    assert not result.ok and result.error == "killed by SIGALRM"


# --- Memory and recursion -----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("caller_unaffected")
def test_unbounded_allocation_hits_the_memory_limit(sandbox):
    limits = SandboxLimits(timeout=5.0, memory_bytes=256 << 20)
    codes = [
        program("return len(bytearray(10 ** 11))"),
        program("chunks = []\nwhile True:\n    chunks.append(bytearray(10 ** 7))"),
        program("return len('x' * 10 ** 10)"),
        program("import mmap\nreturn len(mmap.mmap(-1, 10 ** 10))", header="import mmap\n"),
    ]
    results = sandbox.run_many(codes, limits)
    assert [r.ok for r in results] == [False] * 4
    assert [r.error for r in results[:3]] == ["memory"] * 3


@pytest.mark.usefixtures("caller_unaffected")
def test_recursion_bombs(sandbox):
    codes = [
        program("def f(n):\n    return f(n + 1)\nreturn f(0)"),
        program("import sys\nsys.setrecursionlimit(10 ** 8)\ndef f(n):\n    return f(n + 1)\nreturn f(0)"),
        program("return eval('(' * 100000 + ')' * 100000)"),
        program("x = []\nfor _ in range(10 ** 6):\n    x = [x]\nreturn repr(x)"),
    ]
    results = sandbox.run_many(codes, SandboxLimits(timeout=2.0, memory_bytes=512 << 20))
    assert not any(r.ok for r in results)
    assert results[0].error.startswith("RecursionError")


# --- Processes and signals ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("caller_unaffected")
def test_fork_bomb_and_process_spawning_fail(sandbox):
    codes = [
        program("import os\nreturn os.fork()"),
        program("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"),
        program("import subprocess\nreturn subprocess.run(['echo', 'hi'], capture_output=True).stdout"),
        program("import os\nos.execv('/bin/sh', ['sh', '-c', 'echo escaped'])"),
        program("import threading\nt = threading.Thread(target=print)\nt.start()\nreturn 'thread'"),
        program("import multiprocessing\np = multiprocessing.Process(target=print)\np.start()\nreturn 'process'"),
        program("import ctypes\nreturn ctypes.CDLL(None).fork()"),
    ]
    # CPU limit above the timeout: the busy fork loop then ends at the wall clock, not in a race with RLIMIT_CPU
    results = sandbox.run_many(codes, SandboxLimits(timeout=1.0, cpu_seconds=5))
    assert_blocked_by_the_kernel(results[:-1])
    assert results[-1].value == -1  # libc fork() reports the EPERM as -1
    assert results[1].error == "timeout"


@pytest.mark.usefixtures("caller_unaffected")
def test_signalling_the_worker_and_the_caller_fails(sandbox, victim_process):
    require_any_layer(sandbox, ("seccomp", "uid"), "signals to the caller's own processes")
    caller = os.getpid()
    codes = [
        program("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"),
        program(f"import os, signal\nos.kill({caller}, signal.SIGKILL)"),
        program(f"import os, signal\nos.kill({victim_process.pid}, signal.SIGKILL)"),
        program("import os, signal\nos.kill(-1, signal.SIGKILL)"),
        program("import os, signal\nos.killpg(os.getpgid(0), signal.SIGKILL)"),
        program(f"import ctypes\nreturn ctypes.CDLL(None).kill({caller}, 9)"),
        program("import os, signal\nos.kill(1, signal.SIGKILL)"),
    ]
    results = sandbox.run_many(codes)
    assert_blocked_by_the_kernel(results[:5] + results[6:])
    assert results[5].value == -1
    time.sleep(0.1)
    assert victim_process.poll() is None


@pytest.mark.usefixtures("caller_unaffected")
def test_exit_calls_give_exit(sandbox):
    codes = [
        program("import os\nos._exit(0)"),
        program("import sys\nsys.exit(0)"),
        program("raise SystemExit('bye')"),
        program("import os\nos._exit(3)"),
        program("import os\nos.close(3)\nreturn 1"),
    ]
    assert [r.error for r in sandbox.run_many(codes)] == ["exit"] * 5
    assert not sandbox.run(program("import os\nos.abort()")).ok


def test_a_worker_killed_from_outside_costs_only_its_program(sandbox):
    """Not a program's doing (no program can reach a worker); the pool survives a worker dying all the same."""
    slow = program("import time\ntime.sleep(30)")
    results = []
    target = sandbox._workers[0]
    thread = threading.Thread(target=lambda: results.extend(sandbox.run_many([slow, ORDINARY, ORDINARY, ORDINARY])))
    thread.start()
    time.sleep(1.0)
    target.proc.kill()
    thread.join(timeout=30)
    assert results[0] == ProgramResult(False, None, "worker died")
    assert [r.value for r in results[1:]] == [42, 42, 42]
    assert target not in sandbox._workers and len(sandbox._workers) == 2
    assert [r.value for r in sandbox.run_many([ORDINARY] * 4)] == [42] * 4
    assert stray_program_processes() == []


# --- Files --------------------------------------------------------------------------------------------------------


DELETE_ATTEMPTS = """
import os, shutil
failures = []
for attempt in (
    lambda: os.remove(PATH),
    lambda: shutil.rmtree(os.path.dirname(PATH)),
    lambda: open(PATH, 'w').write('overwritten'),
    lambda: os.rename(PATH, PATH + '.moved'),
    lambda: os.chmod(PATH, 0o777),
    lambda: os.truncate(PATH, 0),
):
    try:
        attempt()
    except OSError as exc:
        failures.append(type(exc).__name__)
return failures
"""


@pytest.mark.usefixtures("caller_unaffected")
def test_deleting_the_callers_files_fails(sandbox, victim_files):
    require_any_layer(sandbox, ("uid", "landlock"), "changes to the caller's own files")
    codes = [program(DELETE_ATTEMPTS.replace("PATH", repr(str(path)))) for path in victim_files]
    results = sandbox.run_many(codes)
    for path, result in zip(victim_files, results):
        assert result.ok and result.value.count("Error") == 6, result
        assert path.read_text() == "keep me" and stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.usefixtures("caller_unaffected")
def test_writing_outside_its_directory_fails(sandbox, tmp_path):
    require_any_layer(sandbox, ("uid", "landlock"), "writes wherever the caller may write")
    marker = f"sandbox-escape-{os.getpid()}"
    targets = [f"/tmp/{marker}", f"/var/tmp/{marker}", f"/dev/shm/{marker}", str(tmp_path / marker)]
    targets += [os.path.expanduser(f"~/{marker}"), f"../{marker}", f"/{marker}"]
    body = f"""
written = []
for target in {targets!r}:
    try:
        with open(target, 'w') as handle:
            handle.write('x')
        written.append(target)
    except OSError:
        pass
return written
"""
    result = sandbox.run(program(body))
    assert result.ok and result.value == "[]"
    for target in targets[:5] + [f"/{marker}"]:
        assert not os.path.exists(target), target
    assert sandbox.run(program("open('own.txt', 'w').write('fine')\nreturn open('own.txt').read()")).value == "fine"


@pytest.mark.usefixtures("caller_unaffected")
def test_file_size_limit(sandbox):
    body = "with open('big.bin', 'wb') as handle:\n    while True:\n        handle.write(b'0' * 65536)"
    result = sandbox.run(program(body), SandboxLimits(timeout=5.0, max_file_bytes=1 << 20))
    assert not result.ok and result.error in ("file size limit", "OSError: [Errno 27] File too large")


# --- Output -------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("caller_unaffected")
def test_printing_gigabytes_hits_the_output_limit(sandbox):
    codes = [
        program("while True:\n    print('x' * 10 ** 6)"),
        program("import sys\nwhile True:\n    sys.stderr.write('y' * 10 ** 6)"),
        program("import os\nwhile True:\n    os.write(1, b'z' * 10 ** 6)"),
        program("for _ in range(10 ** 9):\n    print(1)"),
    ]
    start = time.monotonic()
    results = sandbox.run_many(codes, SandboxLimits(timeout=10.0, max_output_bytes=1 << 20))
    assert [r.error for r in results] == ["output limit"] * 4
    assert time.monotonic() - start < 10.0


# --- Network ------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("caller_unaffected")
def test_sockets_cannot_reach_the_caller(sandbox, listener):
    require_any_layer(sandbox, ("seccomp", "namespaces"), "connections to 127.0.0.1")
    port = listener.getsockname()[1]
    codes = [
        program(CONNECT.format(port=port)),
        program(f"import socket\nreturn socket.create_connection(('localhost', {port}), timeout=1).fileno()"),
        program("import socket\ns = socket.socket(socket.AF_UNIX)\nreturn s.fileno()"),
        program("import socket\nreturn socket.getaddrinfo('pypi.org', 443)"),
        program("import ctypes\nreturn ctypes.CDLL(None).socket(2, 1, 0)"),
    ]
    results = sandbox.run_many(codes)
    assert_blocked_by_the_kernel(results[:4])
    assert results[4].value == -1
    assert_no_connection(listener)


# --- Secrets ------------------------------------------------------------------------------------------------------


def test_environment_secrets_are_not_visible(monkeypatch):
    secret = "sk-reft-sandbox-test-4f1c9e"
    monkeypatch.setenv("REFT_SANDBOX_TEST_SECRET", secret)
    monkeypatch.setenv("HF_TOKEN", secret)
    caller = os.getpid()
    body = f"""
import os
seen = [repr(dict(os.environ))]
for path in ('/proc/self/environ', '/proc/1/environ', '/proc/{caller}/environ', '/proc/{os.getppid()}/environ'):
    try:
        seen.append(open(path, 'rb').read().decode(errors='replace'))
    except OSError as exc:
        seen.append(type(exc).__name__)
return ' '.join(seen)
"""
    with ProgramSandbox(num_workers=1, preload_modules=("math",)) as pool:
        result = pool.run(program(body))
        environment_only = pool.run(program("import os\nreturn repr(dict(os.environ))"))
    assert environment_only.ok and "PATH" in environment_only.value and secret not in environment_only.value
    require_any_layer(pool, ("uid", "landlock"), "reading /proc/<pid>/environ of the caller's processes")
    assert result.ok and secret not in result.value and "REFT_SANDBOX_TEST_SECRET" not in result.value


# --- Isolation layers one at a time -------------------------------------------------------------------------------


@needs_root
@pytest.mark.parametrize("disabled", LAYERS)
def test_each_attack_still_fails_with_any_single_layer_off(disabled, victim_files, victim_process, listener):
    """Defense in depth: the attacks above stay blocked when one layer (namespaces, uid, Landlock, seccomp) is off."""
    port = listener.getsockname()[1]
    path = victim_files[1]
    codes = [
        program(DELETE_ATTEMPTS.replace("PATH", repr(str(path)))),
        program(f"import os, signal\nos.kill({victim_process.pid}, signal.SIGKILL)"),
        program("import os\nreturn os.fork()"),
        program(CONNECT.format(port=port)),
    ]
    preload = ("math", "socket", "shutil", "signal")
    with ProgramSandbox(num_workers=1, preload_modules=preload, disable=(disabled,)) as pool:
        assert disabled not in pool.capabilities.layers
        results = pool.run_many(codes, SandboxLimits(timeout=3.0))
        assert pool.run(ORDINARY).value == 42
    assert results[0].ok and results[0].value.count("Error") == 6, results[0]
    assert_blocked_by_the_kernel(results[1:])
    assert path.read_text() == "keep me"
    time.sleep(0.1)
    assert victim_process.poll() is None
    assert_no_connection(listener)


# --- Without root -------------------------------------------------------------------------------------------------

UNPRIVILEGED_PYTHON = "/usr/bin/python3"


@needs_root
@pytest.mark.skipif(
    not (shutil.which("setpriv") and os.access(UNPRIVILEGED_PYTHON, os.X_OK)),
    reason="needs setpriv and a system python3 readable by any user, to run a worker as a non-root user",
)
def test_unprivileged_worker_keeps_the_same_uid_processes_and_files_safe(request, listener, monkeypatch):
    """A worker started as an ordinary user (here uid 65534) has only rlimits, Landlock and seccomp to rely on.

    The victims belong to that same user, so file permissions and signal permissions protect nothing here. That user
    must be able to read the worker script and reach the victim: both go to directories any user can reach, since the
    clone may lie below a directory only root can enter.
    """
    drop = ["setpriv", f"--reuid={worker.SANDBOX_UID}", f"--regid={worker.SANDBOX_UID}", "--clear-groups"]
    script = world_readable_directory(request, "sandbox-worker") / Path(client.WORKER_SCRIPT).name
    shutil.copy(client.WORKER_SCRIPT, script)
    os.chmod(script, 0o644)
    monkeypatch.setattr(client, "WORKER_SCRIPT", str(script))
    victim = subprocess.Popen([*drop, "sleep", "60"])
    own_dir = world_readable_directory(request, "sandbox-unprivileged")
    precious = own_dir / "precious.txt"
    precious.write_text("keep me")
    os.chmod(precious, 0o644)
    for path in (own_dir, precious):
        os.chown(path, worker.SANDBOX_UID, worker.SANDBOX_UID)
    port = listener.getsockname()[1]
    codes = [
        program(DELETE_ATTEMPTS.replace("PATH", repr(str(precious)))),
        program(f"import os, signal\nos.kill({victim.pid}, signal.SIGKILL)"),
        program("import os\nreturn os.fork()"),
        program(CONNECT.format(port=port)),
        program("import os\nreturn open(f'/proc/{os.getppid()}/environ').read()"),
    ]
    interpreter = [*drop, "--inh-caps=-all", "--bounding-set=-all", UNPRIVILEGED_PYTHON]
    preload = ("math", "socket", "shutil", "signal")
    try:
        with ProgramSandbox(num_workers=1, preload_modules=preload, interpreter=interpreter) as pool:
            capabilities = pool.capabilities
            results = pool.run_many(codes, SandboxLimits(timeout=3.0))
            assert pool.run(ORDINARY).value == 42
        assert not capabilities.root and capabilities.sandbox_uid is None and not capabilities.namespaces
        if not (capabilities.landlock_abi >= 6 and capabilities.seccomp_arch):
            pytest.skip(f"this kernel lacks Landlock >= 6 or seccomp support: {capabilities.describe()}")
        assert results[0].ok and results[0].value.count("Error") == 6, results[0]
        assert_blocked_by_the_kernel(results[1:])
        assert precious.read_text() == "keep me" and stat.S_IMODE(precious.stat().st_mode) == 0o644
        time.sleep(0.1)
        assert victim.poll() is None
        assert_no_connection(listener)
    finally:
        victim.kill()
        victim.wait()
