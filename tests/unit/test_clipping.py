"""rnncourse.clipping against torch.nn.utils.clip_grad_norm_ / clip_grad_value_."""

import pytest
import torch

from rnncourse.teaching.clipping import clip_grad_norm, clip_grad_value, global_grad_norm


def make_params(seed, scale=1.0, with_missing_grad=True):
    """Parameters of several shapes with random float64 gradients (one has no gradient)."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(3, 4), (4,), (2, 2, 5), ()]
    params = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in shapes]
    for p in params:
        p.grad = scale * torch.randn(p.shape, generator=g, dtype=torch.float64)
    if with_missing_grad:
        params.append(torch.zeros(7, dtype=torch.float64, requires_grad=True))  # .grad is None
    return params


def clone_params(params):
    copies = []
    for p in params:
        q = p.detach().clone().requires_grad_()
        q.grad = None if p.grad is None else p.grad.clone()
        copies.append(q)
    return copies


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_global_grad_norm_is_norm_of_concatenated_grads(seed):
    params = make_params(seed)
    flat = torch.cat([p.grad.flatten() for p in params if p.grad is not None])
    assert global_grad_norm(params) == pytest.approx(flat.norm().item(), rel=1e-12)
    assert global_grad_norm(iter(params)) == pytest.approx(flat.norm().item(), rel=1e-12)


def test_global_grad_norm_without_grads_is_zero():
    p = torch.zeros(2, requires_grad=True)
    assert global_grad_norm([p]) == 0.0
    assert global_grad_norm([]) == 0.0
    p.grad = torch.tensor([3.0, 4.0])
    assert global_grad_norm([p]) == pytest.approx(5.0)


@pytest.mark.parametrize("seed, max_norm", [(0, 0.5), (1, 1.0), (2, 3.0), (3, 0.0)])
def test_clip_grad_norm_agrees_with_torch(seed, max_norm):
    ours = make_params(seed, scale=2.0)
    theirs = clone_params(ours)
    before = clip_grad_norm(ours, max_norm)
    expected_before = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert isinstance(before, float)
    assert before == pytest.approx(expected_before.item(), rel=1e-12)
    for p, q in zip(ours, theirs, strict=True):
        if q.grad is None:
            assert p.grad is None
        else:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-12, atol=1e-15)
    assert global_grad_norm(ours) <= max_norm + 1e-9


def test_clip_grad_norm_accepts_a_generator():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    model.double()
    model(torch.randn(5, 3, dtype=torch.float64)).pow(2).sum().mul(100).backward()
    reference = clone_params(model.parameters())
    before = clip_grad_norm(model.parameters(), 1.0)
    expected_before = torch.nn.utils.clip_grad_norm_(reference, 1.0)
    assert before == pytest.approx(expected_before.item(), rel=1e-12)
    assert before > 1.0  # the gradients were clipped, not left alone
    for p, q in zip(model.parameters(), reference, strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-12, atol=1e-15)


def test_clip_grad_norm_leaves_small_gradients_alone():
    params = make_params(4, scale=0.01)
    originals = [None if p.grad is None else p.grad.clone() for p in params]
    before = clip_grad_norm(params, 10.0)
    assert before < 1.0
    for p, g in zip(params, originals, strict=True):
        assert (p.grad is None) if g is None else torch.equal(p.grad, g)


def test_clip_grad_norm_scales_in_place():
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.tensor([3.0, 4.0])
    grad_object = p.grad
    assert clip_grad_norm([p], 1.0) == pytest.approx(5.0)
    assert p.grad is grad_object
    torch.testing.assert_close(p.grad, torch.tensor([0.6, 0.8]))


@pytest.mark.parametrize("seed, clip_value", [(0, 0.1), (1, 0.7), (2, 5.0)])
def test_clip_grad_value_agrees_with_torch(seed, clip_value):
    ours = make_params(seed)
    theirs = clone_params(ours)
    assert clip_grad_value(iter(ours), clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for p, q in zip(ours, theirs, strict=True):
        if q.grad is None:
            assert p.grad is None
        else:
            torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=0)
            assert p.grad.abs().max() <= clip_value
