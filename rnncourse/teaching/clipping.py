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

import torch


def global_grad_norm(params):
    """L2 norm of all gradients together, as if concatenated into one vector.

    ``params``: an iterable of tensors (a list, or ``model.parameters()``);
    tensors whose ``.grad`` is None are skipped. Returns a Python float, 0.0 if
    none has a gradient.
    """
    # ||concat(g_1, ..., g_k)||^2 = ||g_1||^2 + ... + ||g_k||^2: one sum per tensor
    squares = [float(torch.sum(p.grad**2)) for p in params if p.grad is not None]
    return math.sqrt(sum(squares))


def clip_grad_norm(params, max_norm):
    """Rescale the gradients in place so that their global norm is at most ``max_norm``.

    g <- min(1, max_norm / (||g|| + 1e-6)) g, the same rule (and epsilon) as
    ``torch.nn.utils.clip_grad_norm_``: the epsilon keeps a zero gradient from
    dividing by zero. ``params`` is an iterable of tensors (a generator such as
    ``model.parameters()`` too); tensors whose ``.grad`` is None are skipped.
    Returns the global norm before clipping, as a Python float, which is worth
    logging: it shows when gradients explode.
    """
    params = list(params)  # a generator could be walked only once
    total_norm = global_grad_norm(params)
    scale = min(1.0, max_norm / (total_norm + 1e-6))
    if scale < 1.0:
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(scale)
    return total_norm


def clip_grad_value(params, clip_value):
    """Clamp every gradient entry to [-clip_value, clip_value], in place.

    Same result as ``torch.nn.utils.clip_grad_value_``; ``params`` is an
    iterable of tensors, and tensors without a gradient are skipped.
    """
    for p in params:
        if p.grad is not None:
            p.grad.clamp_(min=-clip_value, max=clip_value)
