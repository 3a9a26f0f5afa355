"""Tests of rnncourse.torch_rnn (lesson 04) against torch.nn.RNN / GRU / LSTM."""

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnncourse.teaching.scratch_rnn import RNNModelScratch, predict_chars, rnn_forward
from rnncourse.teaching.text import Vocab
from rnncourse.teaching.torch_rnn import (
    RNNLM,
    last_valid_output,
    load_scratch_params,
    rnn_output_shapes,
)

# --- rnn_output_shapes --------------------------------------------------------------


MODULES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def measured_shapes(kind, L, N, H_in, H, num_layers, bidirectional, batch_first):
    """The shapes a real torch module returns, as the dict rnn_output_shapes promises."""
    module = MODULES[kind](
        H_in, H, num_layers, bidirectional=bidirectional, batch_first=batch_first
    )
    output, state = module(torch.zeros((N, L, H_in) if batch_first else (L, N, H_in)))
    if kind == "lstm":
        h_n, c_n = state
        return {"output": tuple(output.shape), "h_n": tuple(h_n.shape), "c_n": tuple(c_n.shape)}
    return {"output": tuple(output.shape), "h_n": tuple(state.shape)}


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize(
    "num_layers,bidirectional,batch_first",
    list(itertools.product([1, 2, 3], [False, True], [False, True])),
)
@pytest.mark.parametrize("L,N,H_in,H", [(5, 3, 4, 6), (1, 1, 1, 1), (7, 2, 9, 3)])
def test_rnn_output_shapes_match_real_modules(
    kind, num_layers, bidirectional, batch_first, L, N, H_in, H
):
    shapes = rnn_output_shapes(L, N, H_in, H, num_layers, bidirectional, batch_first, kind=kind)
    assert shapes == measured_shapes(kind, L, N, H_in, H, num_layers, bidirectional, batch_first)
    assert all(isinstance(v, tuple) and all(type(s) is int for s in v) for v in shapes.values())


def test_rnn_output_shapes_by_hand():
    assert rnn_output_shapes(35, 32, 28, 256) == {"output": (35, 32, 256), "h_n": (1, 32, 256)}
    got = rnn_output_shapes(10, 2, 8, 16, num_layers=2, bidirectional=True, batch_first=True)
    assert got == {"output": (2, 10, 32), "h_n": (4, 2, 16)}


def test_rnn_output_shapes_the_sources_examples():
    # nn.RNN(5, 10, 2) on (6, 3, 5), and nn.LSTM(50, 100, 2) on (10, 3, 50)
    assert rnn_output_shapes(6, 3, 5, 10, 2) == {"output": (6, 3, 10), "h_n": (2, 3, 10)}
    assert rnn_output_shapes(10, 3, 50, 100, 2, kind="lstm") == {
        "output": (10, 3, 100),
        "h_n": (2, 3, 100),
        "c_n": (2, 3, 100),
    }
    assert rnn_output_shapes(6, 3, 5, 10, 2, kind="gru") == rnn_output_shapes(6, 3, 5, 10, 2)


@pytest.mark.parametrize("kind", ["transformer", "LSTM", "", None, "rnn_tanh"])
def test_rnn_output_shapes_rejects_other_kinds(kind):
    with pytest.raises(ValueError, match="rnn"):
        rnn_output_shapes(5, 2, 4, 3, kind=kind)


