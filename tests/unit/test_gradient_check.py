"""rnncourse.gradient_check: central differences against torch.autograd."""

import math
import warnings

import pytest
import torch

from rnncourse.teaching.bptt import rnn_backward, rnn_forward_cache
from rnncourse.teaching.gradient_check import numerical_grad


def autograd_grad(f, x):
    x = x.detach().clone().requires_grad_()
    (g,) = torch.autograd.grad(f(x), x)
    return g


FUNCTIONS = {
    "cubic": lambda x: (x**3).sum(),
    "sin times exp": lambda x: (torch.sin(x) * torch.exp(0.3 * x)).sum(),
    "log-sum-exp": lambda x: torch.logsumexp(x.flatten(), dim=0),
    "quadratic form": lambda x: (
        x.flatten() @ torch.arange(1.0, x.numel() + 1, dtype=x.dtype) * x.flatten().sum()
    ),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("shape", [(), (1,), (5,), (2, 3), (2, 1, 3)])
def test_equals_autograd(name, shape):
    f = FUNCTIONS[name]
    x = torch.randn(shape, generator=torch.Generator().manual_seed(len(shape)), dtype=torch.float64)
    got = numerical_grad(f, x)
    assert got.shape == x.shape and got.dtype == torch.float64
    torch.testing.assert_close(got, autograd_grad(f, x), rtol=1e-7, atol=1e-8)


def test_agrees_with_torch_gradcheck():
    # gradcheck's own rule: numerical and analytical gradients within atol + rtol * |g|
    f = FUNCTIONS["sin times exp"]
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    got = numerical_grad(f, x)
    torch.testing.assert_close(got, autograd_grad(f, x), rtol=1e-3, atol=1e-5)
    assert torch.autograd.gradcheck(f, (x.clone().requires_grad_(),), eps=1e-6)
    numerical_jacobian = getattr(torch.autograd.gradcheck, "get_numerical_jacobian", None)
    if numerical_jacobian is not None:  # deprecated in torch 2: its numbers are still right
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (jacobian,) = numerical_jacobian(f, (x.clone(),), eps=1e-6)
        torch.testing.assert_close(got, jacobian.reshape(x.shape), rtol=1e-6, atol=1e-8)


def test_python_float_and_tensor_results():
    x = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    as_float = numerical_grad(lambda v: math.fsum(float(a) ** 2 for a in v), x)
    as_tensor = numerical_grad(lambda v: (v**2).sum(), x)
    torch.testing.assert_close(as_float, 2 * x, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(as_tensor, 2 * x, rtol=1e-8, atol=1e-8)


def test_uses_eps_and_central_differences():
    # for a cubic the central difference is exactly 3 x^2 + eps^2; the forward one is not
    x = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    got = numerical_grad(lambda v: (v**3).sum(), x, eps=1e-3)
    torch.testing.assert_close(got, 3 * x**2 + 1e-6, rtol=1e-9, atol=1e-9)


def test_x_is_restored_exactly_and_f_sees_one_change_at_a_time():
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    original = x.clone()
    seen = []

    def f(v):
        seen.append(int(((v - original) != 0).sum()))
        return v.sum()

    numerical_grad(f, x)
    assert torch.equal(x, original)
    assert seen == [1] * (2 * x.numel())


def test_leaf_that_requires_grad():
    x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    got = numerical_grad(lambda v: (v**2).sum(), x)
    torch.testing.assert_close(got, 2 * x.detach(), rtol=1e-8, atol=1e-8)
    assert not got.requires_grad


def test_checks_the_manual_rnn_backward():
    # the lesson's use: the hand-written BPTT against central differences
    g = torch.Generator().manual_seed(0)
    L, N, H_in, H, Q = 4, 2, 3, 5, 2
    params = [
        0.5 * torch.randn(s, generator=g, dtype=torch.float64)
        for s in [(H_in, H), (H, H), (H,), (H, Q), (Q,)]
    ]
    X = torch.randn(L, N, H_in, generator=g, dtype=torch.float64)
    h0 = torch.randn(N, H, generator=g, dtype=torch.float64)
    dY = torch.randn(L, N, Q, generator=g, dtype=torch.float64)
    _, cache = rnn_forward_cache(X, h0, params)
    grads = rnn_backward(dY, cache)
    for k, name in enumerate(["dW_xh", "dW_hh", "db_h", "dW_hq", "db_q"]):

        def loss(p, k=k):
            trial = list(params)
            trial[k] = p
            return (rnn_forward_cache(X, h0, trial)[0] * dY).sum()

        torch.testing.assert_close(
            numerical_grad(loss, params[k]), grads[name], rtol=1e-6, atol=1e-8
        )
