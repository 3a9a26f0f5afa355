"""nbgrader's execute step, made to survive broken and hostile notebooks.

``SafeExecute`` replaces nbgrader's ``Execute`` in the course's autograde
pipeline (``autograder/nbgrader_config.py``), so it applies to
``rnncourse autograde`` and to plain ``nbgrader autograde`` alike:

- the kernel is started by ``kernel_sandbox.SandboxedKernelManager``
  (bubblewrap sandbox, no network, memory limit);
- a cell that runs longer than ``Execute.timeout`` (RNNCOURSE_CELL_TIMEOUT) is
  interrupted and gets a ``CellTimeoutError`` saying which cell and after how
  long; later cells still run. A kernel that ignores the interrupt is stopped,
  and the cells after it are not run;
- a kernel that dies (``os._exit``, a crash, a signal) leaves a
  ``DeadKernelError`` in the cell that killed it, naming the likely cause, and a
  ``NotRun`` error in every later code cell, so no later test can count as
  passed;
- once the last cell has run, the kernel is killed at once
  (``shutdown_kernel = "immediate"``), not asked to exit: every output is in;
- each cell keeps at most ``max_output_chars`` of output (default a million) while
  it streams in, then a note of how much was dropped; errors are always kept;
- just before each graded test cell, ``rnncourse.in_kernel.integrity`` checks inside the
  kernel that the notebook has not replaced what tests rely on; afterwards
  ``tamper_scan`` reads the student's cells. Either finding adds an
  ``IntegrityError`` to the affected test cells, which nbgrader scores zero.

``execution_problems`` reads an autograded notebook back and says all this in
plain words for the autograde summary.
"""

from __future__ import annotations

import ast
import json
import os
import re
import secrets
import signal
from contextlib import contextmanager
from pathlib import Path
from queue import Empty
from time import monotonic, perf_counter

from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import v4
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, default

from rnncourse.in_kernel import integrity
from rnncourse.nbgrader_cells import cell_name, error_outputs, is_student_cell, is_test_cell

from . import tamper_scan
from .kernel_sandbox import SandboxedKernelManager

DIED, NOT_RUN, TIMEOUT = "DeadKernelError", "NotRun", "CellTimeoutError"
INTEGRITY = tamper_scan.ERROR_NAME
TRUNCATED = "[rnncourse: output truncated"
# error names whose story execution_problems tells (other checks may skip them)
REPORTED_ERRORS = frozenset({DIED, NOT_RUN, TIMEOUT, INTEGRITY, "SystemExit", "MemoryError"})
# The in-kernel check is sent as source and run in a fresh namespace of the kernel.
INTEGRITY_SOURCE = Path(integrity.__file__).read_text(encoding="utf-8")

# Seconds spent in each part of the latest executions in this process (kernel start,
# cells, integrity checks, ...), added up until cleared; read by grading_lane.
TIMINGS: dict[str, float] = {}


_TICKS = os.sysconf("SC_CLK_TCK")


@contextmanager
def _timed(part: str):
    start = perf_counter()
    try:
        yield
    finally:
        TIMINGS[part] = TIMINGS.get(part, 0.0) + perf_counter() - start


def process_tree_cpu(pid: int | None) -> float:
    """CPU seconds used so far by process ``pid`` and its descendants (Linux /proc;
    0 where it cannot be read). A sandboxed kernel is a grandchild of its bwrap
    process, which is killed at shutdown: the kernel's time is read here, before."""
    total, todo, seen = 0.0, [pid] if pid else [], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(n) for n in fields[11:15]) / _TICKS  # utime stime cutime cstime
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


# What in a cell's source most likely killed its kernel.
_DEATH_CAUSES = (
    (r"\bos\s*\.\s*_exit\s*\(", "os._exit called"),
    (r"\bos\s*\.\s*abort\s*\(", "os.abort called"),
    (r"\b(os\s*\.\s*kill|signal\s*\.\s*raise_signal|os\s*\.\s*killpg)\s*\(", "it sent a signal"),
    (r"(^|[^.\w])(exit|quit)\s*\(", "exit() called"),
    (r"\bctypes\b", "a crash in C code called through ctypes"),
)


