"""The first recurrent network of the course (lesson 01): one step of a tanh RNN
written as a module, the way source 000 builds it, with the activation it lacks.

``SimpleRNN`` concatenates the input and the previous hidden state and sends
them through one linear layer (``i2h``), so its weight is the two matrices of
the textbook equation side by side, [W_xh^T | W_hh^T] in torch's (out, in)
layout; a second linear layer (``i2o``) reads the new state out as
log-probabilities over C classes. Elman (1990) is the origin of the idea.
"""

import torch
from torch import nn


class SimpleRNN(nn.Module):
    """One step of an Elman RNN with a log-softmax read-out.

    SimpleRNN(input_size, hidden_size, output_size):
    - i2h: nn.Linear(input_size + hidden_size, hidden_size), on cat(x_t, h)
    - i2o: nn.Linear(hidden_size, output_size)

    forward(x_t, h) -> (y_t, h_new):
    - x_t: (N, H_in) the input of one step; h: (N, H) the previous hidden state
    - h_new = tanh(i2h(cat(x_t, h))): (N, H)
    - y_t = log_softmax(i2o(h_new)) over the last dimension: (N, C), C = output_size

    init_hidden(batch_size=1) -> (batch_size, H) zeros, the state before step 1.

    With i2h.weight split into [W_ih | W_hh] (first H_in columns, last H) this is
    ``nn.RNNCell(H_in, H)`` with bias_ih = i2h.bias and bias_hh = 0, plus a read-out.
    """

    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)  # [x_t, h] -> new state
        self.i2o = nn.Linear(hidden_size, output_size)  # new state -> class scores

    def forward(self, x_t, h):
        combined = torch.cat((x_t, h), dim=-1)  # (N, H_in + H): input first, then state
        h_new = torch.tanh(self.i2h(combined))  # (N, H), every entry in (-1, 1)
        y_t = torch.log_softmax(self.i2o(h_new), dim=-1)  # (N, C) log-probabilities
        return y_t, h_new

    def init_hidden(self, batch_size=1):
        # On the module's device, so that a model moved to the GPU gets a GPU state.
        return torch.zeros(batch_size, self.hidden_size, device=self.i2h.weight.device)
