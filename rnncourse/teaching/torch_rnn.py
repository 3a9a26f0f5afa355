"""``torch.nn.RNN`` and its shapes (lesson 04), and the language-model wrapper
that puts ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` behind the course's net protocol.

Shapes, as in torch's documentation:

    N   batch size            L   sequence length
    H_in  input features      H   hidden size (H_out)
    D   2 if bidirectional else 1
    V   vocabulary size

- input: (L, N, H_in), or (N, L, H_in) with batch_first=True
- output: (L, N, D*H), or (N, L, D*H) with batch_first=True; the last layer's
  hidden state at every step, both directions side by side
- h_0, h_n: (D*num_layers, N, H) whatever batch_first says; the state of
  every layer and direction after the last step
- c_0, c_n (nn.LSTM only, passed and returned as the pair (h, c)): the cell
  state, of h_n's shape
"""

import torch
from torch import nn

from .text import one_hot


def rnn_output_shapes(
    seq_len,
    batch,
    input_size,
    hidden_size,
    num_layers=1,
    bidirectional=False,
    batch_first=False,
    kind="rnn",
):
    """Shapes of ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``'s outputs, worked out without building one.

    kind is "rnn", "gru" or "lstm" (anything else raises ValueError). Returns
    {"output": (L, N, D*H) or (N, L, D*H), "h_n": (D*num_layers, N, H)}, and
    for "lstm" also "c_n", the final cell state, of h_n's shape. input_size
    appears in none of them: the first layer maps H_in to H.
    """
    if kind not in ("rnn", "gru", "lstm"):
        raise ValueError(f'kind must be "rnn", "gru" or "lstm", got {kind!r}')
    D = 2 if bidirectional else 1
    if batch_first:
        output = (batch, seq_len, D * hidden_size)
    else:
        output = (seq_len, batch, D * hidden_size)
    h_n = (D * num_layers, batch, hidden_size)  # never batch-first
    shapes = {"output": output, "h_n": h_n}
    if kind == "lstm":
        shapes["c_n"] = h_n  # one cell state per layer and direction, like h
    return shapes


def load_scratch_params(rnn, params):
    """Copy lesson 03's parameters into a one-layer, one-direction tanh ``nn.RNN``.

    Inputs:
    - rnn: nn.RNN(input_size=V, hidden_size=H), one layer, not bidirectional,
      tanh, with biases (the default)
    - params: [W_xh (V, H), W_hh (H, H), b_h (H,), W_hq (H, V), b_q (V,)] as
      from ``init_rnn_params``

    nn.RNN computes h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), so
    weight_ih_l0 = W_xh^T (H, V), weight_hh_l0 = W_hh^T (H, H),
    bias_ih_l0 = b_h, and bias_hh_l0 = 0 (torch has two biases where the
    textbook has one; loading b_h into both would add it twice).
    The output layer W_hq, b_q is not part of nn.RNN and is left out. The
    copies are made in place, so rnn's parameters stay trainable.
    """
    W_xh, W_hh, b_h, _, _ = params
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(W_xh.T)  # (H, V)
        rnn.weight_hh_l0.copy_(W_hh.T)  # (H, H)
        rnn.bias_ih_l0.copy_(b_h)
        rnn.bias_hh_l0.zero_()  # the textbook has one bias: count it once


def last_valid_output(output, lengths, batch_first=True):
    """The output at each sequence's last real (non-padding) step.

    Inputs:
    - output: (N, L, D*H) if batch_first else (L, N, D*H), e.g. nn.RNN's output
      on a padded batch
    - lengths: (N,) tensor or list of real lengths, each in 1 .. L

    Returns a (N, D*H) tensor, row b = output at step lengths[b] - 1 of
    sequence b. For a one-direction RNN this equals h_n[-1] of the packed
    batch; for a bidirectional one the backward half of that row has only seen
    the last step (its summary of the whole sequence sits at step 0).
    A packed output (a PackedSequence) raises TypeError: pad it back first.
    """
    if isinstance(output, nn.utils.rnn.PackedSequence):
        raise TypeError("output is a PackedSequence: unpack it with pad_packed_sequence first")
    if not batch_first:
        output = output.transpose(0, 1)  # (N, L, D*H)
    last = torch.as_tensor(lengths).to(output.device) - 1  # (N,) index of the last real step
    rows = torch.arange(output.shape[0], device=output.device)  # (N,)
    return output[rows, last]  # (N, D*H)


class RNNLM(nn.Module):
    """A character/word language model: one-hot inputs -> nn.RNN / nn.GRU /
    nn.LSTM -> Linear, behind the course's net protocol (see scratch_rnn).

    - forward(X, state): X (N, L) token ids -> (Y (L*N, V) logits, rows
      time-major, new state)
    - begin_state(batch_size, device): zeros; the state is always a tuple:
      (h,) for RNN and GRU, (h, c) for LSTM, each (D*num_layers, N, H)

    rnn_layer must have input_size = vocab_size and batch_first=False.
    """

    def __init__(self, rnn_layer, vocab_size):
        super().__init__()
        if not isinstance(rnn_layer, (nn.RNN, nn.GRU, nn.LSTM)):
            raise TypeError(f"rnn_layer must be nn.RNN, nn.GRU or nn.LSTM, got {type(rnn_layer)}")
        if rnn_layer.batch_first:
            raise ValueError("rnn_layer must use batch_first=False: the model feeds (L, N, V)")
        if rnn_layer.input_size != vocab_size:
            raise ValueError(
                f"rnn_layer.input_size ({rnn_layer.input_size}) must equal vocab_size "
                f"({vocab_size}): the inputs are one-hot vectors"
            )
        if getattr(rnn_layer, "proj_size", 0):
            raise ValueError("LSTM projections (proj_size > 0) are not supported")
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.num_hiddens = rnn_layer.hidden_size
        self.num_directions = 2 if rnn_layer.bidirectional else 1
        self.linear = nn.Linear(self.num_directions * self.num_hiddens, vocab_size)

    def forward(self, X, state):
        if X.dim() != 2:
            raise ValueError(f"X must be (N, L) token ids, got shape {tuple(X.shape)}")
        inputs = one_hot(X.T, self.vocab_size).to(self.linear.weight.dtype)  # (L, N, V)
        is_lstm = isinstance(self.rnn, nn.LSTM)
        if not isinstance(state, tuple) or len(state) != (2 if is_lstm else 1):
            expected = "(h, c)" if is_lstm else "(h,)"
            raise TypeError(f"state must be the tuple {expected}, as begin_state returns it")
        # torch wants h for RNN and GRU, the pair (h, c) for LSTM
        outputs, new_state = self.rnn(inputs, state if is_lstm else state[0])  # (L, N, D*H)
        Y = self.linear(outputs.reshape(-1, outputs.shape[-1]))  # (L*N, V)
        return Y, tuple(new_state) if is_lstm else (new_state,)

    def begin_state(self, batch_size, device):
        shape = (self.num_directions * self.rnn.num_layers, batch_size, self.num_hiddens)
        dtype = self.linear.weight.dtype
        if isinstance(self.rnn, nn.LSTM):
            return (
                torch.zeros(shape, dtype=dtype, device=device),
                torch.zeros(shape, dtype=dtype, device=device),
            )
        return (torch.zeros(shape, dtype=dtype, device=device),)