def _error(ename: str, evalue: str):
    return v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _size(content: dict) -> int:
    """Characters of an output message's payload."""
    if "text" in content:
        return len(content["text"])
    data = content.get("data", {})
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in data.values())


def _describe_exit(status: int | None) -> str:
    if status is None:
        return "the kernel stopped answering"
    if status < 0 or status > 128:  # killed by a signal (bwrap reports 128 + signal)
        number = -status if status < 0 else status - 128
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        hint = " — out of memory?" if number == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit status {status}"


def death_cause(cells: list, index: int, status: int | None) -> str:
    """Why the kernel died while running cell ``index``, in a few words: a call
    in that cell, else in the latest student cell before it that has one."""
    student = [i for i in range(index - 1, -1, -1) if is_student_cell(cells[i])]
    for i in [index, *student]:
        for pattern, cause in _DEATH_CAUSES:
            if re.search(pattern, cells[i].source, flags=re.M):
                where = "" if i == index else f" in cell {cell_name(cells[i], i)}"
                return f"{cause}{where} ({_describe_exit(status)})"
    return _describe_exit(status)


def errors_first(cell) -> None:
    """Put a test cell's error outputs first. nbgrader grades by the first
    error or execute_result it finds, and gives full marks for a result it
    cannot read as a number: student code that calls ``sys.displayhook`` before
    a failing assertion would otherwise get full marks."""
    errors = [o for o in cell.outputs if o.output_type == "error"]
    if errors:
        cell.outputs = errors + [o for o in cell.outputs if o.output_type != "error"]