def test_rnn_output_shapes_does_not_build_a_module(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("rnn_output_shapes must not build a recurrent module")

    for name in ("RNN", "GRU", "LSTM"):
        monkeypatch.setattr(nn, name, forbidden)
    assert rnn_output_shapes(2, 1, 1, 3)["h_n"] == (1, 1, 3)
    assert rnn_output_shapes(2, 1, 1, 3, kind="lstm")["c_n"] == (1, 1, 3)


# --- load_scratch_params -------------------------------------------------------------

V, H, N, L = 6, 4, 3, 5


def float64_params(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(V, H), (H, H), (H,), (H, V), (V,)]
    return [0.5 * torch.randn(s, generator=g, dtype=torch.float64) for s in shapes]


@pytest.mark.parametrize("batch_first", [False, True])
def test_load_scratch_params_makes_nn_rnn_equal_rnn_forward(batch_first):
    params = float64_params()
    W_xh, W_hh, b_h, W_hq, b_q = params
    rnn = nn.RNN(V, H, batch_first=batch_first).double()
    load_scratch_params(rnn, params)
    assert torch.equal(rnn.weight_ih_l0, W_xh.T) and torch.equal(rnn.weight_hh_l0, W_hh.T)
    assert torch.equal(rnn.bias_ih_l0, b_h)
    assert torch.count_nonzero(rnn.bias_hh_l0) == 0, "b_h must be loaded once, not twice"
    assert all(p.requires_grad and p.is_leaf for p in rnn.parameters())

    inputs = torch.randn(L, N, V, dtype=torch.float64)
    h0 = torch.randn(N, H, dtype=torch.float64)
    expected_Y, (expected_h,) = rnn_forward(inputs, (h0,), params)

    output, h_n = rnn(inputs.transpose(0, 1) if batch_first else inputs, h0[None])
    if batch_first:
        output = output.transpose(0, 1)  # (L, N, H)
    Y = (output @ W_hq + b_q).reshape(L * N, V)  # time-major rows, like rnn_forward
    torch.testing.assert_close(Y, expected_Y, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n[0], expected_h, rtol=0, atol=1e-12)


def test_load_scratch_params_copies_into_a_float32_rnn_without_grad():
    params = [p.requires_grad_() for p in float64_params()]
    rnn = nn.RNN(V, H)
    load_scratch_params(rnn, params)
    assert rnn.weight_ih_l0.dtype == torch.float32 and rnn.weight_ih_l0.grad_fn is None
    torch.testing.assert_close(rnn.weight_hh_l0, params[1].detach().T.float())


# --- last_valid_output ------------------------------------------------------------------


def padded_batch(batch_first, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 2, 4, 1])
    x = torch.randn(4, 5, 3, generator=g, dtype=torch.float64)  # (N, L_max, H_in)
    return (x if batch_first else x.transpose(0, 1)), lengths


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", [nn.RNN, nn.GRU])
def test_last_valid_output_equals_h_n_of_the_packed_batch(batch_first, num_layers, kind):
    torch.manual_seed(0)
    rnn = kind(3, 6, num_layers, batch_first=batch_first).double()
    x, lengths = padded_batch(batch_first)
    output, _ = rnn(x)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    _, h_n = rnn(packed)
    got = last_valid_output(output, lengths, batch_first=batch_first)
    assert got.shape == (4, 6)
    torch.testing.assert_close(got, h_n[-1], rtol=0, atol=1e-12)
    # a list of lengths works the same
    torch.testing.assert_close(last_valid_output(output, lengths.tolist(), batch_first), got)


def test_last_valid_output_bidirectional_forward_half_equals_packed_h_n():
    torch.manual_seed(0)
    rnn = nn.RNN(3, 6, bidirectional=True, batch_first=True).double()
    x, lengths = padded_batch(True)
    output, _ = rnn(x)
    _, h_n = rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    got = last_valid_output(output, lengths)
    assert got.shape == (4, 12)
    torch.testing.assert_close(got[:, :6], h_n[-2], rtol=0, atol=1e-12)


def test_last_valid_output_picks_the_right_step():
    output = torch.arange(2 * 3 * 1).reshape(2, 3, 1)  # (N=2, L=3, 1): value = 3*b + t
    assert last_valid_output(output, [3, 1]).tolist() == [[2], [3]]
    assert last_valid_output(output.transpose(0, 1), [3, 1], batch_first=False).tolist() == [
        [2],
        [3],
    ]


def test_last_valid_output_rejects_a_packed_output():
    packed = pack_padded_sequence(torch.zeros(2, 3, 1), [3, 1], batch_first=True)
    with pytest.raises(TypeError, match="pad_packed_sequence"):
        last_valid_output(packed, [3, 1])


