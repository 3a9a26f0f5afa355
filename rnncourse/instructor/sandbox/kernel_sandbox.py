"""Where a student's notebook runs while it is autograded: a sandboxed kernel.

The kernel that runs a submission is started by ``SandboxedKernelManager``,
which nbgrader's execute step uses during ``nbgrader autograde`` (see
``safe_execute``). It runs the kernel

- inside bubblewrap (``bwrap``), where the file system holds only what a lesson
  needs: the Python installation and virtual environment, the rnncourse package
  and the data sets, all read-only, plus the submission's own folder
  read-write and a private, size-limited ``/tmp``. The course's ``solutions/``,
  the gradebook, the exchange and the other students' work do not exist there;
- without network: the sandbox has its own empty network namespace. The
  kernel talks to nbgrader over unix sockets (jupyter's ``ipc`` transport) in
  a private folder bound into the sandbox, not over TCP;
- as an unprivileged user in its own user, PID, IPC and UTS namespaces, with
  a scrubbed environment (no database URLs, no tokens) and killed with its
  parent;
- under resource limits: allocated memory (``RNNCOURSE_KERNEL_MEMORY``,
  default 4G, as RLIMIT_DATA: the heap and private mappings that allocations
  use, not shared libraries, so CUDA builds of torch still load), size of one
  written file (1 GiB) and of ``/tmp`` (512 MiB), and processes (512, where
  the grader is not root: the kernel exempts root), so a student who
  allocates too much gets a MemoryError in their own kernel.

Settings (environment variables of the grading process):

    RNNCOURSE_SANDBOX        auto (default): the sandbox where bwrap works,
                             else run unsandboxed with a warning; on: refuse
                             to grade without it; off: never sandbox
    RNNCOURSE_KERNEL_MEMORY  memory a kernel may allocate, e.g. 4G, 3000M;
                             0 for none (the limit applies with or without
                             the sandbox)
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

import rnncourse
from rnncourse.teaching.datasets import DATA_ENV, DATASETS_DIR, cache_dir, data_dirs

SANDBOX_ENV = "RNNCOURSE_SANDBOX"
MEMORY_ENV = "RNNCOURSE_KERNEL_MEMORY"
DEFAULT_MEMORY = "4G"  # each lesson's kernel, autograding, allocates about 0.5 GiB
FILE_SIZE_LIMIT = 1 << 30  # bytes one file written by the kernel may reach
PROCESS_LIMIT = 512  # processes and threads of one sandbox (root is exempt from it)
TMP_SIZE = 512 << 20  # bytes of the sandbox's private /tmp and /dev/shm
SANDBOX_UID = 65534  # "nobody" inside the sandbox

# System folders a Python process needs, bound read-only when they exist.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/opt/conda")
SYSTEM_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/fonts",
    "/etc/mime.types",
    "/etc/ssl/certs",
)
# The only environment variables a sandboxed kernel sees (besides HOME, USER, ...).
KERNEL_ENV = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TERM",
    "RNNCOURSE_DEVICE",
    "RNNCOURSE_DATA",
    "NBGRADER_EXECUTION",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MPLBACKEND",
    "PYTHONHASHSEED",
    "JPY_SESSION_NAME",
)

# Run inside the sandbox: set the limits, then become the kernel.
_LIMITS_LAUNCHER = """\
import os, resource, sys
memory, file_size, processes = (int(a) for a in sys.argv[1:4])
if memory:
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
os.execv(sys.argv[4], sys.argv[4:])
"""


class SandboxError(RuntimeError):
    """The sandbox was required (RNNCOURSE_SANDBOX=on) but cannot be used here."""


def parse_size(text: str) -> int:
    """'4G' -> 4294967296; accepts K, M, G, T suffixes (powers of 1024) and plain bytes."""
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(value[-1:], 1)
    number = value[:-1] if scale > 1 else value
    try:
        size = float(number)
    except ValueError:
        raise ValueError(
            f"{MEMORY_ENV}={text!r} is not a size; expected e.g. 4G, 3000M or 0 for no limit"
        ) from None
    if size < 0:
        raise ValueError(f"{MEMORY_ENV}={text!r} is negative")
    return int(size * scale)


def _format_size(size: int) -> str:
    return f"{size / (1 << 30):g} GiB" if size >= 1 << 30 else f"{size / (1 << 20):g} MiB"


@dataclass(frozen=True)
class Policy:
    """How kernels run: sandboxed or not, with which memory limit, and why."""

    sandbox: bool
    memory: int  # bytes a kernel may allocate (RLIMIT_DATA), 0 for no limit
    reason: str  # why there is no sandbox ("" when there is one)

    def describe(self) -> str:
        """One line for the autograde summary."""
        memory = f"memory limit {_format_size(self.memory)}" if self.memory else "no memory limit"
        if self.sandbox:
            return (
                "student code ran in a bubblewrap sandbox: no network, only its own folder "
                f"writable, no access to solutions, gradebook or other submissions; {memory}"
            )
        return (
            f"WARNING: student code ran WITHOUT a sandbox ({self.reason}): it could read the "
            f"solutions and the gradebook and use the network; {memory}"
        )


def policy() -> Policy:
    """The policy the environment asks for (RNNCOURSE_SANDBOX, RNNCOURSE_KERNEL_MEMORY).

    Raises SandboxError when the sandbox is required but bwrap does not work, and
    ValueError on a setting it does not understand."""
    memory = parse_size(os.environ.get(MEMORY_ENV) or DEFAULT_MEMORY)
    mode = (os.environ.get(SANDBOX_ENV) or "auto").strip().lower()
    if mode in ("off", "0", "no", "false"):
        return Policy(False, memory, f"{SANDBOX_ENV}={mode}")
    if mode not in ("auto", "on", "1", "yes", "true"):
        raise ValueError(f"{SANDBOX_ENV}={mode!r}: expected auto, on or off")
    problem = bwrap_problem()
    if problem and mode != "auto":
        raise SandboxError(f"{SANDBOX_ENV}={mode} but the sandbox cannot be used: {problem}")
    return Policy(problem is None, memory, problem or "")


@functools.cache
def bwrap_problem() -> str | None:
    """None when bwrap can build the sandbox here; else why not, in plain words."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bwrap is not installed (Debian/Ubuntu: apt install bubblewrap)"
    with tempfile.TemporaryDirectory(prefix="rnnk-probe-") as folder:
        argv = bwrap_argv(Path(folder), Path(folder)) + ["--", sys.executable, "-c", "pass"]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"bwrap does not run: {err}"
    if proc.returncode != 0:
        said = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return f"bwrap cannot create the sandbox here: {said}"
    return None


