"""The program sandbox: untrusted P-CoT programs run in isolated worker processes.

- `client`: the caller's side, `ProgramSandbox` (a pool of warm workers), `run_program` / `run_programs` on a shared
  pool, the limits and the results.
- `_sandbox_worker.py`: the worker, started by the client as a script (``python -I <path>``); it imports only the
  standard library, never `reft_trl`.

``docs/sandbox.md`` lists the isolation layers and what each stops.
"""

from .client import (
    LAYERS,
    MAX_CODE_CHARS,
    WORKER_ENV,
    WORKER_SCRIPT,
    ProgramResult,
    ProgramSandbox,
    SandboxCapabilities,
    SandboxError,
    SandboxLimits,
    available_cpus,
    close_default_sandboxes,
    default_sandbox,
    run_program,
    run_programs,
    sandbox_capabilities,
)

__all__ = [
    "LAYERS",
    "MAX_CODE_CHARS",
    "WORKER_ENV",
    "WORKER_SCRIPT",
    "ProgramResult",
    "ProgramSandbox",
    "SandboxCapabilities",
    "SandboxError",
    "SandboxLimits",
    "available_cpus",
    "close_default_sandboxes",
    "default_sandbox",
    "run_program",
    "run_programs",
    "sandbox_capabilities",
]
