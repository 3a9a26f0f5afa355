"""Numerical gradients, the referee of every hand-written backward pass (lesson 05_bptt).

A derivative is a limit of difference quotients. The **central** difference

    df/dx_i  ~  (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

(e_i: the i-th unit vector) has an error of order eps^2, against eps for the
forward difference (f(x + eps e_i) - f(x)) / eps: the terms in f'' cancel
between the two sides. In float64 with eps = 1e-6 it gives 8 to 10 correct
digits, enough to catch any mistake in a backward pass (a missing factor, a
transpose, a term forgotten), and it needs nothing but the forward pass. That
is how CS231n checks its layers and what ``torch.autograd.gradcheck`` does.

The price: two evaluations of f per element of x, so it is for checking small
problems, never for training.
"""

from __future__ import annotations

import itertools

import torch


def numerical_grad(f, x, eps=1e-6):
    """The gradient of a scalar function by central differences, element by element.

    Inputs:
    - f: a function of one tensor, of x's shape, returning a scalar (a Python
      float or a 0-d tensor)
    - x: a float64 tensor of any shape (a 0-d tensor too) where to differentiate;
      it is changed one element at a time while f runs, and holds its original
      values again when the function returns
    - eps: the step, 1e-6 by default (float64 keeps 16 digits, so the difference
      of two values of f still has about 10 correct digits)

    Returns a tensor of x's shape and dtype: element i is
    (f(x + eps e_i) - f(x - eps e_i)) / (2 eps).
    """
    grad = torch.zeros_like(x)  # x's shape and dtype
    with torch.no_grad():  # f only needs values: no autograd graph
        for i in itertools.product(*(range(n) for n in x.shape)):  # every index; () for 0-d
            original = x[i].item()
            x[i] = original + eps
            f_plus = float(f(x))
            x[i] = original - eps
            f_minus = float(f(x))
            x[i] = original  # put it back before the next element (and for the caller)
            grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad
