"""rnncourse.SimpleRNN (lesson 01) against nn.RNNCell, nn.RNN and the contract's shapes."""

import pytest
import torch

import rnncourse
from rnncourse.teaching.simple_rnn import SimpleRNN


def _as_rnn_cell(model: SimpleRNN, input_size: int) -> torch.nn.RNNCell:
    """nn.RNNCell holding the model's i2h: weight split as [W_ih | W_hh], b_hh = 0."""
    H = model.hidden_size
    cell = torch.nn.RNNCell(input_size, H).to(model.i2h.weight.dtype)
    with torch.no_grad():
        cell.weight_ih.copy_(model.i2h.weight[:, :input_size])
        cell.weight_hh.copy_(model.i2h.weight[:, input_size:])
        cell.bias_ih.copy_(model.i2h.bias)
        cell.bias_hh.zero_()
    return cell


@pytest.mark.parametrize(
    "seed, N, H_in, H, C", [(0, 1, 5, 10, 2), (1, 4, 3, 7, 5), (2, 8, 1, 4, 3)]
)
def test_one_step_equals_rnn_cell_with_zero_hidden_bias(seed, N, H_in, H, C):
    torch.manual_seed(seed)
    model = SimpleRNN(H_in, H, C).double()
    cell = _as_rnn_cell(model, H_in)
    x = torch.randn(N, H_in, dtype=torch.float64)
    h = torch.randn(N, H, dtype=torch.float64)
    y, h_new = model(x, h)
    expected_h = cell(x, h)
    assert h_new.shape == (N, H) and y.shape == (N, C)
    torch.testing.assert_close(h_new, expected_h, rtol=1e-12, atol=1e-12)
    expected_y = torch.log_softmax(model.i2o(expected_h), dim=1)
    torch.testing.assert_close(y, expected_y, rtol=1e-12, atol=1e-12)


def test_a_sequence_step_by_step_equals_nn_rnn():
    torch.manual_seed(3)
    H_in, H, L, N = 4, 6, 9, 3
    model = SimpleRNN(H_in, H, 2).double()
    rnn = torch.nn.RNN(H_in, H, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(model.i2h.weight[:, :H_in])
        rnn.weight_hh_l0.copy_(model.i2h.weight[:, H_in:])
        rnn.bias_ih_l0.copy_(model.i2h.bias)
        rnn.bias_hh_l0.zero_()
    X = torch.randn(N, L, H_in, dtype=torch.float64)
    outputs, h_n = rnn(X)
    h = model.init_hidden(N).double()
    for t in range(L):
        _, h = model(X[:, t], h)
        torch.testing.assert_close(h, outputs[:, t], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h, h_n[0], rtol=1e-12, atol=1e-12)


def test_layers_and_attributes_follow_the_contract():
    model = SimpleRNN(5, 10, 2)
    assert isinstance(model.i2h, torch.nn.Linear) and isinstance(model.i2o, torch.nn.Linear)
    assert model.i2h.weight.shape == (10, 15) and model.i2h.bias.shape == (10,)
    assert model.i2o.weight.shape == (2, 10) and model.i2o.bias.shape == (2,)
    assert model.hidden_size == 10
    assert sum(p.numel() for p in model.parameters()) == 10 * 15 + 10 + 2 * 10 + 2


@pytest.mark.parametrize("batch_size", [1, 3])
def test_init_hidden_is_zeros_of_batch_by_hidden(batch_size):
    model = SimpleRNN(5, 10, 2)
    h0 = model.init_hidden(batch_size)
    assert h0.shape == (batch_size, 10) and h0.dtype == torch.float32
    assert torch.equal(h0, torch.zeros(batch_size, 10))
    assert model.init_hidden().shape == (1, 10), "the default batch size is 1"


def test_outputs_are_log_probabilities_and_the_state_is_bounded():
    torch.manual_seed(4)
    model = SimpleRNN(3, 8, 4)
    with torch.no_grad():
        model.i2h.weight.mul_(50.0)  # pre-activations far outside (-1, 1)
    x = 10 * torch.randn(6, 3)
    y, h = model(x, model.init_hidden(6))
    torch.testing.assert_close(y.exp().sum(dim=1), torch.ones(6))
    assert (y <= 0).all(), "log-probabilities are never positive"
    assert h.abs().max() <= 1.0, "tanh keeps every entry of the state in [-1, 1]"


def test_gradients_reach_both_layers_from_a_last_step_loss():
    torch.manual_seed(5)
    model = SimpleRNN(5, 10, 2)
    h = model.init_hidden()
    for x_t in torch.randn(3, 1, 5):
        y, h = model(x_t, h)
    torch.nn.NLLLoss()(y, torch.tensor([1])).backward()
    assert model.i2h.weight.grad.abs().sum() > 0 and model.i2o.weight.grad.abs().sum() > 0


def test_exported_from_rnncourse():
    assert rnncourse.SimpleRNN is SimpleRNN