class SafeExecute(Execute):
    """nbgrader's Execute with a sandboxed kernel, limits and integrity checks."""

    max_output_chars = Integer(
        1_000_000, help="Characters of output one cell may keep; the rest is dropped."
    ).tag(config=True)
    check_integrity = Bool(
        True, help="Check before each test cell that the notebook has not replaced test helpers."
    ).tag(config=True)

    @default("shutdown_kernel")
    def _shutdown_kernel_default(self) -> str:
        # Every output is in once the last cell has run: the kernel (and its
        # sandbox, which dies with it) is killed at once rather than asked to
        # exit, which costs a second or two of waiting per notebook.
        return "immediate"

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)
        self._reset()

    def _reset(self) -> None:
        self._death: str | None = None  # "cell X: why", once the kernel is gone
        self._setup: dict[str, str] = {}
        self._used = 0
        self._dropped = 0
        self._timed_out = False
        self._started = False  # has a code cell run yet?

    def preprocess(self, nb, resources=None, km=None):
        self._reset()
        self._setup = tamper_scan.setup_imports(nb)
        with _timed("execute"):
            nb, resources = super().preprocess(nb, resources, km)
        tamper_scan.mark_tampering(nb)
        for cell in nb.cells:
            if is_test_cell(cell):
                errors_first(cell)
        return nb, resources

    async def async_start_new_kernel(self, **kwargs):
        with _timed("kernel_start"):
            await super().async_start_new_kernel(**kwargs)

    async def async_start_new_kernel_client(self):
        with _timed("kernel_start"):  # the kernel's own start-up: until it answers
            client = await super().async_start_new_kernel_client()
        TIMINGS["kernel_start_cpu"] = TIMINGS.get("kernel_start_cpu", 0.0) + self._kernel_cpu()
        return client

    start_new_kernel = run_sync(async_start_new_kernel)  # what setup_kernel calls
    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    async def _async_cleanup_kernel(self) -> None:
        if self.km is not None:
            TIMINGS["kernel_cpu"] = TIMINGS.get("kernel_cpu", 0.0) + self._kernel_cpu()
        with _timed("kernel_stop"):
            await super()._async_cleanup_kernel()

    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    def _kernel_cpu(self) -> float:
        """CPU seconds the kernel's processes have used (0 when it is gone)."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        return process_tree_cpu(getattr(process, "pid", None))

    @contextmanager
    def _cpu(self, part: str):
        """Add the kernel's CPU seconds during the block to TIMINGS[part]."""
        before = self._kernel_cpu()
        try:
            yield
        finally:
            after = self._kernel_cpu()
            TIMINGS[part] = TIMINGS.get(part, 0.0) + max(after - before, 0.0)

    # ---- one cell ------------------------------------------------------------------

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._death is not None:
            cell.outputs = [_error(NOT_RUN, f"not run: the kernel died in {self._death}")]
            return cell, resources
        name = cell_name(cell, index)
        replaced = None
        if self.check_integrity and is_test_cell(cell):
            with _timed("integrity"), self._cpu("integrity_cpu"):
                replaced = self._integrity(cell)
        self._used, self._dropped, self._timed_out = 0, 0, False
        try:
            part = "cells" if self._started else "first_cell"  # first: the imports
            self._started = True
            with _timed(part), self._cpu(part + "_cpu"):
                cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            status = self.km.exit_status() if hasattr(self.km, "exit_status") else None
            cause = death_cause(self.nb.cells, index, status)
            self._death = f"cell {name} ({cause})"
            cell.outputs.append(_error(DIED, f"kernel died in cell {name}: {cause}"))
            return cell, resources
        except CellTimeoutError:  # interrupted, but the cell did not finish within iopub_timeout
            said = f"cell {name} timed out after {self.timeout} s"
            cell.outputs.append(_error(TIMEOUT, said))
            self._timed_out = True
        finally:
            if self._dropped:
                cell.outputs.append(
                    v4.new_output(
                        "stream",
                        name="stdout",  # nbgrader fails a test cell with stderr output
                        text=f"\n{TRUNCATED}: this cell printed {self._used + self._dropped:,} "
                        f"characters; the autograder kept the first {self._used:,}]\n",
                    )
                )
        if self._timed_out and not self._responds():
            self._stop_kernel()
            self._death = f"cell {name} (it timed out and ignored the interrupt)"
            cell.outputs.append(
                _error(DIED, f"kernel stopped in cell {name}: it ignored the timeout's interrupt")
            )
        if replaced:
            said = f"scored zero: the notebook replaced {replaced} before this test ran"
            cell.outputs.append(_error(INTEGRITY, said))
        return cell, resources

    # ---- limits on what a cell sends back ----------------------------------------------

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "error":  # never drop an error: the grade depends on it
            return super().output(outs, msg, display_id, cell_index)
        size = _size(msg["content"])
        room = self.max_output_chars - self._used
        if size <= room:
            self._used += size
            return super().output(outs, msg, display_id, cell_index)
        self._dropped += size - max(room, 0)
        if msg["msg_type"] == "stream" and room > 0:
            self._used += room
            content = {**msg["content"], "text": msg["content"]["text"][:room]}
            return super().output(outs, {**msg, "content": content}, display_id, cell_index)
        return None

    def _update_display_id(self, display_id, msg):
        if _size(msg["content"]) <= self.max_output_chars:  # else: the old display stays
            super()._update_display_id(display_id, msg)

    # ---- timeouts ---------------------------------------------------------------------

    async def _async_handle_timeout(self, timeout, cell=None):
        reply = await super()._async_handle_timeout(timeout, cell)
        self._timed_out = True
        if reply is not None and cell is not None:
            index = next((i for i, c in enumerate(self.nb.cells) if c is cell), 0)
            said = f"cell {cell_name(cell, index)} timed out after {timeout} s"
            reply["content"]["evalue"] = said
            reply["content"]["traceback"] = [
                f"{TIMEOUT}: {said}; the autograder interrupted it and went on"
            ]
        return reply

    async def _async_reply(self, msg_id: str, wait: float) -> dict | None:
        """The shell reply to ``msg_id`` within ``wait`` seconds, else None."""
        deadline = monotonic() + wait
        while (left := deadline - monotonic()) > 0:
            if not await ensure_async(self.km.is_alive()):
                return None
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=min(left, 1.0)))
            except Empty:
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg
        return None

    async def _async_responds(self) -> bool:
        """After an interrupt: does the kernel answer again within one cell timeout?"""
        msg_id = await ensure_async(self.kc.kernel_info())
        return await self._async_reply(msg_id, self.timeout or 60) is not None

    _responds = run_sync(_async_responds)

    async def _async_stop_kernel(self) -> None:
        await ensure_async(self.km.shutdown_kernel(now=True))

    _stop_kernel = run_sync(_async_stop_kernel)

    # ---- integrity ---------------------------------------------------------------------

    async def _async_integrity(self, cell) -> str | None:
        """What the notebook replaced that this test cell relies on, or None."""
        used = tamper_scan.names_used(cell.source)
        expected = {n: origin for n, origin in self._setup.items() if n in used}
        nonce = secrets.token_hex(8)
        expression = (
            f"(lambda ns: exec({INTEGRITY_SOURCE!r}, ns) or ns['report']"
            f"({expected!r}, {used!r}, {nonce!r}))({{'__name__': '__rnncourse_integrity__'}})"
        )
        msg_id = await ensure_async(
            self.kc.execute(
                "", silent=True, store_history=False, user_expressions={"check": expression}
            )
        )
        reply = await self._async_reply(msg_id, self.timeout or 60)
        if reply is None:
            return "(unknown: the integrity check got no answer from the kernel)"
        result = reply["content"].get("user_expressions", {}).get("check", {})
        if result.get("status") != "ok":
            return f"(unknown: the integrity check could not run: {result.get('ename')})"
        try:
            text = ast.literal_eval(result["data"]["text/plain"])
            found = json.loads(text.removeprefix(nonce)) if text.startswith(nonce) else None
        except (KeyError, ValueError, SyntaxError, TypeError):
            found = None
        if found is None:
            return "(unknown: the integrity check's answer was tampered with)"
        return ", ".join(found) or None

    _integrity = run_sync(_async_integrity)