# --- RNNLM -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,state_len", [(nn.RNN, 1), (nn.GRU, 1), (nn.LSTM, 2)])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, False), (1, True)])
def test_rnnlm_shapes_and_state_kinds(kind, state_len, num_layers, bidirectional):
    torch.manual_seed(0)
    net = RNNLM(kind(V, 8, num_layers, bidirectional=bidirectional), V)
    D = 2 if bidirectional else 1
    state = net.begin_state(N, "cpu")
    assert isinstance(state, tuple) and len(state) == state_len
    assert all(s.shape == (D * num_layers, N, 8) for s in state)
    Y, new_state = net(torch.randint(0, V, (N, L)), state)
    assert Y.shape == (L * N, V)
    assert isinstance(new_state, tuple) and len(new_state) == state_len
    assert all(s.shape == (D * num_layers, N, 8) for s in new_state)
    assert sum(p.numel() for p in net.parameters()) > 0


@pytest.mark.parametrize("kind", [nn.RNN, nn.GRU, nn.LSTM])
def test_rnnlm_carried_state_continues_the_sequence(kind):
    torch.manual_seed(0)
    net = RNNLM(kind(V, 8), V).double()
    X = torch.randint(0, V, (N, 6))
    state = net.begin_state(N, "cpu")
    assert all(s.dtype == torch.float64 for s in state)
    Y_all, state_all = net(X, state)
    Y_a, state_a = net(X[:, :4], state)
    Y_b, state_b = net(X[:, 4:], state_a)
    torch.testing.assert_close(torch.cat([Y_a, Y_b]), Y_all)  # time-major rows
    for s_all, s_b in zip(state_all, state_b, strict=True):
        torch.testing.assert_close(s_all, s_b)


def test_rnnlm_equals_the_scratch_model_with_the_same_weights():
    params = float64_params(3)
    W_xh, W_hh, b_h, W_hq, b_q = params
    rnn = nn.RNN(V, H).double()
    load_scratch_params(rnn, params)
    net = RNNLM(rnn, V).double()
    with torch.no_grad():
        net.linear.weight.copy_(W_hq.T)
        net.linear.bias.copy_(b_q)
    scratch = RNNModelScratch(V, H, "cpu", get_params=lambda v, h, d: params)
    X = torch.randint(0, V, (N, L))
    h0 = torch.randn(N, H, dtype=torch.float64)
    Y_torch, (h_torch,) = net(X, (h0[None],))
    Y_scratch, (h_scratch,) = scratch(X, (h0,))
    torch.testing.assert_close(Y_torch, Y_scratch, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_torch[0], h_scratch, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", [nn.RNN, nn.LSTM])
def test_predict_chars_works_with_rnnlm(kind):
    torch.manual_seed(0)
    vocab = Vocab(list("abcdef"))
    out = predict_chars("abc", 5, RNNLM(kind(6, 8), 6), vocab, "cpu")
    assert out.startswith("abc") and len(out) == 8 and set(out) <= set("abcdef")


def test_rnnlm_rejects_bad_layers_and_states():
    with pytest.raises(ValueError, match="batch_first"):
        RNNLM(nn.RNN(V, H, batch_first=True), V)
    with pytest.raises(ValueError, match="vocab_size"):
        RNNLM(nn.GRU(V + 1, H), V)
    with pytest.raises(TypeError):
        RNNLM(nn.Linear(V, H), V)
    with pytest.raises(ValueError, match="proj_size"):
        RNNLM(nn.LSTM(V, H, proj_size=2), V)
    lstm = RNNLM(nn.LSTM(V, H), V)
    X = torch.randint(0, V, (N, L))
    with pytest.raises(TypeError, match=r"\(h, c\)"):
        lstm(X, (torch.zeros(1, N, H),))
    with pytest.raises(TypeError):
        RNNLM(nn.RNN(V, H), V)(X, torch.zeros(1, N, H))
    with pytest.raises(ValueError):
        lstm(X[0], lstm.begin_state(N, "cpu"))
