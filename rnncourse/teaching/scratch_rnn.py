"""A recurrent neural network from scratch (lesson 03), after Elman (1990) and
Dive into Deep Learning, section "RNN from scratch".

Textbook layout: inputs are row vectors multiplied from the left, x_t @ W_xh
(``nn.RNN`` stores the transpose; lesson 04 moves these weights into it).

    h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)      hidden state (隐藏状态)
    o_t = h_t W_hq + b_q                          output logits

Shapes: N batch, L sequence length, V vocabulary size (one-hot inputs, so
H_in = V), H hidden size.

Every language model of the course follows one protocol, so training and
prediction code works with any of them:
- ``net(X, state) -> (Y, state)``: X (N, L) LongTensor of token ids, Y (L*N, V)
  logits with rows in time-major order (all N sequences at step 0, then step 1,
  ...), state a tuple of tensors;
- ``net.begin_state(batch_size, device) -> tuple``;
- ``net.parameters()``: the tensors to train.
"""

import math

import torch

from .text import one_hot


def init_rnn_params(vocab_size, num_hiddens, device):
    """Parameters [W_xh (V, H), W_hh (H, H), b_h (H,), W_hq (H, V), b_q (V,)].

    Weights are drawn from N(0, 0.01^2), biases start at zero; all are created
    on ``device`` and require grad.
    """

    V, H = vocab_size, num_hiddens

    def normal(shape):
        return torch.randn(shape, device=device) * 0.01

    params = [
        normal((V, H)),  # W_xh
        normal((H, H)),  # W_hh
        torch.zeros(H, device=device),  # b_h
        normal((H, V)),  # W_hq
        torch.zeros(V, device=device),  # b_q
    ]
    return [p.requires_grad_() for p in params]


def init_rnn_state(batch_size, num_hiddens, device):
    """The initial state (h,), h a (N, H) tensor of zeros.

    A tuple even with one tensor, so the LSTM's (h, c) fits the same code.
    """
    return (torch.zeros((batch_size, num_hiddens), device=device),)


def rnn_step(x_t, h, params):
    """One time step: h_new = tanh(x_t W_xh + h W_hh + b_h).

    Inputs:
    - x_t: (N, V) input at this step (one-hot rows)
    - h: (N, H) hidden state from the previous step
    - params: [W_xh, W_hh, b_h, W_hq, b_q] as from init_rnn_params

    Returns h_new: (N, H).
    """
    W_xh, W_hh, b_h, _, _ = params
    return torch.tanh(x_t @ W_xh + h @ W_hh + b_h)  # (N, H)


def rnn_forward(inputs, state, params):
    """Run the RNN over a whole sequence.

    Inputs:
    - inputs: (L, N, V) one-hot inputs, time first
    - state: (h,), h (N, H)
    - params: [W_xh, W_hh, b_h, W_hq, b_q]

    Returns (outputs, (h,)):
    - outputs: (L*N, V) logits; rows t*N .. t*N + N - 1 belong to step t
    - h: (N, H) hidden state after the last step
    """
    _, _, _, W_hq, b_q = params
    (h,) = state
    outputs = []
    for x_t in inputs:  # x_t: (N, V)
        h = rnn_step(x_t, h, params)  # (N, H)
        outputs.append(h @ W_hq + b_q)  # (N, V)
    return torch.cat(outputs, dim=0), (h,)  # (L*N, V)


class RNNModelScratch:
    """A character language model built from plain functions and tensors.

    get_params(vocab_size, num_hiddens, device) -> list of tensors,
    init_state(batch_size, num_hiddens, device) -> tuple, and
    forward_fn(inputs (L, N, V), state, params) -> (Y (L*N, V), state)
    can be swapped (lesson 07 plugs in an LSTM cell the same way).
    """

    def __init__(
        self,
        vocab_size,
        num_hiddens,
        device,
        get_params=init_rnn_params,
        init_state=init_rnn_state,
        forward_fn=rnn_forward,
    ):
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.params = get_params(vocab_size, num_hiddens, device)
        self.init_state, self.forward_fn = init_state, forward_fn

    def __call__(self, X, state):
        """X: (N, L) token ids -> (Y (L*N, V) logits, new state)."""
        if X.dim() != 2:
            raise ValueError(f"X must be (N, L) token ids, got shape {tuple(X.shape)}")
        inputs = one_hot(X.T, self.vocab_size).to(self.params[0].dtype)  # (L, N, V)
        return self.forward_fn(inputs, state, self.params)

    def begin_state(self, batch_size, device):
        return self.init_state(batch_size, self.num_hiddens, device)

    def parameters(self):
        """The trainable tensors, like ``nn.Module.parameters()``."""
        return self.params


def predict_chars(prefix, num_preds, net, vocab, device):
    """Continue ``prefix`` by num_preds characters with greedy decoding.

    Warm-up: the prefix is fed through the net, which only builds up the
    hidden state (its predictions inside the prefix are ignored). Then each
    step feeds the last character and appends the most likely next one.
    Works with any net following the module's protocol.

    Returns prefix + the num_preds predicted tokens, as one string.
    """
    predicted = []
    with torch.no_grad():
        state = net.begin_state(batch_size=1, device=device)
        X = torch.tensor([vocab[list(prefix)]], device=device)  # (1, len(prefix))
        Y, state = net(X, state)  # warm-up: the state now summarises the prefix
        for _ in range(num_preds):
            next_id = int(Y[-1].argmax())  # the last row scores the next character
            predicted.append(next_id)
            Y, state = net(torch.tensor([[next_id]], device=device), state)  # (1, V)
    return prefix + "".join(vocab.lookup_tokens(predicted))


def sample_chars(prefix, num_preds, net, vocab, device, temperature=1.0, generator=None):
    """Continue ``prefix`` by num_preds characters drawn at random.

    As ``predict_chars`` (warm-up on the prefix, then one character at a
    time), but each next character is drawn from softmax(logits / temperature)
    with ``torch.multinomial`` and ``generator`` (a torch.Generator on
    ``device``, or None for torch's global one). A temperature below 1
    sharpens the distribution (towards greedy decoding as it tends to 0),
    above 1 flattens it (towards a uniform guess).

    Returns prefix + the num_preds drawn tokens, as one string. Raises
    ValueError for a temperature <= 0.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    predicted = []
    with torch.no_grad():
        state = net.begin_state(batch_size=1, device=device)
        X = torch.tensor([vocab[list(prefix)]], device=device)  # (1, len(prefix))
        Y, state = net(X, state)  # warm-up
        for _ in range(num_preds):
            probs = torch.softmax(Y[-1] / temperature, dim=0)  # (V,), sums to 1
            next_id = int(torch.multinomial(probs, 1, generator=generator))
            predicted.append(next_id)
            Y, state = net(torch.tensor([[next_id]], device=device), state)  # (1, V)
    return prefix + "".join(vocab.lookup_tokens(predicted))


def perplexity(total_nll, num_tokens):
    """Perplexity (困惑度) exp(total_nll / num_tokens).

    total_nll is the summed negative log-likelihood (cross-entropy, natural
    log) of num_tokens predicted tokens. 1 is a perfect model; a uniform guess
    over V tokens scores V.
    """
    return math.exp(float(total_nll) / num_tokens)
