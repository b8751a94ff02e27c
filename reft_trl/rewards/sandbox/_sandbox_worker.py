"""Sandbox worker: a long-lived process that forks one jailed child per untrusted program.

`reft_trl.rewards.sandbox.client` starts it as ``python -I _sandbox_worker.py '<config json>'`` with a clean
environment and talks to it over stdin/stdout in length-prefixed JSON frames. It imports only the standard library
(plus the modules it preloads), so any Python >= 3.10 on Linux can run it.

Start-up, once per worker:
    1. As root, enter new network, PID, mount and IPC namespaces. A thin relay process stays outside; the worker
       proper becomes PID 1 of the new PID namespace, so every process in it dies with it. In the new mount
       namespace ``/proc`` is remounted (it lists only this namespace's processes) and ``/tmp``, ``/var/tmp``,
       ``/dev/shm`` and ``/run/lock`` become private, size-capped, root-owned tmpfs.
    2. Build the jail once: the seccomp filter, the Landlock ruleset and the children's environment.
    3. Import the light preloaded modules (``math``, ``fractions``, ...) and fork a second template process that
       also imports the fork-heavy ones (``sympy``). Only a program whose text names one of those is forked from
       that template, so most programs pay for copying a small process.
    4. Run a self-test program through each template; refuse to serve if one fails.

Per program, the template forks a child that, before running any untrusted byte, takes: a new session; SIGKILL
when its template dies; stdin from /dev/null; stdout and stderr into a pipe the template counts (capped); an empty
directory as cwd, HOME and TMPDIR; an environment of fixed variables (HOME, TMPDIR, PATH, LANG, thread counts);
rlimits (address space, CPU seconds, file size, open files, no core dumps, no locked memory, no message queues, no
new processes); as root, uid and gid 65534 (``nobody``) and no supplementary groups; ``no_new_privs``; a Landlock
domain where the kernel has Landlock (reads only under the interpreter's directories and the system libraries,
writes only under the worker's temporary root, no TCP, no signals or abstract sockets outside itself); a seccomp
filter (x86_64, aarch64) that fails process creation, exec, signals, sockets, ptrace, namespaces, mounts, metadata
changes and other kernel surfaces with EPERM. The template enforces the wall-clock limit, kills and reaps the
child, wipes the temporary root and answers.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import errno
import fcntl
import gc
import importlib
import importlib.util
import json
import math
import os
import platform
import resource
import select
import shutil
import signal
import stat
import struct
import sys
import tempfile
import time

# Framing: 4-byte big-endian length, then UTF-8 JSON.
FRAME_HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 64 * 1024 * 1024

SANDBOX_UID = 65534  # `nobody` on Debian, Ubuntu, Fedora and Arch
RESULT_FD = 3  # the child's result pipe
LANDLOCK_FD = 4  # the child's copy of the worker's Landlock ruleset (the worker keeps its own at >= 4 too)
CHILD_SETUP_FAILED_STATUS = 121
MAX_ERROR_CHARS = 300
MAX_RESULT_OVERHEAD_BYTES = 4096
READ_CHUNK_BYTES = 65536
POLL_TICK_S = 0.005  # only used where pidfd_open is missing
PRIVATE_TMP_BYTES = 64 * 1024 * 1024
PRIVATE_SMALL_TMP_BYTES = 1024 * 1024
PRIVATE_TMP_ROOT = "/tmp/reft-sandbox"
CHILD_PATH = "/usr/bin:/bin"
DEFAULT_PRELOAD = (
    "math",
    "cmath",
    "decimal",
    "fractions",
    "statistics",
    "itertools",
    "functools",
    "collections",
    "operator",
    "numbers",
    "datetime",
    "random",
    "re",
    "string",
    "sympy",
)
# Modules that make a forked child expensive (tens of MB of heap to copy page tables for): they live in a second
# template process, and only programs whose text names one of them are forked from it.
FORK_HEAVY_MODULES = ("sympy", "numpy", "scipy", "mpmath", "pandas")
NAMESPACE_BINDINGS = ("math", "sympy")  # bound in every program's namespace, as the ReFT authors' runner does
SELF_TEST_EXPRESSIONS = {"light": "6 * 7", "heavy": "int(sympy.Rational(84, 2)) + len(str(sympy.sympify('x + 1')))"}
SELF_TEST_VALUES = {"light": 42, "heavy": 47}
CHILD_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# ---------------------------------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------------------------------


def encode_frame(message: dict) -> bytes:
    payload = json.dumps(message).encode()
    return FRAME_HEADER.pack(len(payload)) + payload


def decode_frames(buffer: bytearray) -> list[dict]:
    """Pop every complete frame off the front of `buffer`."""
    messages = []
    while len(buffer) >= FRAME_HEADER.size:
        (length,) = FRAME_HEADER.unpack_from(buffer)
        if length > MAX_FRAME_BYTES:
            raise ValueError(f"frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
        end = FRAME_HEADER.size + length
        if len(buffer) < end:
            break
        messages.append(json.loads(bytes(buffer[FRAME_HEADER.size : end])))
        del buffer[:end]
    return messages


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class FrameReader:
    """Blocking reads of whole frames from a pipe; keeps what arrives beyond the current frame."""

    def __init__(self, fd: int):
        self.fd = fd
        self._buffer = bytearray()
        self._ready: list[dict] = []

    def read(self) -> dict | None:
        """The next message, or None at end of file."""
        while not self._ready:
            chunk = os.read(self.fd, READ_CHUNK_BYTES)
            if not chunk:
                return None
            self._buffer += chunk
            self._ready = decode_frames(self._buffer)
        return self._ready.pop(0)


# ---------------------------------------------------------------------------------------------------------------------
# Kernel interfaces (ctypes; Python 3.11 has no os.unshare, seccomp or Landlock bindings)
# ---------------------------------------------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _prctl(option: int, arg: int = 0) -> None:
    _check(_libc.prctl(option, arg, 0, 0, 0), f"prctl({option})")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encoded_type = fstype.encode() if fstype else None
    encoded_data = data.encode() if data else None
    _check(_libc.mount(source.encode(), target.encode(), encoded_type, flags, encoded_data), f"mount {target}")


# Seccomp: a deny-list filter. Syscall numbers from the kernel's uapi headers (asm/unistd_64.h for x86_64,
# asm-generic/unistd.h for aarch64); fchmodat2 (6.6), setxattrat and removexattrat (6.13) share one number on both.
# Beyond processes, signals, sockets and kernel surfaces, it denies changing metadata (mode, owner, xattrs,
# timestamps), which Landlock does not cover: without root those are the caller's own files.
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000
_DENIED_X86_64 = {
    "fork": 57, "vfork": 58, "clone": 56, "clone3": 435, "execve": 59, "execveat": 322,
    "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297,
    "pidfd_send_signal": 424, "pidfd_open": 434, "pidfd_getfd": 438,
    "socket": 41, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
    "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
    "keyctl": 250, "add_key": 248, "request_key": 249,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "open_by_handle_at": 304, "name_to_handle_at": 303, "personality": 135,
    "kexec_load": 246, "kexec_file_load": 320, "reboot": 169, "init_module": 175, "finit_module": 313,
    "delete_module": 176, "swapon": 167, "swapoff": 168, "acct": 163, "syslog": 103, "quotactl": 179,
    "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159, "iopl": 172, "ioperm": 173,
    "landlock_create_ruleset": 444, "landlock_add_rule": 445, "landlock_restrict_self": 446,
    "chmod": 90, "fchmod": 91, "fchmodat": 268, "fchmodat2": 452, "chown": 92, "fchown": 93, "lchown": 94,
    "fchownat": 260, "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "setxattrat": 463,
    "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199, "removexattrat": 466,
    "utime": 132, "utimes": 235, "futimesat": 261, "utimensat": 280,
}  # fmt: skip
_DENIED_AARCH64 = {
    "clone": 220, "clone3": 435, "execve": 221, "execveat": 281,
    "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240,
    "pidfd_send_signal": 424, "pidfd_open": 434, "pidfd_getfd": 438,
    "socket": 198, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272,
    "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
    "keyctl": 219, "add_key": 217, "request_key": 218,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "open_by_handle_at": 265, "name_to_handle_at": 264, "personality": 92,
    "kexec_load": 104, "kexec_file_load": 294, "reboot": 142, "init_module": 105, "finit_module": 273,
    "delete_module": 106, "swapon": 224, "swapoff": 225, "acct": 89, "syslog": 116, "quotactl": 60,
    "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171,
    "landlock_create_ruleset": 444, "landlock_add_rule": 445, "landlock_restrict_self": 446,
    "fchmod": 52, "fchmodat": 53, "fchmodat2": 452, "fchown": 55, "fchownat": 54,
    "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7, "setxattrat": 463,
    "removexattr": 14, "lremovexattr": 15, "fremovexattr": 16, "removexattrat": 466, "utimensat": 88,
}  # fmt: skip
DENIED_SYSCALLS = {"x86_64": _DENIED_X86_64, "aarch64": _DENIED_AARCH64}

_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def seccomp_program(machine: str) -> list[tuple[int, int, int, int]]:
    """The BPF program: kill on a foreign ABI, EPERM on every denied syscall, allow the rest."""
    denied = sorted(set(DENIED_SYSCALLS[machine].values()))
    deny_at = 4 + len(denied) + 2  # index of the EPERM return
    program = [
        (_BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (_BPF_JEQ_K, 1, 0, AUDIT_ARCH[machine]),
        (_BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        (_BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    # x32 syscalls share the x86_64 audit arch but set bit 30; deny them all. On aarch64 this never matches.
    program.append((_BPF_JGE_K, deny_at - 5, 0, X32_SYSCALL_BIT))
    for nr in denied:
        program.append((_BPF_JEQ_K, deny_at - len(program) - 1, 0, nr))
    program.append((_BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    program.append((_BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM))
    assert len(program) == deny_at + 1, "seccomp jump offsets are off"
    return program


class SeccompFilter:
    """The compiled filter, built once in the worker so a child only makes the one prctl call."""

    def __init__(self, machine: str):
        program = seccomp_program(machine)
        self._filters = (_SockFilter * len(program))(*(_SockFilter(*insn) for insn in program))
        self._fprog = _SockFprog(len(program), self._filters)

    def install(self) -> None:
        _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(self._fprog), 0, 0), "seccomp")


# Landlock (Linux >= 5.13), from include/uapi/linux/landlock.h.
_SYS_LANDLOCK_CREATE_RULESET, _SYS_LANDLOCK_ADD_RULE, _SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS_EXECUTE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 2, 1 << 3
_FS_FILE_RIGHTS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)  # rights that apply to a plain file
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
LANDLOCK_READ_ONLY = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
LANDLOCK_SYSTEM_READ_DIRS = ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 where Landlock is missing or disabled."""
    version = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), _LANDLOCK_CREATE_RULESET_VERSION)
    return max(int(version), 0)


