"""The sandbox's results channel and start-up: only scalars reach the caller, a corrupt stream never raises in it,
text is always encodable, and the jail works wherever Python is installed (or refuses to start, loudly)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from reft_trl.rewards.sandbox import ProgramResult, ProgramSandbox, SandboxError, SandboxLimits
from reft_trl.rewards.sandbox import client as sandbox_client

MALFORMED = ProgramResult(False, None, "malformed result")


def program(body: str) -> str:
    """`body` (lines of Python) as the body of `solution()`."""
    return "def solution():\n" + "".join(f"    {line}\n" for line in body.strip().splitlines())


def forged(payload: str) -> str:
    """A program that writes `payload` to the result descriptor itself and exits before the child reports."""
    return "import os\n" + program(f"os.write(3, {payload!r}.encode())\nos._exit(0)")


@pytest.fixture(scope="module")
def sandbox():
    with ProgramSandbox(num_workers=1, limits=SandboxLimits(timeout=5.0)) as pool:
        yield pool


def deep_call(depth: int, function):
    """`function()` called with `depth` frames already on the stack, as in a trainer's deep call chain."""
    return function() if depth == 0 else deep_call(depth - 1, function)


def test_a_deeply_nested_value_written_to_the_result_descriptor_is_refused(sandbox):
    """A 985-deep JSON array used to reach the caller's `json.loads`, which raised RecursionError in a trainer."""
    nested = "[" * 985 + "]" * 985
    code = forged(f'{{"ok": true, "value": {nested}, "error": null}}')
    headroom = sys.getrecursionlimit() - 200  # a caller already deep in its stack
    assert deep_call(headroom, lambda: sandbox.run(code)) == MALFORMED


@pytest.mark.parametrize(
    "value", ['{"a": [1]}', "[1, 2]", "Infinity", "-Infinity", "NaN", "1e999", '"' + "x" * 5000 + '"']
)
def test_the_results_channel_carries_only_scalars(sandbox, value):
    result = sandbox.run(forged(f'{{"ok": true, "value": {value}, "error": null}}'))
    assert result == MALFORMED or (result.ok and isinstance(result.value, str) and len(result.value) <= 1000)
    assert not isinstance(result.value, (dict, list, float))


def test_values_that_are_not_finite_come_back_as_text(sandbox):
    results = sandbox.run_many(
        [program("return float('inf')"), program("return -float('inf')"), program("return float('nan')")]
    )
    assert [result.value for result in results] == ["inf", "-inf", "nan"]


def test_lone_surrogates_come_back_escaped_and_encodable(sandbox):
    results = sandbox.run_many(
        [program("return 'a\\ud800b'"), program("return ['\\udfff']"), program("raise ValueError('bad \\ud800')")]
    )
    assert [result.value for result in results[:2]] == ["a\\ud800b", "['\\udfff']"]
    assert results[2].error == "ValueError: bad \\ud800"
    for result in results:
        json.dumps([result.value, result.error], ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    "message",
    [
        {"ok": True, "value": [1], "error": None},
        {"ok": True, "value": {"a": 1}, "error": None},
        {"ok": True, "value": float("inf"), "error": None},
        {"ok": "yes", "value": 1, "error": None},
        {"ok": False, "value": None, "error": ["x"]},
        {"ok": True, "value": 1},
        [1, 2],
        "text",
    ],
)
def test_the_caller_turns_any_malformed_answer_into_a_failed_run(message):
    assert sandbox_client._program_result(message, 100) == MALFORMED


def test_the_caller_cleans_text_it_receives():
    assert sandbox_client._program_result({"ok": True, "value": "\ud800", "error": None}, 100).value == "\\ud800"
    assert sandbox_client._program_result({"ok": False, "value": 3, "error": "E: \udfff"}, 100) == ProgramResult(
        False, None, "E: \\udfff"
    )


FAKE_WORKER = """
import json, struct, sys
def send(payload):
    sys.stdout.buffer.write(struct.pack(">I", len(payload)) + payload)
    sys.stdout.buffer.flush()
capabilities = {"root": False, "namespaces": [], "private_mounts": [], "sandbox_uid": None, "seccomp_arch": None,
                "landlock_abi": 0, "preloaded": [], "python": "3", "kernel": "fake"}
send(json.dumps({"ready": True, "capabilities": capabilities, "error": None}).encode())
while header := sys.stdin.buffer.read(4):
    sys.stdin.buffer.read(struct.unpack(">I", header)[0])
    send(b'{"ok": true, "value": ' + b"[" * 100000 + b"]" * 100000 + b', "error": null}')
"""


def test_a_worker_that_sends_junk_costs_its_programs_not_the_caller(tmp_path):
    """Even a worker that breaks the protocol (here: 100,000-deep JSON frames) never raises in `run_many`."""
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    with ProgramSandbox(num_workers=1, interpreter=[sys.executable, str(script)]) as pool:
        results = pool.run_many([program("return 1"), program("return 2")])
    assert results == [MALFORMED, MALFORMED]


BROKEN_MODULE_WRAPPER = """
import runpy, sys
sys.path.insert(0, {modules!r})
sys.argv = sys.argv[2:]  # drop -I: what remains is the worker script and its configuration
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_a_preloaded_module_that_cannot_be_imported_inside_the_jail_fails_at_start_up(tmp_path):
    """A module that imports for the caller but not in the jail used to be skipped silently; every program that
    used it then failed (scored 0) one by one."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "needed_module.py").write_text("raise ImportError('hidden from the jail')\n")
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(BROKEN_MODULE_WRAPPER.format(modules=str(modules)))
    interpreter = [sys.executable, str(wrapper)]
    message = r"needed_module can be imported by .* but not inside the sandbox: ImportError: hidden from the jail"
    with (
        ProgramSandbox(num_workers=1, preload_modules=("math", "needed_module"), interpreter=interpreter) as pool,
        pytest.raises(SandboxError, match=message),
    ):
        pool.run(program("return 1"))


def test_the_sandbox_works_with_python_installed_under_tmp(tmp_path):
    """A venv or checkout under /tmp (CI runners, containers) used to be hidden by the private /tmp mount: sympy
    could not be imported in the jail, and every program that used it returned nothing."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("needs a virtual environment to place under /tmp")
    venv_under_tmp = tmp_path / "venv"
    os.symlink(sys.prefix, venv_under_tmp)
    assert str(venv_under_tmp).startswith("/tmp/")
    lazily_loaded = (
        "import sympy.stats\nfrom sympy.geometry import Point\nreturn str(Point(1, 2).distance(Point(4, 6)))"
    )
    code = "import sympy\n" + program(lazily_loaded)
    with ProgramSandbox(num_workers=1, interpreter=[str(venv_under_tmp / "bin" / "python")]) as pool:
        capabilities = pool.capabilities
        if "/tmp" not in capabilities.private_mounts:
            pytest.skip(f"no private /tmp on this machine: {capabilities.describe()}")
        assert "sympy" in capabilities.preloaded
        assert pool.run_many([code, program("return int(sympy.Rational(6, 2))")]) == [
            ProgramResult(True, "5", None),
            ProgramResult(True, 3, None),
        ]
