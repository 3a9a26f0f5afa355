"""The GRU cell (lesson 07_lstm_comparison).

The gated recurrent unit (Cho et al. 2014) keeps one state h_t and mixes it with
a candidate n_t through an update gate z_t, so a unit with z_t near 1 copies its
old value and a gradient flows back along it unchanged. Three weight blocks
(r, z, n) against the LSTM's four (i, f, g, o).

Weights follow PyTorch's layout and gate order, so ``nn.GRUCell`` weights can be
passed in unchanged:

    W_ih: (3H, H_in) = (W_ir | W_iz | W_in) stacked along dim 0
    W_hh: (3H, H)    = (W_hr | W_hz | W_hn)
    b_ih, b_hh: (3H,)

PyTorch (like cuDNN) applies the reset gate after the recurrent product,
r * (W_hn h + b_hn); Cho et al. applied it before, W_hn (r * h). Both are GRUs,
but their weights are not interchangeable; this module follows PyTorch.
"""

from __future__ import annotations

import torch


def gru_cell(x, h, params):
    """One GRU step; equals ``nn.GRUCell`` with the same weights.

    Inputs:
    - x: (N, H_in) input at this step
    - h: (N, H) previous hidden state
    - params: (W_ih (3H, H_in), W_hh (3H, H), b_ih (3H,), b_hh (3H,)),
      gate order (r, z, n) as in PyTorch

    Returns h_new, (N, H):
        r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)          reset gate
        z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)          update gate
        n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))       candidate
        h_new = (1 - z) * n + z * h
    """
    W_ih, W_hh, b_ih, b_hh = params
    x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=1)  # each (N, H)
    h_r, h_z, h_n = (h @ W_hh.T + b_hh).chunk(3, dim=1)  # each (N, H)
    r = torch.sigmoid(x_r + h_r)  # (N, H) reset gate
    z = torch.sigmoid(x_z + h_z)  # (N, H) update gate
    n = torch.tanh(x_n + r * h_n)  # (N, H): r scales W_hn h + b_hn, bias included
    return (1 - z) * n + z * h  # (N, H): z keeps the old state, 1 - z takes the candidate
