"""Where tensors live: a CUDA GPU, an Apple-silicon GPU (MPS), or the CPU.

Every lesson's first cell says ``device = rnncourse.pick_device(USE_GPU)``.
The environment variable ``RNNCOURSE_DEVICE`` (``cpu``, ``cuda`` or ``mps``)
overrides the toggle; the autograder sets it to ``cpu`` so that grading never
depends on the grader's hardware.
"""

from __future__ import annotations

import os
import platform
import warnings
from pathlib import Path

import torch

DEVICE_ENV = "RNNCOURSE_DEVICE"
DEVICE_CHOICES = ("cpu", "cuda", "mps")

_GPU_NAMES = {"cuda": "a CUDA GPU", "mps": "an Apple-silicon GPU (MPS)"}


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)  # absent from some torch builds
    return mps is not None and mps.is_available()


def available_devices() -> list[str]:
    """The device types torch can use here, GPUs first: e.g. ``["cuda", "cpu"]``."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    if _mps_available():
        found.append("mps")
    found.append("cpu")
    return found


def resolve_device(use_gpu: bool = True) -> tuple[torch.device, str]:
    """Decide the device without printing anything.

    Returns ``(device, reason)``, where ``reason`` says in words why that device
    was chosen. Raises the same errors as :func:`pick_device` and never warns.
    """
    if not isinstance(use_gpu, bool):
        raise TypeError(f"use_gpu must be True or False, got {use_gpu!r}")
    override = os.environ.get(DEVICE_ENV, "").strip().lower()
    if override:
        if override not in DEVICE_CHOICES:
            raise ValueError(
                f"{DEVICE_ENV}={os.environ[DEVICE_ENV]!r} is not a device: "
                f"choose one of {', '.join(DEVICE_CHOICES)}, or unset it to use the USE_GPU toggle"
            )
        if override not in available_devices():
            raise RuntimeError(
                f"{DEVICE_ENV}={override} asks for {_GPU_NAMES[override]}, but torch "
                f"{torch.__version__} cannot see one here. Set {DEVICE_ENV}=cpu, or unset it "
                "and let USE_GPU choose."
            )
        return torch.device(override), f"{DEVICE_ENV}={override} overrides USE_GPU"
    if not use_gpu:
        return torch.device("cpu"), "USE_GPU is False"
    gpus = [kind for kind in available_devices() if kind != "cpu"]
    if gpus:
        return torch.device(gpus[0]), f"USE_GPU is True and {_GPU_NAMES[gpus[0]]} is available"
    return torch.device("cpu"), "USE_GPU is True but torch sees no CUDA or MPS GPU"


def pick_device(use_gpu: bool = True) -> torch.device:
    """The device a lesson runs on; prints one line saying which and why.

    Inputs:
    - use_gpu: the lesson's ``USE_GPU`` toggle. True takes a CUDA GPU if there
      is one, else an Apple-silicon GPU (MPS), else falls back to the CPU with
      a warning. False always gives the CPU.

    The environment variable ``RNNCOURSE_DEVICE`` (cpu / cuda / mps) overrides
    the toggle. Asking for a device that is not there through it raises
    RuntimeError; a value other than those three raises ValueError.
    """
    device, reason = resolve_device(use_gpu)
    if use_gpu and device.type == "cpu" and not os.environ.get(DEVICE_ENV, "").strip():
        warnings.warn(
            "USE_GPU = True but no GPU is available, so this lesson runs on the CPU "
            "(every lesson fits its time budget there). To silence this, set USE_GPU = False; "
            "to use a GPU, install a CUDA build of PyTorch on a machine with an NVIDIA GPU "
            "(https://pytorch.org/get-started/locally/) or use a Mac with Apple silicon.",
            UserWarning,
            stacklevel=2,
        )
    print(f"Using {describe_device(device)}: {reason}.")
    return device


def describe_device(device: torch.device | str) -> str:
    """A short human name: ``'cuda (NVIDIA H100)'``, ``'cpu (AMD EPYC, 2 threads)'``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return f"mps (Apple-silicon GPU, {platform.machine()})"
    return f"cpu ({cpu_model()}, {torch.get_num_threads()} threads)"


def environment_stamp(device: torch.device | str) -> str:
    """One line naming the software and hardware a lesson ran on, for its first cell.

    Example: ``'torch 2.13.0+cpu | Python 3.11.7 | cpu (AMD EPYC, 2 threads)'``.
    """
    parts = [f"torch {torch.__version__}", f"Python {platform.python_version()}"]
    return " | ".join([*parts, describe_device(device)])


def cpu_model() -> str:
    """The CPU's model name, e.g. ``'AMD EPYC'`` (from /proc/cpuinfo on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")  # Linux; elsewhere platform knows less
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"
