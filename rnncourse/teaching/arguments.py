"""Checks of the arguments a student passes to the course's functions, written once.

Each raises an error that names the argument and what it got, so a slip in a
lesson (``num_epochs=0``, ``hidden_size=2.5``) is one line to fix, not a
traceback from deep inside torch.
"""

from __future__ import annotations

import numbers


def positive_int(value, name: str) -> int:
    """``value`` if it is an int >= 1 (not a bool); else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