def _landlock_fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: execute ... make_sym
    if abi >= 2:
        rights |= 1 << 13  # refer
    if abi >= 3:
        rights |= 1 << 14  # truncate
    if abi >= 5:
        rights |= 1 << 15  # ioctl_dev
    return rights


def landlock_ruleset(abi: int, read_dirs: list[str], write_dir: str) -> int:
    """A ruleset fd: `read_dirs` read-only, `write_dir` fully, nothing else; no TCP, no signals out (by ABI)."""
    fs_rights = _landlock_fs_rights(abi)
    attr = _RulesetAttr(fs_rights, 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net, size = _NET_BIND_TCP | _NET_CONNECT_TCP, 16
    if abi >= 6:
        attr.scoped, size = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL, 24
    ruleset_fd = _check(
        _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0), "landlock ruleset"
    )
    for path, rights in [*((p, LANDLOCK_READ_ONLY) for p in read_dirs), (write_dir, fs_rights)]:
        try:
            path_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if not stat.S_ISDIR(os.fstat(path_fd).st_mode):
                rights &= _FS_FILE_RIGHTS
            rule = _PathBeneathAttr(rights, path_fd)
            _check(
                _libc.syscall(_SYS_LANDLOCK_ADD_RULE, ruleset_fd, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0),
                f"landlock rule {path}",
            )
        finally:
            os.close(path_fd)
    return ruleset_fd


