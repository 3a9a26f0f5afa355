"""Gradient clipping (lesson 06_clipping).

An exploding gradient (Pascanu, Mikolov & Bengio 2013, "On the difficulty of
training recurrent neural networks") can throw the parameters far away in a
single step. Clipping by the global norm rescales the whole gradient g, every
parameter's gradient seen as one long vector, when it is too long:

    g <- min(1, theta / ||g||) g

It keeps the direction and only shortens the step. Clipping by value clamps
each entry to [-c, c] instead, which can change the direction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

# Added to the norm before dividing, as torch.nn.utils.clip_grad_norm_ does,
# so that a zero gradient does not divide by zero.
_EPS = 1e-6


def _as_list(params) -> list[torch.Tensor]:
    """A single tensor or an iterable of tensors (e.g. ``model.parameters()``) as a list."""
    if isinstance(params, torch.Tensor):
        return [params]
    if not isinstance(params, Iterable) or isinstance(params, torch.nn.Module):
        raise TypeError(
            "params must be a tensor or an iterable of tensors such as model.parameters(); "
            f"got {type(params).__name__}"
        )
    params = list(params)  # a generator can be walked only once
    for p in params:
        if not isinstance(p, torch.Tensor):
            raise TypeError(
                "params must be a tensor or an iterable of tensors such as model.parameters(); "
                f"found an element of type {type(p).__name__}"
            )
    return params


def _grads(params: list[torch.Tensor]) -> list[torch.Tensor]:
    # A parameter that took no part in the loss has no gradient: skip it.
    return [p.grad for p in params if p.grad is not None]


def global_grad_norm(params) -> float:
    """L2 norm of all gradients together, as if concatenated into one vector.

    ``params``: a tensor or an iterable of tensors (``model.parameters()``);
    tensors whose ``.grad`` is None are skipped. Returns 0.0 if none has one.
    """
    # ||concat(g_1, ..., g_k)|| = sqrt(||g_1||^2 + ... + ||g_k||^2)
    norms = [float(torch.linalg.vector_norm(g)) for g in _grads(_as_list(params))]
    return math.sqrt(sum(n * n for n in norms))


def clip_grad_norm(params, max_norm: float) -> float:
    """Rescale the gradients in place so that their global norm is at most ``max_norm``.

    g <- min(1, max_norm / (||g|| + 1e-6)) g, the same rule (and epsilon) as
    ``torch.nn.utils.clip_grad_norm_``. Returns the norm before clipping, which
    is worth logging: it shows when gradients explode.
    """
    max_norm = float(max_norm)
    if not max_norm >= 0:  # also rejects NaN
        raise ValueError(f"max_norm must be >= 0; got {max_norm}")
    params = _as_list(params)
    total_norm = global_grad_norm(params)
    scale = min(1.0, max_norm / (total_norm + _EPS))
    if scale < 1.0:
        with torch.no_grad():
            for g in _grads(params):
                g.mul_(scale)
    return total_norm


def clip_grad_value(params, clip_value: float) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value], in place.

    Same result as ``torch.nn.utils.clip_grad_value_``; tensors without a
    gradient are skipped.
    """
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_value must be >= 0; got {clip_value}")
    with torch.no_grad():
        for g in _grads(_as_list(params)):
            g.clamp_(min=-clip_value, max=clip_value)
