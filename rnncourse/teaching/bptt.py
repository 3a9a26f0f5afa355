"""Backpropagation through time by hand (lesson 05_bptt).

The model is the tanh RNN of lesson 03 with a linear output layer, in the
textbook layout (inputs times weights, ``x_t @ W_xh``):

    a_t = x_t W_xh + h_{t-1} W_hh + b_h        pre-activation
    h_t = tanh(a_t)                            hidden state
    y_t = h_t W_hq + b_q                       output

``rnn_forward_cache`` runs the forward pass and keeps what the backward pass
needs; ``rnn_backward`` walks the unrolled graph from the last step to the first
and applies the chain rule, the way CS231n's ``rnn_layers.py`` does. The result
equals autograd's gradients, which is how the lesson (and our tests) check it.

Shape letters: L steps, N batch, H_in input features, H hidden, Q outputs.
"""

from __future__ import annotations

import torch


def rnn_forward_cache(X, h0, params):
    """Run the tanh RNN with a linear output and keep a cache for ``rnn_backward``.

    Inputs:
    - X: (L, N, H_in) float tensor, time-major inputs
    - h0: (N, H) initial hidden state
    - params: [W_xh (H_in, H), W_hh (H, H), b_h (H,), W_hq (H, Q), b_q (Q,)]

    Returns a tuple of:
    - Y: (L, N, Q) outputs, y_t = h_t W_hq + b_q. Y is built from ``params`` as
      usual, so autograd can differentiate it too (that is how we check the
      manual backward pass).
    - cache: dict of detached tensors (no autograd history):
        "X"      (L, N, H_in)  the inputs
        "h0"     (N, H)        the initial state
        "H"      (L, N, H)     every hidden state h_1 ... h_L (H[t] is h_{t+1})
        "params" list          [W_xh, W_hh, b_h, W_hq, b_q]
      The pre-activations are not stored: tanh'(a_t) = 1 - h_t^2 needs only h_t.
    """
    W_xh, W_hh, b_h, W_hq, b_q = params
    h = h0
    states = []
    for x_t in X:  # x_t: (N, H_in)
        h = torch.tanh(x_t @ W_xh + h @ W_hh + b_h)  # (N, H)
        states.append(h)
    H = torch.stack(states)  # (L, N, H)
    Y = H @ W_hq + b_q  # (L, N, Q)
    cache = {
        "X": X.detach(),
        "h0": h0.detach(),
        "H": H.detach(),
        "params": [p.detach() for p in params],
    }
    return Y, cache


def rnn_backward(dY, cache):
    """Gradients of a loss through the RNN, by hand (no autograd).

    Inputs:
    - dY: (L, N, Q) upstream gradient dLoss/dY. With dY fixed, the result equals
      autograd's gradients of ``(Y * dY).sum()``.
    - cache: from ``rnn_forward_cache``

    Returns a dict of gradients with the shapes of what they differentiate:
    dW_xh (H_in, H), dW_hh (H, H), db_h (H,), dW_hq (H, Q), db_q (Q,), dh0 (N, H).
    """
    X, h0, H = cache["X"], cache["h0"], cache["H"]
    W_xh, W_hh, b_h, W_hq, b_q = cache["params"]
    # Step 1: the output layer, shared by every step: sum over time (and the batch).
    dW_hq = torch.einsum("lnh,lnq->hq", H, dY)  # (H, Q)
    db_q = dY.sum(dim=(0, 1))  # (Q,)
    dW_xh = torch.zeros_like(W_xh)
    dW_hh = torch.zeros_like(W_hh)
    db_h = torch.zeros_like(b_h)
    da_next = torch.zeros_like(h0)  # delta a_{t+1}; zero after the last step
    for t in reversed(range(X.shape[0])):
        h_prev = H[t - 1] if t > 0 else h0  # (N, H)
        dh = dY[t] @ W_hq.T + da_next @ W_hh.T  # step 2: two paths into h_t, (N, H)
        da = dh * (1 - H[t] ** 2)  # step 3: through the tanh, (N, H)
        dW_xh += X[t].T @ da  # step 4: shared weights, summed over the steps, (H_in, H)
        dW_hh += h_prev.T @ da  # (H, H)
        db_h += da.sum(dim=0)  # (H,)
        da_next = da
    dh0 = da_next @ W_hh.T  # step 5: h_0 enters only a_1, (N, H)
    return {"dW_xh": dW_xh, "dW_hh": dW_hh, "db_h": db_h, "dW_hq": dW_hq, "db_q": db_q, "dh0": dh0}


def detach_state(state):
    """Cut the autograd history of a recurrent state (truncated BPTT).

    ``state`` is a tensor (the hidden state of an RNN or GRU, (D*num_layers, N, H))
    or a tuple of tensors (``(h,)`` from lesson 03, ``(h, c)`` from an LSTM); the
    result is of the same kind, with the same values and no gradient history, so
    the next ``backward()`` stops at this point instead of running through every
    earlier batch. Anything else (``None``, the initial state of ``nn.RNN``, a
    list) raises TypeError.
    """
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple):
        return tuple(detach_state(s) for s in state)
    raise TypeError(f"state must be a tensor or a tuple of tensors, got {type(state).__name__}")


def grad_norm_by_lag(W_hh, T):
    """Spectral norms of d h_T / d h_t for t = T-1, T-2, ..., 0 (linearised RNN).

    The model is the recurrence h_t = h_{t-1} W_hh without the nonlinearity:
    the tanh RNN linearised at h = 0, where tanh' = 1. With row vectors,
    h_T = h_t W_hh^(T-t), so d h_T / d h_t is (W_hh^(T-t))^T, a product of T-t
    one-step Jacobians W_hh^T. A transpose has the same spectral norm, so

        result[k] = ||W_hh^(k+1)||_2    (lag k+1, i.e. t = T-1-k)

    result[0] is the one-step Jacobian (t = T-1) and result[T-1] the Jacobian
    back to h_0. The spectral norm is the largest singular value: the most any
    gradient direction can be stretched. With tanh, each step also multiplies by
    diag(1 - h_t^2) <= 1, so these norms bound the tanh RNN's from above.

    If W_hh's spectral radius (largest |eigenvalue|) is below 1, the norms decay
    geometrically (vanishing gradients); above 1 they grow (exploding gradients).

    Inputs:
    - W_hh: (H, H) recurrent weights
    - T: number of steps, at least 1

    Returns a (T,) tensor with W_hh's dtype.
    """
    W = W_hh.detach()
    J = torch.eye(W.shape[0], dtype=W.dtype, device=W.device)  # (H, H)
    norms = []
    for _ in range(T):
        J = J @ W.T  # one more step back in time
        norms.append(torch.linalg.matrix_norm(J, ord=2))
    return torch.stack(norms)  # (T,)


def scale_to_spectral_radius(W: torch.Tensor, rho: float) -> torch.Tensor:
    """Return W rescaled so that its spectral radius (largest |eigenvalue|) is ``rho``.

    Handy for the lesson's plot: the same matrix at rho = 0.9, 1.0 and 1.1 shows
    vanishing, stable and exploding gradient norms in ``grad_norm_by_lag``.
    """
    if W.dim() != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be a square matrix; got shape {tuple(W.shape)}")
    if rho < 0:
        raise ValueError(f"rho must be >= 0; got {rho}")
    W = W.detach()
    radius = torch.linalg.eigvals(W).abs().max()
    if radius == 0:
        raise ValueError("W has spectral radius 0 (it is nilpotent), so it cannot be rescaled")
    return W * (rho / radius)