def landlock_restrict_self(ruleset_fd: int) -> None:
    _check(_libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset_fd, 0), "landlock restrict")


# ---------------------------------------------------------------------------------------------------------------------
# Start-up: namespaces, private mounts, the jail every child enters
# ---------------------------------------------------------------------------------------------------------------------


def _enter_namespaces() -> None:
    """Unshare net/pid/mount/ipc, fork, and leave only the child (PID 1 of the new namespace) running this code.

    The parent stays behind as a relay: it waits for the child and exits with its status, so the pool's process
    handle (and its kill) still reaches the worker; the child gets SIGKILL when the relay dies.
    """
    _check(_libc.unshare(CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC), "unshare")
    pid = os.fork()
    if pid:
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # drop the protocol pipes so the pool sees only the worker's
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _private_mounts() -> list[str]:
    """Remount /proc for the new PID namespace; replace the world-writable directories by root-owned tmpfs.

    The interpreter's own directories (a venv or a checkout under /tmp, as CI runners and containers have them) are
    bound back, read-only, at the same paths inside the new tmpfs; where that fails, the directory is left as it was.
    """
    done = []
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    for target, fstype, data in [
        ("/proc", "proc", None),
        ("/tmp", "tmpfs", f"size={PRIVATE_TMP_BYTES},mode=0755"),
        ("/var/tmp", "tmpfs", f"size={PRIVATE_SMALL_TMP_BYTES},mode=0755"),
        ("/dev/shm", "tmpfs", f"size={PRIVATE_SMALL_TMP_BYTES},mode=0755"),
        ("/run/lock", "tmpfs", f"size={PRIVATE_SMALL_TMP_BYTES},mode=0755"),
    ]:
        if not os.path.isdir(target):
            continue
        kept = _interpreter_dirs_under(target) if fstype == "tmpfs" else []
        handles = {path: os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for path in kept}
        try:
            _mount(fstype, target, fstype, MS_NOSUID | MS_NODEV | MS_NOEXEC, data)
        except OSError:
            continue
        else:
            try:
                for path, handle in handles.items():
                    _bind_read_only(f"/proc/self/fd/{handle}", path)
            except OSError:  # hiding the interpreter would break every import: keep the directory as it was
                _check(_libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")
                continue
            done.append(target)
        finally:
            for handle in handles.values():
                os.close(handle)
    return done


def _bind_read_only(source: str, target: str) -> None:
    os.makedirs(target, 0o755, exist_ok=True)
    _mount(source, target, None, MS_BIND | MS_REC)
    _mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _interpreter_dirs_under(target: str) -> list[str]:
    """The interpreter's directories (as named, and as resolved) that lie under `target`, outermost only."""
    paths = set()
    for path in _read_dirs():
        for form in (os.path.abspath(path), os.path.realpath(path)):
            if form.startswith(target.rstrip("/") + "/"):
                paths.add(form)
    return [path for path in sorted(paths) if not any(path.startswith(other + "/") for other in paths)]


def _read_dirs() -> list[str]:
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path]
    candidates += LANDLOCK_SYSTEM_READ_DIRS
    seen, dirs = set(), []
    for path in candidates:
        if path and os.path.isdir(path) and os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            dirs.append(path)
    return dirs


