"""rnncourse.bptt: the manual backward pass against autograd, truncation, gradient norms."""

import pytest
import torch

from rnncourse.teaching.bptt import (
    detach_state,
    grad_norm_by_lag,
    rnn_backward,
    rnn_forward_cache,
    scale_to_spectral_radius,
)

NAMES = ["W_xh", "W_hh", "b_h", "W_hq", "b_q"]


def make_problem(seed, L, N, H_in, H, Q):
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return (0.5 * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()

    params = [rand(H_in, H), rand(H, H), rand(H), rand(H, Q), rand(Q)]
    X = torch.randn(L, N, H_in, generator=g, dtype=torch.float64)
    h0 = rand(N, H)
    dY = torch.randn(L, N, Q, generator=g, dtype=torch.float64)
    return X, h0, params, dY


def reference_forward(X, h0, params):
    W_xh, W_hh, b_h, W_hq, b_q = params
    out = []
    h = h0
    for x in X:
        h = torch.tanh(x @ W_xh + h @ W_hh + b_h)
        out.append(h @ W_hq + b_q)
    return torch.stack(out)


@pytest.mark.parametrize(
    "seed, L, N, H_in, H, Q",
    [(0, 1, 1, 1, 1, 1), (1, 1, 3, 4, 5, 2), (2, 7, 2, 3, 6, 4), (3, 12, 4, 5, 8, 3)],
)
def test_backward_equals_autograd(seed, L, N, H_in, H, Q):
    X, h0, params, dY = make_problem(seed, L, N, H_in, H, Q)
    Y, cache = rnn_forward_cache(X, h0, params)
    assert Y.shape == (L, N, Q)
    torch.testing.assert_close(Y, reference_forward(X, h0, params), rtol=0, atol=1e-12)

    expected = torch.autograd.grad((Y * dY).sum(), params + [h0])
    grads = rnn_backward(dY, cache)
    assert set(grads) == {"dW_xh", "dW_hh", "db_h", "dW_hq", "db_q", "dh0"}
    for name, exp in zip(NAMES + ["h0"], expected, strict=True):
        torch.testing.assert_close(grads["d" + name], exp, rtol=1e-10, atol=1e-12)


def test_backward_with_cross_entropy_loss():
    # The lesson's loss: softmax cross-entropy on every step; dY is its gradient.
    X, h0, params, _ = make_problem(4, L=6, N=3, H_in=4, H=5, Q=7)
    targets = torch.randint(0, 7, (6, 3), generator=torch.Generator().manual_seed(0))
    Y, cache = rnn_forward_cache(X, h0, params)
    loss = torch.nn.functional.cross_entropy(Y.reshape(-1, 7), targets.reshape(-1))
    expected = torch.autograd.grad(loss, params + [h0])
    probs = torch.softmax(Y.detach(), dim=-1)
    dY = (probs - torch.nn.functional.one_hot(targets, 7)) / targets.numel()
    grads = rnn_backward(dY, cache)
    for name, exp in zip(NAMES + ["h0"], expected, strict=True):
        torch.testing.assert_close(grads["d" + name], exp, rtol=1e-10, atol=1e-12)


def test_cache_holds_detached_tensors_and_backward_builds_no_graph():
    X, h0, params, dY = make_problem(5, L=3, N=2, H_in=2, H=3, Q=2)
    _, cache = rnn_forward_cache(X, h0, params)
    assert cache["H"].shape == (3, 2, 3)
    tensors = [cache["X"], cache["h0"], cache["H"], *cache["params"]]
    assert not any(t.requires_grad for t in tensors)
    assert not any(g.requires_grad for g in rnn_backward(dY, cache).values())


def test_detach_state_tuple():
    h = torch.randn(2, 3, requires_grad=True) * 2
    c = torch.randn(2, 3, requires_grad=True) * 3
    out = detach_state((h, c))
    assert type(out) is tuple
    for before, after in zip([h, c], out, strict=True):
        assert not after.requires_grad and after.grad_fn is None
        assert torch.equal(after, before)


def test_detach_state_tensor_stops_backprop():
    w = torch.tensor(2.0, requires_grad=True)
    h = w * 3
    h_cut = detach_state(h)
    assert isinstance(h_cut, torch.Tensor) and torch.equal(h_cut, h)
    (h_cut * w).backward()
    assert w.grad.item() == 6.0  # only the direct use of w; nothing through h


@pytest.mark.parametrize(
    "state, name", [(None, "NoneType"), ({"h": torch.zeros(1)}, "dict"), ([torch.zeros(1)], "list")]
)
def test_detach_state_rejects_other_types(state, name):
    with pytest.raises(TypeError, match=f"tensor or a tuple of tensors, got {name}"):
        detach_state(state)


def autograd_jacobian_norms(W_hh, T):
    """Spectral norms of d h_T / d h_t for an actual linear recurrence, by autograd."""
    H = W_hh.shape[0]

    def final_state_from(t):
        def f(h_t):
            h = h_t
            for _ in range(T - t):
                h = h @ W_hh
            return h

        return f

    h0 = torch.zeros(H, dtype=W_hh.dtype)
    jacobians = [
        torch.autograd.functional.jacobian(final_state_from(t), h0) for t in range(T - 1, -1, -1)
    ]
    return torch.stack([torch.linalg.matrix_norm(J, ord=2) for J in jacobians])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grad_norm_by_lag_equals_autograd_jacobians(seed):
    W = torch.randn(5, 5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    W = W / 2
    norms = grad_norm_by_lag(W, 8)
    assert norms.shape == (8,)
    torch.testing.assert_close(norms, autograd_jacobian_norms(W, 8), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(norms[0], torch.linalg.matrix_norm(W, ord=2))


@pytest.mark.parametrize("rho", [0.5, 0.9, 1.0, 1.2])
def test_scaled_orthogonal_gives_powers_of_rho(rho):
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    norms = grad_norm_by_lag(rho * Q, 10)
    expected = torch.tensor([rho ** (k + 1) for k in range(10)], dtype=torch.float64)
    torch.testing.assert_close(norms, expected)


def test_spectral_radius_decides_vanishing_or_exploding():
    W = torch.randn(8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    small = grad_norm_by_lag(scale_to_spectral_radius(W, 0.8), 60)
    large = grad_norm_by_lag(scale_to_spectral_radius(W, 1.25), 60)
    assert small[-1] < 1e-3 and small[-1] < small[0]
    assert large[-1] > 1e3 and large[-1] > large[0]


def test_scale_to_spectral_radius():
    W = torch.randn(4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    scaled = scale_to_spectral_radius(W, 0.7)
    torch.testing.assert_close(torch.linalg.eigvals(scaled).abs().max(), torch.tensor(0.7).double())
    with pytest.raises(ValueError, match="nilpotent"):
        scale_to_spectral_radius(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), 1.0)
