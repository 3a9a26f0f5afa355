"""Lesson 05 (backpropagation through time) through nbgrader autograde: the reference,
shortcut attempts (autograd in the manual backward pass and in the numerical gradient,
the course's own answers), differently written correct answers (float32 arithmetic
among them), typical mistakes, and a blank notebook each get the score they deserve on
every test cell."""

from lesson_harness import BLANK, expected_scores, grade_lesson, max_scores

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
        "numerical_grad": """
            x = x.detach().clone().requires_grad_()
            (grad,) = torch.autograd.grad(f(x), x)
            return grad
        """,
    },
    # Tensor.backward() inside the manual backward pass and the numerical gradient.
    "forbidden_backward": {
        "rnn_backward": _AUTOGRAD_BACKWARD.format(
            differentiate="loss.backward()\n    grads = [p.grad for p in params + [h0]]"
        ),
        "numerical_grad": """
            x = x.detach().clone().requires_grad_()
            f(x).backward()
            return x.grad
        """,
    },
    # The course's own numerical gradient.
    "forbidden_reference": {"numerical_grad": "return rnncourse.numerical_grad(f, x, eps)"},
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
        # a flat view of x, one element after the other
        "numerical_grad": """
            flat = x.view(-1)
            grad = torch.empty_like(flat)
            with torch.no_grad():
                for i in range(flat.numel()):
                    old = flat[i].item()
                    flat[i] = old + eps
                    up = f(x)
                    flat[i] = old - eps
                    down = f(x)
                    flat[i] = old
                    grad[i] = (float(up) - float(down)) / (2 * eps)
            return grad.view(x.shape)
        """,
    },
    # Correct, in float32 arithmetic (a student's torch.zeros(...) defaults to it); the
    # numerical gradient with NumPy indices, x restored by arithmetic (one ulp away).
    "alternative_float32": {
        "rnn_forward_cache": """
            W_xh, W_hh, b_h, W_hq, b_q = (p.float() for p in params)
            h, states = h0.float(), []
            for x_t in X.float():
                h = torch.tanh(x_t @ W_xh + h @ W_hh + b_h)
                states.append(h)
            H = torch.stack(states)
            cache = {"X": X.detach().float(), "h0": h0.detach().float(), "H": H.detach(),
                     "params": [p.detach().float() for p in params]}
            return H @ W_hq + b_q, cache
        """,
        "rnn_backward": """
            X, h0, H = cache["X"].float(), cache["h0"].float(), cache["H"].float()
            dY32 = dY.float()
            W_xh, W_hh, b_h, W_hq, b_q = (p.float() for p in cache["params"])
            dW_xh, dW_hh = torch.zeros(W_xh.shape), torch.zeros(W_hh.shape)
            db_h, dW_hq = torch.zeros(b_h.shape), torch.zeros(W_hq.shape)
            db_q = torch.zeros(b_q.shape)
            da_next = torch.zeros(h0.shape)
            for t in reversed(range(X.shape[0])):
                h_prev = H[t - 1] if t > 0 else h0
                dW_hq += H[t].T @ dY32[t]
                db_q += dY32[t].sum(dim=0)
                da = (dY32[t] @ W_hq.T + da_next @ W_hh.T) * (1 - H[t] ** 2)
                dW_xh += X[t].T @ da
                dW_hh += h_prev.T @ da
                db_h += da.sum(dim=0)
                da_next = da
            return {"dW_xh": dW_xh, "dW_hh": dW_hh, "db_h": db_h, "dW_hq": dW_hq,
                    "db_q": db_q, "dh0": da_next @ W_hh.T}
        """,
        "grad_norm_by_lag": """
            W = W_hh.detach().float()
            J, norms = torch.eye(W.shape[0]), []
            for _ in range(T):
                J = J @ W.T
                norms.append(torch.linalg.matrix_norm(J, ord=2))
            return torch.stack(norms)
        """,
        "numerical_grad": """
            import numpy as np
            grad = np.zeros(x.shape)
            with torch.no_grad():
                for index in np.ndindex(*x.shape):
                    x[index] += eps
                    up = float(f(x))
                    x[index] -= 2 * eps
                    down = float(f(x))
                    x[index] += eps
                    grad[index] = (up - down) / (2 * eps)
            return torch.from_numpy(grad)
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
        # a forward difference: an error of eps/2 times the curvature
        "numerical_grad": """
            grad = torch.zeros_like(x)
            with torch.no_grad():
                base = float(f(x))
                for i in itertools.product(*(range(n) for n in x.shape)):
                    old = x[i].item()
                    x[i] = old + eps
                    grad[i] = (float(f(x)) - base) / eps
                    x[i] = old
            return grad
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
        # never puts x back: every element ends eps below where it was
        "numerical_grad": """
            grad = torch.zeros_like(x)
            with torch.no_grad():
                for i in itertools.product(*(range(n) for n in x.shape)):
                    x[i] += eps
                    up = float(f(x))
                    x[i] -= 2 * eps
                    grad[i] = (up - float(f(x))) / (2 * eps)
            return grad
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
        # divides by eps instead of 2 eps: every gradient twice too large
        "numerical_grad": """
            grad = torch.zeros_like(x)
            with torch.no_grad():
                for i in itertools.product(*(range(n) for n in x.shape)):
                    old = x[i].item()
                    x[i] = old + eps
                    up = float(f(x))
                    x[i] = old - eps
                    down = float(f(x))
                    x[i] = old
                    grad[i] = (up - down) / eps
            return grad
        """,
    },
    # A flat vector instead of x's shape; f(x).item(), which a Python float lacks.
    "wrong_d": {
        "numerical_grad": """
            flat = x.view(-1)
            grad = []
            for i in range(flat.numel()):
                old = flat[i].item()
                flat[i] = old + eps
                up = f(x)
                flat[i] = old - eps
                down = f(x)
                flat[i] = old
                grad.append((up - down).item() / (2 * eps))
            return torch.tensor(grad, dtype=x.dtype)
        """,
    },
    "blank": BLANK,
}

EXERCISES = [
    "rnn_forward_cache",
    "rnn_backward",
    "numerical_grad",
    "detach_state",
    "grad_norm_by_lag",
]
FULL_MARKS = {"reference", "alternative", "alternative_float32"}


def test_autograde_scores(tmp_path):
    assert set(max_scores(LESSON)) == {f"test_{name}" for name in EXERCISES}
    got = grade_lesson(LESSON, SUBMISSIONS, tmp_path)
    assert got == expected_scores(LESSON, SUBMISSIONS, FULL_MARKS)
