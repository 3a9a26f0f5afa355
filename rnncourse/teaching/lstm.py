"""The LSTM cell and parameter counts (lesson 07_lstm_comparison).

The long short-term memory (Hochreiter & Schmidhuber 1997) keeps a cell state
c_t that is updated additively, f_t * c_{t-1} + i_t * g_t, so a gradient can
flow back through many steps without being squashed by a tanh every time.
The GRU (Cho et al. 2014) does the same with two gates and no separate cell.

Weights follow PyTorch's layout and gate order, so ``nn.LSTMCell`` weights can
be passed in unchanged:

    W_ih: (4H, H_in) = (W_ii | W_if | W_ig | W_io) stacked along dim 0
    W_hh: (4H, H)    = (W_hi | W_hf | W_hg | W_ho)
    b_ih, b_hh: (4H,)
"""

from __future__ import annotations

import torch

# Weight blocks per layer: one per gate (GRU: reset, update, new; LSTM: i, f, g, o).
_GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def lstm_cell(x: torch.Tensor, state, params) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step; equals ``nn.LSTMCell`` with the same weights.

    Inputs:
    - x: (N, H_in) input at this step
    - state: (h, c), each (N, H): previous hidden and cell state
    - params: (W_ih (4H, H_in), W_hh (4H, H), b_ih (4H,), b_hh (4H,)),
      gate order (i, f, g, o) as in PyTorch

    Returns (h, c), each (N, H):
        i = sigmoid(x W_ii^T + b_ii + h W_hi^T + b_hi)    input gate
        f = sigmoid(x W_if^T + b_if + h W_hf^T + b_hf)    forget gate
        g = tanh(x W_ig^T + b_ig + h W_hg^T + b_hg)       candidate cell
        o = sigmoid(x W_io^T + b_io + h W_ho^T + b_ho)    output gate
        c' = f * c + i * g
        h' = o * tanh(c')
    """
    h, c = state
    W_ih, W_hh, b_ih, b_hh = params
    if x.dim() != 2 or h.shape != c.shape or h.shape[0] != x.shape[0]:
        raise ValueError(
            f"expected x (N, H_in) and h, c (N, H); got x {tuple(x.shape)}, "
            f"h {tuple(h.shape)}, c {tuple(c.shape)}"
        )
    H = h.shape[1]
    if W_ih.shape != (4 * H, x.shape[1]) or W_hh.shape != (4 * H, H):
        raise ValueError(
            f"expected W_ih {(4 * H, x.shape[1])} and W_hh {(4 * H, H)}; "
            f"got {tuple(W_ih.shape)} and {tuple(W_hh.shape)}"
        )
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh  # (N, 4H)
    i, f, g, o = gates.chunk(4, dim=1)  # each (N, H)
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
    g = torch.tanh(g)
    c = f * c + i * g  # (N, H)
    h = o * torch.tanh(c)  # (N, H)
    return h, c


def count_params(kind: str, input_size: int, hidden_size: int, num_layers: int = 1) -> int:
    """Number of parameters of ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (one direction, biases on).

    Each layer has G weight blocks (G = 1 for "rnn", 3 for "gru", 4 for "lstm"),
    each with W_i (H, input), W_h (H, H) and two biases b_i, b_h (H,), as torch
    stores them; layers after the first take the hidden state as input:

        layer 0:    G * (H * H_in + H * H + 2 * H)
        layer l>0:  G * (H * H    + H * H + 2 * H)
    """
    if kind not in _GATES:
        raise ValueError(f"kind must be one of {sorted(_GATES)}; got {kind!r}")
    for name, value in [
        ("input_size", input_size),
        ("hidden_size", hidden_size),
        ("num_layers", num_layers),
    ]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    G, H = _GATES[kind], hidden_size
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else H
        total += G * (H * layer_input + H * H + 2 * H)
    return total