class Plan:
    """The jail every child of this worker enters; built once at start-up and reported to the pool.

    Children run one at a time, always in the same directory ``<tmp_root>/program``, which the worker creates
    empty before each program and wipes (with anything else under ``tmp_root``) after it.
    """

    def __init__(self, config: dict):
        disabled = set(config.get("disable", ()))
        self.root = os.geteuid() == 0
        self.namespaces: list[str] = []
        self.private_mounts: list[str] = []
        self.namespace_error: str | None = None
        if self.root and "namespaces" not in disabled:
            try:
                _enter_namespaces()
                self.namespaces = ["net", "pid", "mount", "ipc"]
                self.private_mounts = _private_mounts()
            except OSError as exc:
                self.namespace_error = str(exc)
        self.uid = int(config.get("sandbox_uid", SANDBOX_UID)) if self.root and "uid" not in disabled else None
        if "/tmp" in self.private_mounts:  # a directory of its own: the private /tmp may hold the interpreter too
            self.tmp_root = PRIVATE_TMP_ROOT
            os.makedirs(self.tmp_root, exist_ok=True)
        else:
            self.tmp_root = tempfile.mkdtemp(prefix="reft-sandbox-")
        os.chmod(self.tmp_root, 0o755 if self.uid is not None else 0o700)
        self.workdir = os.path.join(self.tmp_root, "program")
        machine = platform.machine()
        self.seccomp = SeccompFilter(machine) if machine in DENIED_SYSCALLS and "seccomp" not in disabled else None
        self.seccomp_arch = machine if self.seccomp else None
        self.landlock_abi = landlock_abi() if "landlock" not in disabled else 0
        self.landlock_fd = None
        if self.landlock_abi:
            ruleset_fd = landlock_ruleset(self.landlock_abi, _read_dirs(), self.tmp_root)
            self.landlock_fd = fcntl.fcntl(ruleset_fd, fcntl.F_DUPFD, LANDLOCK_FD)
            os.close(ruleset_fd)
        self.max_fd = os.sysconf("SC_OPEN_MAX")
        os.environ.clear()  # what every child sees; the worker itself needs none of it
        os.environ.update({"HOME": self.workdir, "TMPDIR": self.workdir, "PATH": CHILD_PATH, "LANG": "C.UTF-8"})
        os.environ.update(CHILD_THREAD_ENV)
        tempfile.tempdir = self.workdir

    def describe(self) -> dict:
        return {
            "root": self.root,
            "namespaces": self.namespaces,
            "namespace_error": self.namespace_error,
            "private_mounts": self.private_mounts,
            "sandbox_uid": self.uid,
            "seccomp_arch": self.seccomp_arch,
            "landlock_abi": self.landlock_abi,
            "python": sys.version.split()[0],
            "kernel": platform.release(),
        }

    def fresh_workdir(self) -> None:
        try:
            os.mkdir(self.workdir, 0o700)  # tmp_root is wiped after every program
        except FileExistsError:
            self.wipe_tmp_root()
            os.mkdir(self.workdir, 0o700)
        if self.uid is not None:
            os.chown(self.workdir, self.uid, self.uid)

    def wipe_tmp_root(self) -> None:
        for entry in os.scandir(self.tmp_root):
            if entry.is_dir(follow_symlinks=False):
                _remove_tree(entry.path)
            else:
                os.unlink(entry.path)


