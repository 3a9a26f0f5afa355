"""Tests of rnncourse.scratch_rnn (lesson 03) against PyTorch's RNN cell, and of its
greedy and sampled text generation."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnncourse.teaching.scratch_rnn import (
    RNNModelScratch,
    init_rnn_params,
    init_rnn_state,
    perplexity,
    predict_chars,
    rnn_forward,
    rnn_step,
    sample_chars,
)
from rnncourse.teaching.text import Vocab, build_vocab

V, H, N, L = 7, 5, 3, 4


def float64_params(seed=0):
    """Random float64 params [W_xh, W_hh, b_h, W_hq, b_q] with nonzero biases."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(V, H), (H, H), (H,), (H, V), (V,)]
    return [
        (0.5 * torch.randn(s, generator=g, dtype=torch.float64)).requires_grad_() for s in shapes
    ]


def torch_cell(params):
    """An nn.RNNCell holding the same weights (torch stores the transposes)."""
    W_xh, W_hh, b_h, _, _ = params
    cell = nn.RNNCell(V, H).double()
    with torch.no_grad():
        cell.weight_ih.copy_(W_xh.T)
        cell.weight_hh.copy_(W_hh.T)
        cell.bias_ih.copy_(b_h)
        cell.bias_hh.zero_()
    return cell


def test_init_rnn_params_shapes_init_and_grad():
    torch.manual_seed(0)
    params = init_rnn_params(28, 64, torch.device("cpu"))
    assert [tuple(p.shape) for p in params] == [(28, 64), (64, 64), (64,), (64, 28), (28,)]
    for p in params:
        assert p.requires_grad and p.is_leaf, "parameters must be leaves that require grad"
        assert p.device.type == "cpu"
    W_xh, W_hh, b_h, W_hq, b_q = params
    assert torch.count_nonzero(b_h) == 0 and torch.count_nonzero(b_q) == 0
    for W in (W_xh, W_hh, W_hq):
        assert 0.007 < float(W.detach().std()) < 0.013, "weights need std 0.01"


def test_init_rnn_state_is_a_tuple_of_zeros():
    state = init_rnn_state(3, 5, "cpu")
    assert isinstance(state, tuple) and len(state) == 1
    assert state[0].shape == (3, 5) and torch.count_nonzero(state[0]) == 0


def test_rnn_step_equals_nn_rnncell():
    params = float64_params()
    x_t = torch.randn(N, V, dtype=torch.float64)
    h = torch.randn(N, H, dtype=torch.float64)
    h_new = rnn_step(x_t, h, params)
    assert h_new.shape == (N, H)
    torch.testing.assert_close(h_new, torch_cell(params)(x_t, h), rtol=0, atol=1e-12)


def test_rnn_forward_equals_a_loop_of_nn_rnncell():
    params = float64_params(1)
    inputs = torch.randn(L, N, V, dtype=torch.float64)
    h0 = torch.randn(N, H, dtype=torch.float64)
    outputs, (h,) = rnn_forward(inputs, (h0,), params)
    assert outputs.shape == (L * N, V) and h.shape == (N, H)

    cell, (_, _, _, W_hq, b_q) = torch_cell(params), params
    expected_h, rows = h0, []
    for t in range(L):
        expected_h = cell(inputs[t], expected_h)
        rows.append(expected_h @ W_hq + b_q)
    # time-major: rows t*N .. t*N + N - 1 are step t
    torch.testing.assert_close(outputs, torch.cat(rows), rtol=0, atol=1e-12)
    torch.testing.assert_close(h, expected_h, rtol=0, atol=1e-12)


def test_rnn_forward_backpropagates_into_every_parameter():
    params = float64_params(2)
    h0 = torch.zeros(N, H, dtype=torch.float64)
    outputs, (h,) = rnn_forward(torch.randn(L, N, V, dtype=torch.float64), (h0,), params)
    (outputs.sum() + h.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)


def test_rnn_model_scratch_follows_the_net_protocol():
    torch.manual_seed(0)
    net = RNNModelScratch(V, H, "cpu")
    X = torch.randint(0, V, (N, L))
    state = net.begin_state(N, "cpu")
    assert isinstance(state, tuple) and state[0].shape == (N, H)
    Y, new_state = net(X, state)
    assert Y.shape == (L * N, V)
    assert isinstance(new_state, tuple) and new_state[0].shape == (N, H)
    assert list(net.parameters()) == net.params and len(net.params) == 5
    # the same as rnn_forward on the one-hot inputs, time first
    expected, _ = rnn_forward(F.one_hot(X.T, V).float(), state, net.params)
    torch.testing.assert_close(Y, expected)
    # row t*N + b predicts the token after X[b, t]
    Y_steps, _ = net(X[:, :2], state)
    torch.testing.assert_close(Y_steps[N : 2 * N], Y[N : 2 * N])


def test_rnn_model_scratch_uses_float64_params():
    def params64(vocab_size, num_hiddens, device):
        return [p.detach().double().requires_grad_() for p in init_rnn_params(V, H, device)]

    def state64(batch_size, num_hiddens, device):
        return (torch.zeros(batch_size, num_hiddens, dtype=torch.float64, device=device),)

    net = RNNModelScratch(V, H, "cpu", get_params=params64, init_state=state64)
    Y, _ = net(torch.randint(0, V, (2, 3)), net.begin_state(2, "cpu"))
    assert Y.dtype == torch.float64