# ---- reading an autograded notebook back ---------------------------------------------


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def execution_problems(cells: list[dict]) -> list[str]:
    """What SafeExecute recorded in an autograded notebook's cells, in plain words."""
    said: list[str] = []
    faked: list[str] = []  # reasons, in order
    zeroed: list[str] = []  # test cells scored zero for them
    not_run = 0
    for index, cell in enumerate(cells):
        name = cell_name(cell, index)
        is_test = is_test_cell(cell)
        for error in error_outputs(cell):
            ename, evalue = error.get("ename"), _text(error.get("evalue"))
            if ename in (DIED, TIMEOUT):
                said.append(evalue)
            elif ename == NOT_RUN:
                not_run += is_test
            elif ename == "SystemExit":
                said.append(f"cell {name} called sys.exit() (the cells after it still ran)")
            elif ename == "MemoryError":
                said.append(f"cell {name} ran out of memory (MemoryError: the kernel's limit)")
            elif ename == INTEGRITY and is_test:
                reason = evalue.removeprefix("scored zero: ")
                faked += [reason] if reason not in faked else []
                zeroed += [name] if name not in zeroed else []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and TRUNCATED in _text(output.get("text")):
                said.append(f"cell {name} printed too much output; the rest was dropped")
    if not_run:
        said.append(f"{not_run} test cell(s) after the kernel died were not run (scored zero)")
    if zeroed:
        said.append(f"{'; '.join(faked)} — {', '.join(zeroed)} scored zero")
    return said