def _remove_tree(path: str) -> None:
    """Remove a directory, even one whose sub-directories the program made unreadable; never raises."""
    try:
        shutil.rmtree(path)
        return
    except OSError:
        pass
    try:
        os.chmod(path, stat.S_IRWXU)
        for dirpath, dirnames, _ in os.walk(path):
            for name in dirnames:
                child = os.path.join(dirpath, name)
                if not os.path.islink(child):
                    os.chmod(child, stat.S_IRWXU)
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------------
# The child: jail, run, report
# ---------------------------------------------------------------------------------------------------------------------


def _describe_exception(exc: BaseException) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}"
    except BaseException:
        text = type(exc).__name__
    return clean_text(text[:MAX_ERROR_CHARS])


def encode_value(value: object, max_chars: int) -> object:
    """int/finite float/str/bool/None as they are (strings capped, lone surrogates escaped); anything else, an
    infinite float or NaN included, as its capped repr."""
    if value is None or type(value) is bool or (type(value) is float and math.isfinite(value)):
        return value
    if type(value) is int:
        json.dumps(value)  # ValueError past sys.get_int_max_str_digits()
        return value
    text = value if type(value) is str else repr(value)
    return clean_text(text[:max_chars])[:max_chars]


def clean_text(text: str) -> str:
    """`text` with each lone surrogate (which UTF-8 cannot encode) written as its escape, `\\ud800`.

    >>> clean_text("caf\\u00e9 \\ud800")
    'café \\\\ud800'
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def checked_value(value: object, max_chars: int) -> object:
    """A program's value as the results channel may carry it: None, bool, int, a finite float, or a capped clean
    str. Anything else (a list, a dict, an infinity a program wrote into the channel itself) raises `ValueError`."""
    if value is None or type(value) in (bool, int):
        return value
    if type(value) is float and math.isfinite(value):
        return value
    if type(value) is str:
        return clean_text(value[:max_chars])[:max_chars]
    raise ValueError(f"not a scalar value: {type(value).__name__}")


def execute_program(code: str, bindings: dict, max_value_chars: int) -> dict:
    """Exec `code` in a fresh namespace, call `solution()`, and describe the outcome as a JSON-ready dict."""
    try:
        compiled = compile(code, "<program>", "exec")
    except SyntaxError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc.msg} (line {exc.lineno})"[:MAX_ERROR_CHARS]}
    except (ValueError, MemoryError, RecursionError) as exc:  # null bytes, or a parser blown up by nesting
        return {"ok": False, "error": _describe_exception(exc)}
    namespace = {"__name__": "__program__", "__builtins__": builtins, **bindings}
    try:
        exec(compiled, namespace)
        solution = namespace.get("solution")
        if not callable(solution):
            return {"ok": False, "error": "no solution() defined"}
        value = encode_value(solution(), max_value_chars)
        return {"ok": True, "value": value, "error": None}
    except MemoryError:
        return {"ok": False, "error": "memory"}
    except SystemExit:
        return {"ok": False, "error": "exit"}
    except BaseException as exc:
        return {"ok": False, "error": _describe_exception(exc)}


def _set_rlimits(limits: dict, address_space: int) -> None:
    cpu = int(limits["cpu_seconds"])
    for which, soft, hard in [
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_CPU, cpu, cpu + 1),  # SIGXCPU at the soft limit, SIGKILL one second later
        (resource.RLIMIT_AS, address_space, address_space),
        (resource.RLIMIT_FSIZE, limits["max_file_bytes"], limits["max_file_bytes"]),
        (resource.RLIMIT_NOFILE, limits["max_open_files"], limits["max_open_files"]),
        (resource.RLIMIT_MEMLOCK, 0, 0),
        (resource.RLIMIT_MSGQUEUE, 0, 0),
        (resource.RLIMIT_NPROC, 0, 0),  # binds a non-root uid: no fork, no threads
    ]:
        resource.setrlimit(which, (soft, hard))


def _jail(plan: Plan, limits: dict, address_space: int) -> None:
    os.setsid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.chdir(plan.workdir)
    _set_rlimits(limits, address_space)
    if plan.uid is not None:
        os.setgroups([])
        os.setresgid(plan.uid, plan.uid, plan.uid)
        os.setresuid(plan.uid, plan.uid, plan.uid)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    if plan.landlock_fd is not None:
        landlock_restrict_self(LANDLOCK_FD)
        os.close(LANDLOCK_FD)
    if plan.seccomp is not None:
        plan.seccomp.install()


def _child_main(template: Template, request: dict, out_w: int, res_w: int) -> None:
    """Runs in the forked child; never returns."""
    plan, status = template.plan, 0
    try:
        try:
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            os.dup2(res_w, RESULT_FD)
            if plan.landlock_fd is not None:
                os.dup2(plan.landlock_fd, LANDLOCK_FD)
            os.closerange(LANDLOCK_FD + 1, plan.max_fd)
            _jail(plan, request["limits"], template.address_space + int(request["limits"]["memory_bytes"]))
        except BaseException as exc:
            status = CHILD_SETUP_FAILED_STATUS
            result = {"ok": False, "error": f"sandbox setup failed: {_describe_exception(exc)}"}
        else:
            result = execute_program(request["code"], template.bindings, request["limits"]["max_value_chars"])
        try:
            payload = json.dumps(result).encode()
        except BaseException as exc:
            payload = json.dumps({"ok": False, "error": f"unencodable result: {_describe_exception(exc)}"}).encode()
        _write_all(RESULT_FD, payload)
    finally:
        os._exit(status)


# ---------------------------------------------------------------------------------------------------------------------
# Templates: warm processes that fork, supervise and reap one child per program
# ---------------------------------------------------------------------------------------------------------------------


def _supervise(pid: int, out_r: int, res_r: int, limits: dict) -> tuple[str | None, int, float, bytes]:
    """Wait for the child within the wall-clock limit, counting its output.

    Returns (reason it was killed or None, wait status, CPU seconds used, result bytes).
    """
    deadline = time.monotonic() + float(limits["timeout"])
    max_output = int(limits["max_output_bytes"])
    max_result = int(limits["max_value_chars"]) * 4 + MAX_RESULT_OVERHEAD_BYTES
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    poller = select.poll()
    for fd in (out_r, res_r):
        os.set_blocking(fd, False)
        poller.register(fd, select.POLLIN)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    output_bytes, result, reason, waited = 0, bytearray(), None, None
    try:
        while waited is None and reason is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reason = "timeout"
                break
            wait_s = remaining if pidfd is not None else min(remaining, POLL_TICK_S)
            for fd, _ in poller.poll(wait_s * 1000):
                if fd == pidfd:
                    waited = os.wait4(pid, 0)
                    continue
                chunk = _read_some(fd)
                if chunk is None:
                    continue
                if not chunk:
                    poller.unregister(fd)
                elif fd == out_r:
                    output_bytes += len(chunk)
                    if output_bytes > max_output:
                        reason = "output limit"
                else:
                    result += chunk
                    if len(result) > max_result:
                        reason = "result too large"
            if waited is None and pidfd is None:
                polled = os.wait4(pid, os.WNOHANG)
                waited = polled if polled[0] else None
    finally:
        if waited is None:
            os.kill(pid, signal.SIGKILL)
            waited = os.wait4(pid, 0)
        if pidfd is not None:
            os.close(pidfd)
    while reason is None and (chunk := _read_some(res_r)):
        result += chunk
        if len(result) > max_result:
            reason = "result too large"
    _, status, rusage = waited
    return reason, status, rusage.ru_utime + rusage.ru_stime, bytes(result)


def _read_some(fd: int) -> bytes | None:
    """A chunk, b'' at end of file, None when nothing is ready."""
    try:
        return os.read(fd, READ_CHUNK_BYTES)
    except BlockingIOError:
        return None


def _outcome(reason: str | None, status: int, cpu_s: float, payload: bytes, limits: dict) -> dict:
    if reason:
        return {"ok": False, "value": None, "error": reason}
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_s >= limits["cpu_seconds"]):
            return {"ok": False, "value": None, "error": "cpu limit"}
        if sig == signal.SIGXFSZ:
            return {"ok": False, "value": None, "error": "file size limit"}
        return {"ok": False, "value": None, "error": f"killed by {signal.Signals(sig).name}"}
    if not payload:
        return {"ok": False, "value": None, "error": "exit"}
    try:  # the program may have written anything to the result descriptor: only a scalar gets through
        message = json.loads(payload)
        ok = message["ok"] is True and os.waitstatus_to_exitcode(status) == 0
        value = checked_value(message.get("value"), int(limits["max_value_chars"])) if ok else None
        error = None if ok else clean_text(str(message.get("error") or "exit")[:MAX_ERROR_CHARS])
        return {"ok": ok, "value": value, "error": error}
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return {"ok": False, "value": None, "error": "malformed result"}


class Template:
    """A warm process state (the plan plus preloaded modules) that programs are forked from."""

    def __init__(self, plan: Plan, module_names: list[str]):
        self.plan = plan
        self.modules = {}
        self.import_errors: dict[str, str] = {}
        for name in module_names:
            try:
                self.modules[name] = importlib.import_module(name)
            except Exception as exc:  # an optional module that is not installed (or one the jail hides)
                self.import_errors[name] = _describe_exception(exc)
        self.module_files = sorted(
            path
            for module in self.modules.values()
            if (path := getattr(module, "__file__", None)) and os.path.isfile(path)
        )
        if "sympy" in self.modules:
            _warm_up_sympy(self.modules["sympy"])
        self.bindings = {name: self.modules[name] for name in NAMESPACE_BINDINGS if name in self.modules}
        gc.collect()
        gc.freeze()  # keep the preloaded heap shared with the children (no copy-on-write from the collector)
        self.address_space = _address_space_bytes()

    def run(self, request: dict) -> dict:
        limits = request["limits"]
        self.plan.fresh_workdir()
        out_r, out_w = os.pipe()
        res_r, res_w = os.pipe()
        try:
            pid = os.fork()
            if pid == 0:
                _child_main(self, request, out_w, res_w)
        except BaseException:
            for fd in (out_r, out_w, res_r, res_w):
                os.close(fd)
            raise
        os.close(out_w)
        os.close(res_w)
        try:
            return _outcome(*_supervise(pid, out_r, res_r, limits), limits)
        finally:
            os.close(out_r)
            os.close(res_r)
            self.plan.wipe_tmp_root()


def _warm_up_sympy(sympy) -> None:
    """Import the submodules sympy loads lazily, while the interpreter's files are still readable to us."""
    with contextlib.suppress(Exception):  # only a head start; a program needing more gets an ImportError
        x = sympy.Symbol("x")
        sympy.solve(sympy.sympify("2*x - 4"), x)
        sympy.simplify((x**2 - 1) / (x - 1))
        sympy.nsimplify(0.5)
        str(sympy.Rational(1, 3) + sympy.sqrt(2))