class CountingNet:
    """A protocol net whose state counts the tokens it has read and that
    always predicts the token whose index equals that count (mod V)."""

    def __init__(self, vocab_size):
        self.V = vocab_size

    def begin_state(self, batch_size, device):
        return (torch.zeros(batch_size, dtype=torch.long, device=device),)

    def __call__(self, X, state):
        (count,) = state
        rows = []
        for _ in range(X.shape[1]):
            count = count + 1
            rows.append(F.one_hot(count % self.V, self.V).float())  # (N, V)
        return torch.cat(rows), (count,)

    def parameters(self):
        return []


def test_predict_chars_keeps_the_state_from_the_warm_up():
    vocab = Vocab(list("abcdefgh"))
    # 3 prefix characters read -> predicts index 3 ('d'), then 4, 5, 6
    assert predict_chars("aaa", 4, CountingNet(8), vocab, "cpu") == "aaadefg"
    assert predict_chars("b", 0, CountingNet(8), vocab, "cpu") == "b"
    # with 7 prefix characters the count wraps around the vocabulary
    assert predict_chars("hgfedcb", 2, CountingNet(8), vocab, "cpu") == "hgfedcbha"


def successor_params(vocab_size):
    """RNN params whose greedy prediction after character k is character k+1
    (cyclically): W_hh = 0, W_xh = 5 I, W_hq a shift matrix."""
    W_xh = 5 * torch.eye(vocab_size)
    W_hh = torch.zeros(vocab_size, vocab_size)
    b_h = torch.zeros(vocab_size)
    W_hq = torch.roll(torch.eye(vocab_size), shifts=1, dims=1)  # row k -> column k+1
    b_q = torch.zeros(vocab_size)
    return [W_xh, W_hh, b_h, W_hq, b_q]


def test_predict_chars_with_a_crafted_scratch_rnn():
    vocab = build_vocab([list("abcde")], reserved=())
    assert vocab.idx_to_token == list("abcde")
    net = RNNModelScratch(5, 5, "cpu", get_params=lambda v, h, d: successor_params(v))
    assert predict_chars("ab", 6, net, vocab, "cpu") == "abcdeabc"
    out = predict_chars("dd", 3, net, vocab, "cpu")
    assert out == "ddeab" and len(out) == 2 + 3


class FixedNet:
    """A protocol net that scores every next token with the same logits."""

    def __init__(self, logits):
        self.logits = logits  # (V,)

    def begin_state(self, batch_size, device):
        return (torch.zeros(batch_size, device=device),)

    def __call__(self, X, state):
        return self.logits.expand(X.numel(), -1), state  # (L*N, V)


def test_sample_chars_near_zero_temperature_is_greedy():
    vocab = Vocab(list("abcdefgh"))
    for prefix, n in [("aaa", 4), ("hgfedcb", 9), ("b", 0)]:
        greedy = predict_chars(prefix, n, CountingNet(8), vocab, "cpu")
        assert sample_chars(prefix, n, CountingNet(8), vocab, "cpu", temperature=1e-3) == greedy
    torch.manual_seed(0)
    net = RNNModelScratch(len(vocab), 16, "cpu")
    with torch.no_grad():
        net.params[3].mul_(300)  # logits far apart: no near-ties between the best two
    assert sample_chars("abc", 20, net, vocab, "cpu", temperature=1e-4) == predict_chars(
        "abc", 20, net, vocab, "cpu"
    )


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sample_chars_draws_from_the_tempered_softmax(temperature):
    vocab = Vocab(list("abc"))
    p = torch.tensor([0.6, 0.3, 0.1])
    n = 4000
    text = sample_chars(
        "a", n, FixedNet(p.log()), vocab, "cpu", temperature, torch.Generator().manual_seed(0)
    )
    freqs = torch.tensor([text[1:].count(ch) / n for ch in "abc"])
    expected = torch.softmax(p.log() / temperature, dim=0)
    # 4000 draws: the standard error of each frequency is below 0.008
    torch.testing.assert_close(freqs, expected, rtol=0, atol=0.03)


def test_sample_chars_is_reproducible_with_its_generator_only():
    vocab = Vocab(list("abc"))
    net = FixedNet(torch.zeros(3))

    def draw(seed, global_seed):
        torch.manual_seed(global_seed)
        return sample_chars(
            "a", 200, net, vocab, "cpu", generator=torch.Generator().manual_seed(seed)
        )

    torch.manual_seed(1)
    rng = torch.get_rng_state()
    first = draw(7, 1)
    assert torch.equal(torch.get_rng_state(), rng), "a given generator: the global one is untouched"
    assert draw(7, 2) == first
    assert draw(8, 1) != first
    assert len(sample_chars("ab", 5, net, vocab, "cpu")) == 7  # the global generator


@pytest.mark.parametrize("temperature", [0, -1.0])
def test_sample_chars_rejects_a_temperature_that_is_not_positive(temperature):
    with pytest.raises(ValueError, match="temperature"):
        sample_chars("a", 3, FixedNet(torch.zeros(3)), Vocab(list("abc")), "cpu", temperature)


def test_perplexity_is_exp_of_the_mean_nll():
    assert perplexity(0.0, 10) == 1.0
    assert perplexity(10 * math.log(3), 10) == pytest.approx(3.0)
    assert perplexity(torch.tensor(2.0), 4) == pytest.approx(math.exp(0.5))
    # a uniform guess over V tokens has perplexity V
    logits, targets = torch.zeros(50, 28), torch.randint(0, 28, (50,))
    total = F.cross_entropy(logits, targets, reduction="sum")
    assert perplexity(total, 50) == pytest.approx(28.0)
