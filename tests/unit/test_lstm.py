"""rnncourse.lstm against nn.LSTMCell and the parameter counts of torch's modules."""

import itertools

import pytest
import torch

from rnncourse.teaching.lstm import count_params, lstm_cell, lstm_gate_trace


@pytest.mark.parametrize("seed, N, H_in, H", [(0, 1, 3, 4), (1, 5, 2, 7), (2, 8, 6, 3)])
def test_lstm_cell_equals_torch(seed, N, H_in, H):
    torch.manual_seed(seed)
    cell = torch.nn.LSTMCell(H_in, H).double()
    x = torch.randn(N, H_in, dtype=torch.float64)
    h = torch.randn(N, H, dtype=torch.float64)
    c = torch.randn(N, H, dtype=torch.float64)
    params = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    h_ours, c_ours = lstm_cell(x, (h, c), params)
    h_torch, c_torch = cell(x, (h, c))
    assert h_ours.shape == c_ours.shape == (N, H)
    torch.testing.assert_close(h_ours, h_torch, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c_ours, c_torch, rtol=1e-12, atol=1e-12)


def test_lstm_cell_over_a_sequence_equals_nn_lstm():
    torch.manual_seed(3)
    lstm = torch.nn.LSTM(4, 5).double()
    X = torch.randn(6, 2, 4, dtype=torch.float64)
    output, (h_n, c_n) = lstm(X)
    params = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
    state = (torch.zeros(2, 5, dtype=torch.float64), torch.zeros(2, 5, dtype=torch.float64))
    for t in range(6):
        state = lstm_cell(X[t], state, params)
        torch.testing.assert_close(state[0], output[t])
    torch.testing.assert_close(state[1], c_n[0])


def test_lstm_cell_gate_order_is_i_f_g_o():
    # Only the forget gate's bias is large: f = 1, i = o = g = 0.5 / tanh(0) = 0,
    # so c passes through unchanged. A wrong gate order breaks this.
    H = 3
    b_ih = torch.zeros(4 * H, dtype=torch.float64)
    b_ih[H : 2 * H] = 50.0
    params = (
        torch.zeros(4 * H, 2, dtype=torch.float64),
        torch.zeros(4 * H, H, dtype=torch.float64),
        b_ih,
        torch.zeros(4 * H, dtype=torch.float64),
    )
    c = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    h, c_new = lstm_cell(
        torch.ones(1, 2, dtype=torch.float64), (torch.zeros(1, H).double(), c), params
    )
    torch.testing.assert_close(c_new, c)
    torch.testing.assert_close(h, 0.5 * torch.tanh(c))


MODULES = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


@pytest.mark.parametrize(
    "kind, input_size, hidden_size, num_layers",
    list(itertools.product(["rnn", "gru", "lstm"], [1, 7], [1, 16], [1, 2, 3])),
)
def test_count_params_equals_torch(kind, input_size, hidden_size, num_layers):
    module = MODULES[kind](input_size, hidden_size, num_layers=num_layers)
    expected = sum(p.numel() for p in module.parameters())
    assert count_params(kind, input_size, hidden_size, num_layers) == expected


def test_count_params_known_values():
    # d2l's character model: 28 inputs, 256 hidden.
    assert count_params("rnn", 28, 256) == 256 * (28 + 256 + 2)
    assert count_params("lstm", 28, 256) == 4 * count_params("rnn", 28, 256)


def test_count_params_rejects_unknown_kind_listing_choices():
    with pytest.raises(ValueError, match='"rnn", "gru" or "lstm", got \'transformer\''):
        count_params("transformer", 3, 4)


def _gates_by_hand(x, params):
    """The gates of an LSTM over x (L, H_in), computed from the equations directly."""
    W_ih, W_hh, b_ih, b_hh = params
    H = W_hh.shape[1]
    h, c = torch.zeros(1, H, dtype=x.dtype), torch.zeros(1, H, dtype=x.dtype)
    found = {name: [] for name in "ifgoch"}
    for x_t in x:
        i, f, g, o = (x_t[None] @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c + i * g
        h = o * c.tanh()
        for name, value in zip("ifgoch", (i, f, g, o, c, h), strict=True):
            found[name].append(value)
    return {name: torch.cat(values) for name, values in found.items()}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_lstm_gate_trace_reads_the_gates_off_the_cell(dtype):
    torch.manual_seed(4)
    lstm = torch.nn.LSTM(3, 5, batch_first=True).to(dtype)
    with torch.no_grad():
        for p in lstm.parameters():
            p.normal_()
    x = torch.randn(9, 3, dtype=dtype)  # (L, H_in)
    params = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
    trace = lstm_gate_trace(x, params)
    expected = _gates_by_hand(x, tuple(p.detach() for p in params))
    assert set(trace) == set("ifgoch")
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for name, value in trace.items():
        assert value.shape == (9, 5) and not value.requires_grad
        torch.testing.assert_close(value, expected[name], rtol=tol, atol=tol)
    with torch.no_grad():
        output, _ = lstm(x[None])
    torch.testing.assert_close(trace["h"], output[0], rtol=tol, atol=tol)


def test_lstm_gate_trace_uses_the_cell_it_is_given():
    calls = []

    def counting_cell(x, state, params):
        calls.append(x.shape)
        return lstm_cell(x, state, params)

    torch.manual_seed(5)
    cell = torch.nn.LSTMCell(2, 3)
    params = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    trace = lstm_gate_trace(torch.randn(4, 2), params, cell=counting_cell)
    assert trace["c"].shape == (4, 3)
    assert calls == [(1, 2)] * (4 * 5)  # four probes and the real step per time step