def readonly_dirs() -> list[Path]:
    """What a kernel may read: system folders, Python, the venv, rnncourse, data sets."""
    package = Path(rnncourse.__file__).resolve().parent
    found = [Path(d) for d in SYSTEM_DIRS]
    found += [Path(p).resolve() for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)]
    found += [Path(sysconfig.get_paths()[k]).resolve() for k in ("stdlib", "purelib", "platlib")]
    found += [package, DATASETS_DIR]
    found += _data_dirs(os.environ.get(DATA_ENV, ""))
    found.append(_cache_dir())
    unique = []
    for path in found:
        if path.exists() and path not in unique:
            unique.append(path)
    return unique


def _data_dirs(value: str) -> list[Path]:
    """The folders of RNNCOURSE_DATA, resolved: a link to them (say under the host's
    /tmp, which the sandbox replaces) would lead nowhere inside the sandbox."""
    return [path.resolve() for path in data_dirs(value)]


def _cache_dir() -> Path:
    """rnncourse's download cache (rnncourse.teaching.datasets), read-only in the sandbox."""
    return cache_dir().resolve()


def bwrap_argv(workdir: Path, run_dir: Path) -> list[str]:
    """The bwrap options of the sandbox of a kernel running in ``workdir``.

    ``run_dir`` holds the connection file and the kernel's unix sockets; it and
    ``workdir`` are the only host folders the kernel can write to."""
    argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session"]
    argv += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--size", str(TMP_SIZE), "--tmpfs", "/tmp"]
    argv += ["--size", str(TMP_SIZE), "--tmpfs", "/dev/shm"]
    for path in SYSTEM_FILES:
        argv += ["--ro-bind-try", path, path]
    for path in readonly_dirs():
        argv += ["--ro-bind", str(path), str(path)]
    for path in (run_dir, workdir):
        argv += ["--bind", str(path), str(path)]
    # jupyter_client names its own PID, which means nothing in the sandbox's PID
    # namespace; the kernel's parent there is the sandbox's init, PID 1, which
    # ipykernel does not watch (bwrap --die-with-parent does the watching).
    argv += ["--setenv", "JPY_PARENT_PID", "1"]
    argv += ["--dir", "/tmp/home", "--chdir", str(workdir)]
    argv += ["--remount-ro", "/"]  # the skeleton around the binds: no new files there
    return argv


