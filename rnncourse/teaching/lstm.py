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

import math

import torch


def lstm_cell(x, state, params):
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
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh  # (N, 4H)
    i, f, g, o = gates.chunk(4, dim=1)  # each (N, H)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g  # (N, H)
    h = o * torch.tanh(c)  # (N, H)
    return h, c


def count_params(kind, input_size, hidden_size, num_layers=1):
    """Number of parameters of ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` (one direction, biases on).

    Each layer has G weight blocks (G = 1 for "rnn", 3 for "gru", 4 for "lstm"),
    each with W_i (H, input), W_h (H, H) and two biases b_i, b_h (H,), as torch
    stores them; layers after the first take the hidden state as input:

        layer 0:    G * (H * H_in + H * H + 2 * H)
        layer l>0:  G * (H * H    + H * H + 2 * H)

    Any other kind raises ValueError.
    """
    blocks = {"rnn": 1, "gru": 3, "lstm": 4}  # weight blocks per layer: one per gate
    if kind not in blocks:
        raise ValueError(f'kind must be "rnn", "gru" or "lstm", got {kind!r}')
    G, H = blocks[kind], hidden_size
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else H
        total += G * (H * layer_input + H * H + 2 * H)  # W_ih, W_hh, b_ih, b_hh per block
    return total


def _pinned(params, pins):
    """A copy of LSTM params in which each block of ``pins`` (0 = i, 1 = f, 2 = g,
    3 = o) ignores x and h: zero weights, pre-activation = the given constant."""
    W_ih, W_hh, b_ih, b_hh = (p.detach().clone() for p in params)
    H = W_hh.shape[1]
    for block, value in pins.items():
        rows = slice(block * H, (block + 1) * H)
        W_ih[rows], W_hh[rows], b_ih[rows], b_hh[rows] = 0.0, 0.0, value, 0.0
    return W_ih, W_hh, b_ih, b_hh


def lstm_gate_trace(x, params, cell=lstm_cell):
    """Run an LSTM cell over one sequence and record its gates at every step.

    Inputs:
    - x: (L, H_in) one sequence
    - params: (W_ih (4H, H_in), W_hh (4H, H), b_ih (4H,), b_hh (4H,)) as for
      ``lstm_cell``, e.g. layer 0 of a trained ``nn.LSTM``
    - cell: any function with ``lstm_cell``'s contract (a student's ``lstm_cell``);
      the state starts from zeros, as in ``nn.LSTM``

    Returns a dict of (L, H) tensors: "i", "f", "g", "o" (the gates and the
    candidate at each step), "c" and "h" (the state after each step).

    ``cell`` returns only (h, c), so each gate is read off with extra calls at
    the same x_t and h_{t-1}, in which some blocks are pinned (zero weights, a
    constant pre-activation; sigmoid(40) and tanh(40) are 1.0 in floating point):
    g pinned to 0 and c = 1 give c' = f; g pinned to 1 and c = 0 give c' = i;
    i pinned to 1 and c = 0 give c' = g; i and g pinned to 1 and c = 0 give
    c' = 1 and h' = o * tanh(1).
    """
    params = tuple(p.detach() for p in params)
    probe_f = _pinned(params, {2: 0.0})
    probe_i = _pinned(params, {2: 40.0})
    probe_g = _pinned(params, {0: 40.0})
    probe_o = _pinned(params, {0: 40.0, 2: 40.0})
    H = params[1].shape[1]
    h = x.new_zeros(1, H)  # (1, H)
    c = x.new_zeros(1, H)  # (1, H)
    zeros, ones = torch.zeros_like(c), torch.ones_like(c)
    trace = {name: [] for name in ("i", "f", "g", "o", "c", "h")}
    with torch.no_grad():
        for x_t in x.unsqueeze(1):  # (1, H_in) each: a batch of one
            trace["f"].append(cell(x_t, (h, ones), probe_f)[1])
            trace["i"].append(cell(x_t, (h, zeros), probe_i)[1])
            trace["g"].append(cell(x_t, (h, zeros), probe_g)[1])
            trace["o"].append(cell(x_t, (h, zeros), probe_o)[0] / math.tanh(1.0))
            h, c = cell(x_t, (h, c), params)  # the real step
            trace["c"].append(c)
            trace["h"].append(h)
    return {name: torch.cat(values) for name, values in trace.items()}  # each (L, H)
