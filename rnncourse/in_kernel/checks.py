"""Value and shape checks for the lessons' test cells, written once for every lesson.

``check_shape`` and ``check_close`` fail with a message a student can act on:
what was expected, what was found, and where. They run in the student's kernel,
in the visible and hidden tests alike.
"""

from __future__ import annotations

import torch


def _shape_str(shape) -> str:
    return str(tuple(int(s) for s in shape))


def _as_tensor(value, name: str) -> torch.Tensor:
    if value is None:
        raise AssertionError(f"{name} is None; did you forget to return the result?")
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], torch.Tensor):
            return torch.stack([_as_tensor(v, name) for v in value])
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as err:
        raise AssertionError(
            f"{name} should be a tensor, an array or a number; got {type(value).__name__}"
        ) from err


def _shape_hint(got: tuple, expected: tuple) -> str:
    if sorted(got) == sorted(expected):
        return "the same sizes in another order: check the order of the dimensions"
    if len(got) != len(expected):
        return f"{len(got)} dimensions instead of {len(expected)}"
    return ""


def check_shape(got, expected, name: str, hint: str = "") -> None:
    """Assert that ``got`` has shape ``expected``.

    - got: a tensor, NumPy array or anything ``torch.as_tensor`` accepts
    - expected: a shape (tuple, list, torch.Size) or an array whose shape to match
    - name: how the test calls the value, e.g. "rnn_forward(X, state, params)[0]"
    - hint: appended to the message, e.g. "(L, N, V): time-major, time first"

    Raises AssertionError: "<name> has shape (5, 3); expected (3, 5) — <hint>".
    """
    got_shape = tuple(got.shape) if hasattr(got, "shape") else tuple(_as_tensor(got, name).shape)
    expected_shape = tuple(expected.shape) if hasattr(expected, "shape") else tuple(expected)
    if tuple(int(s) for s in got_shape) == tuple(int(s) for s in expected_shape):
        return
    hint = hint or _shape_hint(got_shape, expected_shape)
    message = f"{name} has shape {_shape_str(got_shape)}; expected {_shape_str(expected_shape)}"
    raise AssertionError(f"{message} — {hint}" if hint else message)


def _index_str(flat_index: int, shape: tuple) -> str:
    if not shape:
        return ""
    index = []
    for size in reversed(shape):
        index.append(flat_index % size)
        flat_index //= size
    return f" at index {list(reversed(index))}"


def check_close(got, expected, name: str, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Assert that ``got`` matches ``expected`` within atol + rtol * |expected|.

    Both may be tensors (any device, with or without grad), NumPy arrays,
    lists or numbers. The shape is checked first, then NaN, then the values;
    the message gives the number of mismatches and the largest absolute
    difference with its index. The default tolerances suit float32 results;
    pass smaller ones for float64 checks.
    """
    got_t = _as_tensor(got, name)
    expected_t = _as_tensor(expected, "the expected value")
    check_shape(got_t, expected_t.shape, name)
    dtype = torch.complex128 if (got_t.is_complex() or expected_t.is_complex()) else torch.float64
    g = got_t.to(dtype).flatten()
    e = expected_t.to(dtype).flatten()
    shape = tuple(got_t.shape)

    got_nan, expected_nan = torch.isnan(g), torch.isnan(e)
    unexpected_nan = got_nan & ~expected_nan
    if unexpected_nan.any():
        first = int(unexpected_nan.nonzero()[0, 0])
        raise AssertionError(
            f"{name} contains NaN{_index_str(first, shape)} ({int(unexpected_nan.sum())} of "
            f"{g.numel()} values); expected {e[first].item():.6g} there. NaN usually comes "
            "from log(0), 0/0 or values that overflowed earlier."
        )
    diff = (g - e).abs()
    ok = (diff <= atol + rtol * e.abs()) | (g == e) | (got_nan & expected_nan)
    if ok.all():
        return
    worst = int(torch.where(ok, -1.0, diff.nan_to_num(nan=float("inf"))).argmax())
    raise AssertionError(
        f"{name} does not match the expected values at {int((~ok).sum())} of {g.numel()} "
        f"positions (atol={atol:g}, rtol={rtol:g}); the largest absolute difference is "
        f"{diff[worst].item():.3g}{_index_str(worst, shape)}: got {g[worst].item():.6g}, "
        f"expected {e[worst].item():.6g}"
    )