def kernel_env(env: dict[str, str], run_dir: Path) -> dict[str, str]:
    """The environment of a sandboxed kernel: a short allow-list and a private home."""
    kept = {k: v for k, v in env.items() if k in KERNEL_ENV}
    kept.update(
        HOME="/tmp/home",
        USER="student",
        LOGNAME="student",
        MPLCONFIGDIR=str(run_dir / "matplotlib"),
        RNNCOURSE_CACHE=str(_cache_dir()),
    )
    if env.get(DATA_ENV):
        kept[DATA_ENV] = os.pathsep.join(map(str, _data_dirs(env[DATA_ENV])))
    return kept


def _copy_matplotlib_cache(target: Path) -> None:
    """Give the kernel a private copy of matplotlib's font list, so that it does
    not rebuild it (seconds) and cannot change the host's."""
    target.mkdir()
    cache = os.environ.get("MPLCONFIGDIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or "~/.cache", "matplotlib"
    )
    for font_list in Path(cache).expanduser().glob("fontlist-*.json"):
        shutil.copy(font_list, target)


def limits_argv(memory: int) -> list[str]:
    """The command prefix that applies the resource limits, then execs the rest."""
    limits = (memory, FILE_SIZE_LIMIT, PROCESS_LIMIT)
    return [sys.executable, "-c", _LIMITS_LAUNCHER, *(str(n) for n in limits)]


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel under ``policy()``.

    Sandboxed, the kernel uses the ``ipc`` transport with its sockets and
    connection file in a private folder, and is interrupted by a message (a
    signal would stop bwrap, not the kernel).

    ``discard_output``: the kernel's own file descriptors 1 and 2 lead nowhere
    instead of to this process's (what a notebook prints reaches nbgrader over
    the kernel's sockets either way). A grading lane sets it, so that no
    student can write into the log it shares with the students after them."""

    discard_output = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.policy = policy()
        self.run_dir: Path | None = None
        if not self.policy.sandbox:  # plain `nbgrader autograde` says so in its log
            self.log.warning(self.policy.describe())
        else:
            self.run_dir = Path(tempfile.mkdtemp(prefix="rnnk-"))  # short: socket paths
            self.transport = "ipc"
            self.ip = str(self.run_dir / "k")
            self.connection_file = str(self.run_dir / "kernel.json")

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        command = limits_argv(self.policy.memory) + list(kernel_cmd)
        if self.discard_output:
            kw["stdout"] = kw["stderr"] = subprocess.DEVNULL
        if self.run_dir is not None:
            workdir = Path(kw.get("cwd") or os.getcwd()).resolve()
            _copy_matplotlib_cache(self.run_dir / "matplotlib")
            kw["env"] = kernel_env(kw.get("env") or dict(os.environ), self.run_dir)
            command = bwrap_argv(workdir, self.run_dir) + ["--"] + command
        await super()._async_launch_kernel(command, **kw)

    async def _async_interrupt_kernel(self) -> None:
        if self.run_dir is None or not self.has_kernel:
            await super()._async_interrupt_kernel()
            return
        self._connect_control_socket()
        self.session.send(self._control_socket, self.session.msg("interrupt_request", content={}))

    interrupt_kernel = _async_interrupt_kernel  # what nbclient calls

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self.run_dir is not None and not restart:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources

    def exit_status(self) -> int | None:
        """The kernel process's exit status once it has ended (None while it runs)."""
        process = getattr(self.provisioner, "process", None)
        return None if process is None else process.poll()
