"""What a figure was measured on: the CPU, the GPU, torch and the load.

Every benchmark prints and records these next to its numbers, because a speed
means nothing without the machine (and, on a shared machine, how busy it was).
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess

import torch

from rnncourse.device import describe_device


def cpu_cores() -> int:
    """The cores this process may use (the affinity mask), else os.cpu_count()."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_model() -> str:
    """'AMD EPYC': the model name, as rnncourse's environment stamp gives it."""
    # describe_device says "cpu (MODEL, N threads)"
    return describe_device("cpu").removeprefix("cpu (").rsplit(", ", 1)[0]


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


def busy_note(before: float | None, after: float | None) -> str:
    """A sentence saying whether the machine was shared while we measured.

    ``before`` is the 1-minute load average when the benchmark started, so it
    counts other work only: above half the cores, someone else was running.
    ``after`` also counts the benchmark itself (one busy thread per kernel or
    training run, two with two torch threads), so it says "busy" only above the
    number of cores, where processes were waiting for a CPU.
    """
    cores = cpu_cores()
    if before is None and after is None:
        return "Load average unknown."
    others = before is not None and before > 0.5 * cores
    queued = after is not None and after > cores
    loads = ", ".join(
        f"{when} {value:.1f}"
        for when, value in (("before", before), ("after", after))
        if value is not None
    )
    if others or queued:
        return (
            f"The machine was busy (load average {loads} on {cores} cores): other processes "
            "shared the CPU, so these figures are pessimistic and noisy. Re-run on a quiet "
            "machine before relying on them."
        )
    return (
        f"The machine was quiet (load average {loads} on {cores} cores; the figure after the "
        "run counts the benchmark's own work)."
    )


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
