"""What a figure was measured on: the CPU, the GPU, torch and the load.

Every benchmark prints and records these next to its numbers, because a speed
means nothing without the machine (and, on a shared machine, how busy it was).
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
import time
from pathlib import Path

import torch

from rnncourse.teaching.device import cpu_model


def cpu_cores() -> int:
    """The cores this process may use (the affinity mask), else os.cpu_count()."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def gpu_name() -> str:
    """'NVIDIA H100 80GB HBM3' or 'no GPU' (torch sees no CUDA device)."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "no GPU"


def load() -> str:
    """The output of `uptime` (load averages over 1, 5, 15 minutes), one line."""
    try:
        out = subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout
        if out.strip():
            return " ".join(out.split())
    except (OSError, subprocess.SubprocessError):
        pass
    if hasattr(os, "getloadavg"):
        one, five, fifteen = os.getloadavg()
        return f"load average: {one:.2f}, {five:.2f}, {fifteen:.2f}"
    return "load average: unknown"


def load_average() -> float | None:
    """The 1-minute load average, or None where the OS does not say."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _machine_busy_seconds() -> tuple[float, int] | None:
    """(CPU seconds every core together has spent busy since boot, cores counted),
    from Linux's /proc/stat; None elsewhere."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = map(int, lines[0].split()[1:8])
    cores = sum(1 for line in lines if re.match(r"cpu\d+ ", line))
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK"), cores


def _own_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (kernels,
    nbgrader processes, workers: each counts its own ended children too)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class OtherWork:
    """How much of the machine's CPU other processes used while we measured.

    ``meter = OtherWork()`` before the run, ``meter.share()`` after it: the
    fraction (0 to 1) of all cores' time that went to processes other than this
    one and its children, or None where /proc/stat is not there.

    It is an upper bound: a child's CPU time counts as ours only once its
    parent has waited for it, so the time of a process orphaned on the way (a
    kernel in a bubblewrap sandbox, say) counts as other work. The autograding
    benchmark shows a share of 15-20% on an otherwise idle machine for that
    reason; a busy neighbour shows far more (one busy core of two: 50%).
    """

    def __init__(self):
        self.start = (_machine_busy_seconds(), _own_seconds(), time.monotonic())

    def share(self) -> float | None:
        machine_then, own_then, wall_then = self.start
        machine_now = _machine_busy_seconds()
        if machine_then is None or machine_now is None:
            return None
        wall = time.monotonic() - wall_then
        others = (machine_now[0] - machine_then[0]) - (_own_seconds() - own_then)
        return max(0.0, others) / (wall * machine_now[1]) if wall > 0 else None


def busy_note(before: float | None, after: float | None, others: float | None = None) -> str:
    """A sentence saying whether the machine was shared while we measured.

    ``others``: the share of the CPU other processes used during the run
    (:class:`OtherWork`); above a quarter, the machine was busy. Where it is
    unknown, the load averages decide: ``before`` counts other work only, so
    above half the cores someone else was running; ``after`` also counts the
    benchmark itself (and the one before it, since a 1-minute average decays
    slowly), so it says "busy" only above the number of cores.
    """
    cores = cpu_cores()
    loads = ", ".join(
        f"{when} {value:.1f}"
        for when, value in (("before", before), ("after", after))
        if value is not None
    )
    if others is not None:
        busy = others > 0.25
        what = f"{others:.0%} of the CPU went to other processes during the run"
        what += f"; load average {loads} on {cores} cores" if loads else ""
    elif loads:
        busy = (before is not None and before > 0.5 * cores) or (
            after is not None and after > cores
        )
        what = f"load average {loads} on {cores} cores"
    else:
        return "Load average unknown."
    if busy:
        return (
            f"The machine was busy ({what}): these figures are pessimistic and noisy. "
            "Re-run on a quiet machine before relying on them."
        )
    return f"The machine was quiet ({what})."


class Watch:
    """The machine around one measured run: ``uptime`` before and after it, and
    the sentence saying whether it was busy (:func:`busy_note`).

    ``watch = Watch()`` just before the run, ``watch.stop()`` just after it;
    then ``watch.before``, ``watch.after`` and ``watch.note`` are set.
    """

    def __init__(self):
        self.before, self._load_before, self._others = load(), load_average(), OtherWork()
        self.after = self.note = ""

    def stop(self) -> None:
        others = self._others.share()
        self.after = load()
        self.note = busy_note(self._load_before, load_average(), others)


def describe() -> dict[str, str]:
    """The machine, as short strings: cpu, cores, torch, threads, gpu, python, when, load."""
    return {
        "cpu": cpu_model(),
        "cores": str(cpu_cores()),
        "torch": torch.__version__,
        "threads": str(torch.get_num_threads()),
        "gpu": gpu_name(),
        "python": platform.python_version(),
        "when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": load(),
    }


def summary(info: dict[str, str] | None = None) -> str:
    """One line: 'AMD EPYC, 2 cores, torch 2.13.0+cpu, 2 threads, no GPU'."""
    info = info or describe()
    return (
        f"{info['cpu']}, {info['cores']} cores, torch {info['torch']}, "
        f"{info['threads']} torch thread{'s' if info['threads'] != '1' else ''}, {info['gpu']}, "
        f"Python {info['python']}"
    )
