"""One call that makes a lesson's random draws repeatable."""

from __future__ import annotations

import numbers
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch.

    ``torch.manual_seed`` seeds the CPU generator and every GPU's (CUDA and
    MPS) at once, so a lesson gets the same draws on any device type it
    reruns on. Kernels may still differ between CPU and GPU in the last bits.

    Inputs:
    - seed: an int in [0, 2**32), the range all three generators accept.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