def _address_space_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * resource.getpagesize()
    except OSError:
        return 0


class TemplateLost(RuntimeError):
    """The heavy template process is gone; the worker exits so that the pool replaces it."""


class HeavyTemplate:
    """A `Template` with the fork-heavy modules, in a child process of the worker, driven over a pipe pair."""

    def __init__(self, plan: Plan, module_names: list[str]):
        request_r, self._request_w = os.pipe()
        self._response_r, response_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # keep only its own pipes: the worker's protocol pipes must close when the worker dies
            try:
                keep = {0, 1, 2, request_r, response_w, plan.landlock_fd}
                for fd in range(3, max(keep - {None}) + 1):
                    if fd not in keep:
                        with contextlib.suppress(OSError):
                            os.close(fd)
                os.closerange(max(keep - {None}) + 1, plan.max_fd)
                _serve_forever(Template(plan, module_names), request_r, response_w)
            finally:
                os._exit(0)
        os.close(request_r)
        os.close(response_w)
        self._responses = FrameReader(self._response_r)
        ready = self._responses.read() or {"modules": [], "import_errors": {}, "files": []}
        self.module_names = ready["modules"]
        self.import_errors = ready["import_errors"]
        self.module_files = ready["files"]

    def run(self, request: dict) -> dict:
        _write_all(self._request_w, encode_frame(request))
        response = self._responses.read()
        if response is None:
            raise TemplateLost("the template process with the fork-heavy modules died")
        return response

    def close(self) -> None:
        """End its input (it exits after the program it runs) and reap it."""
        os.close(self._request_w)
        os.waitpid(self.pid, 0)

    def wants(self, code: str) -> bool:
        return any(name in code for name in self.module_names)


