"""rnncourse.gru_cell against nn.GRUCell and nn.GRU, and the conventions it follows."""

import pytest
import torch

from rnncourse.teaching.gru import gru_cell


def _params(module, suffix=""):
    return tuple(
        getattr(module, f"{name}{suffix}")
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )


@pytest.mark.parametrize(
    "seed, N, H_in, H", [(0, 1, 1, 1), (1, 1, 3, 4), (2, 5, 2, 7), (3, 8, 6, 3), (4, 1, 10, 16)]
)
def test_gru_cell_equals_torch(seed, N, H_in, H):
    torch.manual_seed(seed)
    cell = torch.nn.GRUCell(H_in, H).double()
    with torch.no_grad():  # weights of order 1, so every term of the equations matters
        for p in cell.parameters():
            p.normal_()
    x = torch.randn(N, H_in, dtype=torch.float64)
    h = torch.randn(N, H, dtype=torch.float64)
    h_ours = gru_cell(x, h, _params(cell))
    assert h_ours.shape == (N, H) and h_ours.dtype == torch.float64
    torch.testing.assert_close(h_ours, cell(x, h), rtol=1e-12, atol=1e-12)


def test_gru_cell_float32_equals_torch():
    torch.manual_seed(5)
    cell = torch.nn.GRUCell(4, 6)
    x, h = torch.randn(3, 4), torch.randn(3, 6)
    torch.testing.assert_close(gru_cell(x, h, _params(cell)), cell(x, h))


def test_gru_cell_over_a_sequence_equals_nn_gru():
    torch.manual_seed(6)
    gru = torch.nn.GRU(4, 5).double()
    X = torch.randn(7, 2, 4, dtype=torch.float64)  # (L, N, H_in)
    output, h_n = gru(X)
    h = torch.zeros(2, 5, dtype=torch.float64)
    for t in range(7):
        h = gru_cell(X[t], h, _params(gru, "_l0"))
        torch.testing.assert_close(h, output[t])
    torch.testing.assert_close(h, h_n[0])


def test_gru_cell_gate_order_is_r_z_n():
    # Zero weights; only the update gate's bias is large: z = 1, so h passes through
    # unchanged whatever the candidate is. A wrong gate order breaks this.
    H = 3
    b_ih = torch.zeros(3 * H, dtype=torch.float64)
    b_ih[H : 2 * H] = 50.0
    b_ih[2 * H :] = 2.0  # a candidate tanh(2) that must not leak in
    params = (
        torch.zeros(3 * H, 2, dtype=torch.float64),
        torch.zeros(3 * H, H, dtype=torch.float64),
        b_ih,
        torch.zeros(3 * H, dtype=torch.float64),
    )
    h = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(gru_cell(torch.ones(1, 2, dtype=torch.float64), h, params), h)


def test_gru_cell_resets_after_the_recurrent_product():
    # PyTorch's n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), not Cho et al.'s
    # tanh(W_in x + b_in + W_hn (r * h) + b_hn): with r = 0 even b_hn is gated away.
    H = 2
    b_ih = torch.zeros(3 * H, dtype=torch.float64)
    b_ih[:H] = -50.0  # r = 0
    b_ih[H : 2 * H] = -50.0  # z = 0: h_new = n
    b_hh = torch.zeros(3 * H, dtype=torch.float64)
    b_hh[2 * H :] = 1.5  # b_hn
    params = (
        torch.zeros(3 * H, 1, dtype=torch.float64),
        torch.randn(3 * H, H, dtype=torch.float64),
        b_ih,
        b_hh,
    )
    h_new = gru_cell(torch.ones(1, 1, dtype=torch.float64), torch.ones(1, H).double(), params)
    torch.testing.assert_close(h_new, torch.zeros(1, H, dtype=torch.float64))
