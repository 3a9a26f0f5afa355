"""Lesson 05 (backpropagation through time) through nbgrader autograde: the reference,
shortcut attempts (autograd in the manual backward pass, the course's own answers),
differently written correct answers, typical mistakes, and a blank notebook each get
the score they deserve on every test cell."""

from lesson_harness import BLANK, grade_lesson, max_scores

LESSON = "05_bptt"

# rnn_backward computed by autograd on a rebuilt forward pass: what the exercise forbids.
_AUTOGRAD_BACKWARD = """
    params = [p.detach().clone().requires_grad_() for p in cache["params"]]
    h0 = cache["h0"].clone().requires_grad_()
    W_xh, W_hh, b_h, W_hq, b_q = params
    h, outputs = h0, []
    for x in cache["X"]:
        h = torch.tanh(x @ W_xh + h @ W_hh + b_h)
        outputs.append(h @ W_hq + b_q)
    loss = (torch.stack(outputs) * dY).sum()
    {differentiate}
    names = ["dW_xh", "dW_hh", "db_h", "dW_hq", "db_q", "dh0"]
    return dict(zip(names, grads))
"""

SUBMISSIONS = {
    "reference": {},
    # The course's reference answers, and autograd.grad inside the manual backward pass.
    "forbidden": {
        "rnn_forward_cache": "return rnncourse.rnn_forward_cache(X, h0, params)",
        "rnn_backward": _AUTOGRAD_BACKWARD.format(
            differentiate="grads = torch.autograd.grad(loss, params + [h0])"
        ),
        "detach_state": "return rnncourse.detach_state(state)",
        "grad_norm_by_lag": "return rnncourse.grad_norm_by_lag(W_hh, T)",
    },
    # Tensor.backward() inside the manual backward pass (the other exercises: reference).
    "forbidden_backward": {
        "rnn_backward": _AUTOGRAD_BACKWARD.format(
            differentiate="loss.backward()\n    grads = [p.grad for p in params + [h0]]"
        ),
    },
    # Correct, but written another way: input projections for all steps at once and
    # an extra cache entry; the deltas stacked and summed with einsum afterwards; a
    # tuple through map; NumPy matrix powers.
    "alternative": {
        "rnn_forward_cache": """
            W_xh, W_hh, b_h, W_hq, b_q = params
            XW = torch.einsum("lni,ih->lnh", X, W_xh) + b_h  # (L, N, H)
            H = X.new_zeros(X.shape[0], *h0.shape)
            h = h0
            for t in range(X.shape[0]):
                h = torch.tanh(XW[t] + h @ W_hh)
                H[t] = h
            Y = torch.einsum("lnh,hq->lnq", H, W_hq) + b_q
            cache = dict(X=X.detach(), h0=h0.detach(), H=H.detach(),
                         params=[p.detach() for p in params], XW=XW.detach())
            return Y, cache
        """,
        "rnn_backward": """
            X, h0, H = cache["X"], cache["h0"], cache["H"]
            W_xh, W_hh, b_h, W_hq, b_q = cache["params"]
            L = X.shape[0]
            deltas = [None] * L
            da_next = None
            for t in range(L - 1, -1, -1):
                dh = dY[t] @ W_hq.T
                if da_next is not None:
                    dh = dh + da_next @ W_hh.T
                da_next = dh * (1 - H[t] * H[t])
                deltas[t] = da_next
            DA = torch.stack(deltas)  # (L, N, H)
            H_prev = torch.cat([h0[None], H[:-1]])  # h_0 .. h_{L-1}
            return {
                "dW_xh": torch.einsum("lni,lnh->ih", X, DA),
                "dW_hh": torch.einsum("lni,lnh->ih", H_prev, DA),
                "db_h": DA.sum(dim=(0, 1)),
                "dW_hq": torch.einsum("lnh,lnq->hq", H, dY),
                "db_q": dY.sum(dim=(0, 1)),
                "dh0": DA[0] @ W_hh.T,
            }
        """,
        "detach_state": """
            if isinstance(state, tuple):
                return tuple(map(torch.Tensor.detach, state))
            return state.detach().clone()
        """,
        "grad_norm_by_lag": """
            import numpy as np
            W = W_hh.detach().cpu().numpy()
            power, norms = np.eye(W.shape[0]), []
            for _ in range(T):
                power = power @ W
                norms.append(np.linalg.norm(power, 2))
            return torch.tensor(norms)
        """,
    },
    # Typical mistakes, one per exercise.
    "wrong_a": {
        # caches the state BEFORE each step: h_0 .. h_{L-1}
        "rnn_forward_cache": """
            W_xh, W_hh, b_h, W_hq, b_q = params
            h, states, outputs = h0, [], []
            for x_t in X:
                states.append(h)
                h = torch.tanh(x_t @ W_xh + h @ W_hh + b_h)
                outputs.append(h @ W_hq + b_q)
            cache = {"X": X.detach(), "h0": h0.detach(), "H": torch.stack(states).detach(),
                     "params": [p.detach() for p in params]}
            return torch.stack(outputs), cache
        """,
        # forgets the tanh derivative
        "rnn_backward": """
            X, h0, H = cache["X"], cache["h0"], cache["H"]
            W_xh, W_hh, b_h, W_hq, b_q = cache["params"]
            dW_hq = torch.einsum("lnh,lnq->hq", H, dY)
            db_q = dY.sum(dim=(0, 1))
            dW_xh, dW_hh = torch.zeros_like(W_xh), torch.zeros_like(W_hh)
            db_h = torch.zeros_like(b_h)
            da_next = torch.zeros_like(h0)
            for t in reversed(range(X.shape[0])):
                h_prev = H[t - 1] if t > 0 else h0
                da = dY[t] @ W_hq.T + da_next @ W_hh.T
                dW_xh += X[t].T @ da
                dW_hh += h_prev.T @ da
                db_h += da.sum(dim=0)
                da_next = da
            return {"dW_xh": dW_xh, "dW_hh": dW_hh, "db_h": db_h, "dW_hq": dW_hq,
                    "db_q": db_q, "dh0": da_next @ W_hh.T}
        """,
        # handles a tensor only: fails on the (h, c) tuple of an LSTM
        "detach_state": "return state.detach()",
        # lags in reversed order: the longest first
        "grad_norm_by_lag": """
            J, norms = torch.eye(W_hh.shape[0], dtype=W_hh.dtype), []
            for _ in range(T):
                J = J @ W_hh.detach()
                norms.append(torch.linalg.matrix_norm(J, ord=2))
            return torch.stack(norms).flip(0)
        """,
    },
    "wrong_b": {
        # reads the output from the pre-activation a_t instead of h_t
        "rnn_forward_cache": """
            W_xh, W_hh, b_h, W_hq, b_q = params
            h, states, outputs = h0, [], []
            for x_t in X:
                a = x_t @ W_xh + h @ W_hh + b_h
                h = torch.tanh(a)
                states.append(h)
                outputs.append(a @ W_hq + b_q)
            cache = {"X": X.detach(), "h0": h0.detach(), "H": torch.stack(states).detach(),
                     "params": [p.detach() for p in params]}
            return torch.stack(outputs), cache
        """,
        # dh_t only from the output of its own step: not carried back through W_hh
        "rnn_backward": """
            X, h0, H = cache["X"], cache["h0"], cache["H"]
            W_xh, W_hh, b_h, W_hq, b_q = cache["params"]
            dW_hq = torch.einsum("lnh,lnq->hq", H, dY)
            db_q = dY.sum(dim=(0, 1))
            dW_xh, dW_hh = torch.zeros_like(W_xh), torch.zeros_like(W_hh)
            db_h = torch.zeros_like(b_h)
            da = torch.zeros_like(h0)
            for t in reversed(range(X.shape[0])):
                h_prev = H[t - 1] if t > 0 else h0
                da = (dY[t] @ W_hq.T) * (1 - H[t] ** 2)
                dW_xh += X[t].T @ da
                dW_hh += h_prev.T @ da
                db_h += da.sum(dim=0)
            return {"dW_xh": dW_xh, "dW_hh": dW_hh, "db_h": db_h, "dW_hq": dW_hq,
                    "db_q": db_q, "dh0": da @ W_hh.T}
        """,
        # iterates over whatever it gets: a tensor comes back as a tuple of its rows
        "detach_state": "return tuple(s.detach() for s in state)",
        # off by one power: W^0 .. W^(T-1)
        "grad_norm_by_lag": """
            J, norms = torch.eye(W_hh.shape[0], dtype=W_hh.dtype), []
            for _ in range(T):
                norms.append(torch.linalg.matrix_norm(J, ord=2))
                J = J @ W_hh.detach().T
            return torch.stack(norms)
        """,
    },
    # Shared weights not summed over time: each step overwrites the previous one.
    "wrong_c": {
        "rnn_backward": """
            X, h0, H = cache["X"], cache["h0"], cache["H"]
            W_xh, W_hh, b_h, W_hq, b_q = cache["params"]
            da_next = torch.zeros_like(h0)
            for t in reversed(range(X.shape[0])):
                h_prev = H[t - 1] if t > 0 else h0
                da = (dY[t] @ W_hq.T + da_next @ W_hh.T) * (1 - H[t] ** 2)
                dW_xh = X[t].T @ da
                dW_hh = h_prev.T @ da
                db_h = da.sum(dim=0)
                dW_hq = H[t].T @ dY[t]
                db_q = dY[t].sum(dim=0)
                da_next = da
            return {"dW_xh": dW_xh, "dW_hh": dW_hh, "db_h": db_h, "dW_hq": dW_hq,
                    "db_q": db_q, "dh0": da_next @ W_hh.T}
        """,
    },
    "blank": BLANK,
}

TESTS = {
    "test_rnn_forward_cache",
    "test_rnn_backward",
    "test_detach_state",
    "test_grad_norm_by_lag",
}
# student -> the test cells that must score zero (every other cell: full marks)
FAILS = {
    "reference": set(),
    "forbidden": TESTS,
    "forbidden_backward": {"test_rnn_backward"},
    "alternative": set(),
    "wrong_a": TESTS,
    "wrong_b": TESTS,
    "wrong_c": {"test_rnn_backward"},
    "blank": TESTS,
}


def test_autograde_scores(tmp_path):
    got = grade_lesson(LESSON, SUBMISSIONS, tmp_path)
    points = max_scores(LESSON)
    assert set(points) == TESTS
    expected = {
        student: {cell: 0.0 if cell in FAILS[student] else points[cell] for cell in points}
        for student in SUBMISSIONS
    }
    assert got == expected