def _serve_forever(template: Template, in_fd: int, out_fd: int) -> None:
    ready = {
        "modules": sorted(template.modules),
        "import_errors": template.import_errors,
        "files": template.module_files,
    }
    _write_all(out_fd, encode_frame(ready))
    requests = FrameReader(in_fd)
    while (request := requests.read()) is not None:
        try:
            response = template.run(request)
        except Exception as exc:  # the template itself failed (no space for a directory, ...); report, keep serving
            response = {"ok": False, "value": None, "error": f"worker error: {_describe_exception(exc)}"}
        _write_all(out_fd, encode_frame(response))


def _self_test(runner: Template | HeavyTemplate, kind: str) -> str | None:
    """Run a program through `runner` in the full jail: its preloaded modules' files must be there (a mount that hides
    them breaks every import of a submodule; the sandbox uid may still lack the right to read them) and it computes."""
    code = (
        "import os\n"
        "def solution():\n"
        f"    for path in {runner.module_files!r}:\n"
        "        try:\n"
        "            os.stat(path)\n"
        "        except PermissionError:\n"
        "            pass\n"
        f"    return {SELF_TEST_EXPRESSIONS[kind]}\n"
    )
    limits = {
        "timeout": 30.0,
        "cpu_seconds": 30,
        "memory_bytes": 1 << 30,
        "max_output_bytes": 1 << 16,
        "max_file_bytes": 1 << 20,
        "max_open_files": 64,
        "max_value_chars": 100,
    }
    outcome = runner.run({"code": code, "limits": limits})
    if outcome["ok"] and outcome["value"] == SELF_TEST_VALUES[kind]:
        return None
    return f"a test program could not use the preloaded modules inside the sandbox ({outcome['error']})"


def _installed(name: str) -> bool:
    """Whether `name` can be imported here (checked before the jail, which must not hide it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def main() -> None:
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    os.chdir("/")
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # a stray print must never corrupt the protocol
    preload = list(config.get("preload", DEFAULT_PRELOAD))
    installed = {name for name in preload if _installed(name)}
    plan = Plan(config)
    heavy_names = [name for name in preload if name.split(".")[0] in FORK_HEAVY_MODULES]
    light = Template(plan, [name for name in preload if name not in heavy_names])
    heavy = HeavyTemplate(plan, heavy_names) if heavy_names else None
    import_errors = {**light.import_errors, **(heavy.import_errors if heavy else {})}
    errors = [
        f"{name} can be imported by {sys.executable} but not inside the sandbox: {import_errors[name]}"
        for name in sorted(installed & set(import_errors))
    ]
    errors.append(_self_test(light, "light"))
    if heavy is not None and "sympy" in heavy.module_names:
        errors.append(_self_test(heavy, "heavy"))
    capabilities = plan.describe()
    capabilities["preloaded"] = sorted([*light.modules, *(heavy.module_names if heavy else [])])
    error = "; ".join(e for e in errors if e) or None
    _write_all(out_fd, encode_frame({"ready": True, "capabilities": capabilities, "error": error}))
    if error:
        sys.exit(1)
    requests = FrameReader(in_fd)
    while (request := requests.read()) is not None:
        runner = heavy if heavy is not None and heavy.wants(request["code"]) else light
        try:
            response = runner.run(request)
        except TemplateLost:
            break
        except Exception as exc:  # the worker itself failed (no space for a directory, ...); report, keep serving
            response = {"ok": False, "value": None, "error": f"worker error: {_describe_exception(exc)}"}
        _write_all(out_fd, encode_frame(response))
    if heavy is not None:
        heavy.close()
    _remove_tree(plan.tmp_root)


if __name__ == "__main__":
    main()
