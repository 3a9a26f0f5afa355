"""Lesson 07 (LSTM vs RNN) through nbgrader autograde: the reference, shortcut attempts
(torch's LSTM and GRU cells and modules, the course's own answers), differently written
correct answers (also in float32 and float64), typical mistakes, and a blank notebook each
get the score they deserve on every test cell; and the GRU test's messages name the
mistake a wrong gru_cell made."""

import json

import pytest
from lesson_harness import BLANK, REPO, expected_scores, grade_lesson, max_scores, replace_body

from rnncourse.nbgrader_cells import cell_source, nbgrader_meta

LESSON = "07_lstm_comparison"

# lstm_cell written with the reference's body but one line changed: {gates} and {update}.
_LSTM_CELL = """
    h, c = state
    W_ih, W_hh, b_ih, b_hh = params
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    {gates}
    {update}
    return h, c
"""
_GATES_IFGO = (
    "i, f, g, o = gates.chunk(4, dim=1); "
    "i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)"
)
_UPDATE = "c = f * c + i * g; h = o * torch.tanh(c)"

# gru_cell written with the reference's body but one part changed: {order}, {candidate}, {mix}.
_GRU_CELL = """
    W_ih, W_hh, b_ih, b_hh = params
    H = h.shape[1]
    {order} = (x @ W_ih.T + b_ih).chunk(3, dim=1)
    {order_h} = (h @ W_hh.T + b_hh).chunk(3, dim=1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh({candidate})
    return {mix}
"""


def _gru(order="x_r, x_z, x_n", candidate="x_n + r * h_n", mix="(1 - z) * n + z * h"):
    order_h = order.replace("x_", "h_")
    return _GRU_CELL.format(order=order, order_h=order_h, candidate=candidate, mix=mix)


GRU_MISTAKES = {
    # the blocks read in the order z, r, n
    "order_zrn": _gru(order="x_z, x_r, x_n"),
    # the reset gate applied to h before the product: Cho et al. (2014), not PyTorch
    "reset_before_product": _gru(candidate="x_n + (r * h) @ W_hh[2 * H :].T + b_hh[2 * H :]"),
    # the update gate's roles swapped
    "mix_swapped": _gru(mix="z * n + (1 - z) * h"),
    # b_hn outside the reset gate
    "bias_outside_reset": _gru(candidate="x_n + r * (h @ W_hh[2 * H :].T) + b_hh[2 * H :]"),
}

SUBMISSIONS = {
    "reference": {},
    # torch's own cell, a torch module to count from, and the course's reference answers.
    "forbidden": {
        "lstm_cell": """
            W_ih, W_hh, b_ih, b_hh = params
            cell = nn.LSTMCell(W_ih.shape[1], W_hh.shape[1]).to(W_ih.dtype)
            with torch.no_grad():
                for p, w in zip(cell.parameters(), params):
                    p.copy_(w)
            return cell(x, state)
        """,
        "count_params": """
            module = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind]
            return sum(p.numel() for p in module(input_size, hidden_size, num_layers).parameters())
        """,
        "encode_addition": "return rnncourse.encode_addition(query, maxlen)",
        "decode_addition": "return rnncourse.decode_addition(indices)",
        "gru_cell": """
            W_ih, W_hh, b_ih, b_hh = params
            cell = nn.GRUCell(W_ih.shape[1], W_hh.shape[1]).to(W_ih.dtype)
            with torch.no_grad():
                for p, w in zip(cell.parameters(), params):
                    p.copy_(w)
            return cell(x, h)
        """,
    },
    # The reference answers of the same exercises, where a torch shortcut does not apply.
    "forbidden_reference": {
        "lstm_cell": "return rnncourse.lstm_cell(x, state, params)",
        "count_params": "return rnncourse.count_params(kind, input_size, hidden_size, num_layers)",
        "gru_cell": "return rnncourse.gru_cell(x, h, params)",
    },
    # Correct, but written another way: gate by gate with slices, a closed formula,
    # F.one_hot on an index list, NumPy argmax.
    "alternative": {
        "lstm_cell": """
            h_prev, c_prev = state
            W_ih, W_hh, b_ih, b_hh = params
            H = h_prev.shape[1]

            def block(k):
                rows = slice(k * H, (k + 1) * H)
                return x @ W_ih[rows].T + h_prev @ W_hh[rows].T + b_ih[rows] + b_hh[rows]

            i = 1 / (1 + torch.exp(-block(0)))
            f = 1 / (1 + torch.exp(-block(1)))
            g = torch.tanh(block(2))
            o = 1 / (1 + torch.exp(-block(3)))
            c_new = f * c_prev + i * g
            return o * torch.tanh(c_new), c_new
        """,
        "count_params": """
            gates = {"rnn": 1, "gru": 3, "lstm": 4}.get(kind)
            if gates is None:
                raise ValueError(f"unknown kind {kind}")
            H = hidden_size
            first = H * input_size + H * H + 2 * H
            later = 2 * H * H + 2 * H
            return int(gates * (first + (num_layers - 1) * later))
        """,
        "encode_addition": """
            if len(query) > maxlen or any(ch not in ADDITION_CHARS for ch in query):
                raise ValueError(f"cannot encode {query!r} in {maxlen} characters")
            indices = [ADDITION_CHARS.find(ch) for ch in query] + [11] * (maxlen - len(query))
            return torch.nn.functional.one_hot(torch.tensor(indices, dtype=torch.long), 12).float()
        """,
        "decode_addition": """
            import numpy as np
            a = np.asarray(indices)
            if a.ndim == 2:
                a = a.argmax(axis=1)
            return "".join(ADDITION_CHARS[int(k)] for k in a)
        """,
        # W_ih and W_hh split into their three blocks by hand, computed in float64
        "gru_cell": """
            W_ih, W_hh, b_ih, b_hh = (p.double() for p in params)
            x64, h64 = x.double(), h.double()
            H = h.shape[1]
            W_ir, W_iz, W_in = W_ih[:H], W_ih[H : 2 * H], W_ih[2 * H :]
            W_hr, W_hz, W_hn = W_hh[:H], W_hh[H : 2 * H], W_hh[2 * H :]
            b_ir, b_iz, b_in = b_ih[:H], b_ih[H : 2 * H], b_ih[2 * H :]
            b_hr, b_hz, b_hn = b_hh[:H], b_hh[H : 2 * H], b_hh[2 * H :]
            r = 1 / (1 + torch.exp(-(x64 @ W_ir.T + b_ir + h64 @ W_hr.T + b_hr)))
            z = 1 / (1 + torch.exp(-(x64 @ W_iz.T + b_iz + h64 @ W_hz.T + b_hz)))
            n = torch.tanh(x64 @ W_in.T + b_in + r * (h64 @ W_hn.T + b_hn))
            return (1 - z) * n + z * h64
        """,
    },
    # Correct, in single precision whatever the inputs' dtype: the tolerances must let
    # float32 arithmetic through (the hidden tests run in float64).
    "float32": {
        "lstm_cell": """
            h, c = (s.float() for s in state)
            W_ih, W_hh, b_ih, b_hh = (p.float() for p in params)
            i, f, g, o = (x.float() @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c
        """,
        "gru_cell": """
            W_ih, W_hh, b_ih, b_hh = (p.float() for p in params)
            linear = torch.nn.functional.linear
            gi = linear(x.float(), W_ih, b_ih)
            gh = linear(h.float(), W_hh, b_hh)
            H = h.shape[1]
            r = torch.sigmoid(gi[:, :H] + gh[:, :H])
            z = torch.sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
            n = torch.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
            return torch.lerp(n, h.float(), z)
        """,
    },
    # Typical mistakes, one per exercise.
    "wrong_a": {
        # the gates read in the order i, f, o, g (as some textbooks write them)
        "lstm_cell": _LSTM_CELL.format(
            gates=_GATES_IFGO.replace("i, f, g, o = gates", "i, f, o, g = gates"),
            update=_UPDATE,
        ),
        # one bias per block instead of PyTorch's two
        "count_params": """
            G = {"rnn": 1, "gru": 3, "lstm": 4}[kind]
            H = hidden_size
            inputs = [input_size] + [H] * (num_layers - 1)
            return sum(G * (H * n_in + H * H + H) for n_in in inputs)
        """,
        # padding on the left
        "encode_addition": """
            x = torch.zeros(maxlen, 12)
            for t, ch in enumerate(query.rjust(maxlen)):
                x[t, ADDITION_CHARS.index(ch)] = 1.0
            return x
        """,
        # no argmax: fine for indices, crashes on one-hot rows
        "decode_addition": 'return "".join(ADDITION_CHARS[int(k)] for k in indices)',
        "gru_cell": GRU_MISTAKES["order_zrn"],
    },
    "wrong_b": {
        # h = o * c: the cell state shown without its tanh
        "lstm_cell": _LSTM_CELL.format(gates=_GATES_IFGO, update="c = f * c + i * g; h = o * c"),
        # input_size used for every layer of a stack
        "count_params": """
            G = {"rnn": 1, "gru": 3, "lstm": 4}[kind]
            H = hidden_size
            return num_layers * G * (H * input_size + H * H + 2 * H)
        """,
        # the character table in another order (sorted: "+" and " " first)
        "encode_addition": """
            table = sorted(ADDITION_CHARS)
            x = torch.zeros(maxlen, 12)
            for t, ch in enumerate(query.ljust(maxlen)):
                x[t, table.index(ch)] = 1.0
            return x
        """,
        # padding spaces stripped: a string shorter than the sequence
        "decode_addition": """
            x = torch.as_tensor(indices)
            if x.is_floating_point():
                x = x.argmax(dim=-1)
            return "".join(ADDITION_CHARS[k] for k in x.tolist()).strip()
        """,
        "gru_cell": GRU_MISTAKES["reset_before_product"],
    },
    "wrong_c": {
        # the cell state squashed before it is kept: c = f * tanh(c_prev) + i * g
        "lstm_cell": _LSTM_CELL.format(
            gates=_GATES_IFGO, update="c = f * torch.tanh(c) + i * g; h = o * torch.tanh(c)"
        ),
        "gru_cell": GRU_MISTAKES["mix_swapped"],
    },
    "wrong_d": {"gru_cell": GRU_MISTAKES["bias_outside_reset"]},
    "blank": BLANK,
}

FULL_MARKS = {"reference", "alternative", "float32"}
# Every other student loses exactly the exercises their submission overrides: no mistake
# here reaches another exercise's test cell (the demos that run a student's lstm_cell or
# decode_addition later in the lesson are not graded).
FAILING: dict[str, set[str]] = {}
TEST_CELLS = {
    "test_lstm_cell",
    "test_gru_cell",
    "test_count_params",
    "test_encode_addition",
    "test_decode_addition",
}


def test_autograde_scores(tmp_path):
    got = grade_lesson(LESSON, SUBMISSIONS, tmp_path)
    assert set(max_scores(LESSON)) == TEST_CELLS
    assert got == expected_scores(LESSON, SUBMISSIONS, FULL_MARKS, failing=FAILING)


_IMPORTS = """
import torch
from torch import nn

import rnncourse
from rnncourse import check_close, check_shape, forbid_shortcuts
"""


def _cells():
    path = REPO / "solutions" / LESSON / f"{LESSON}.ipynb"
    return {
        nbgrader_meta(c)["grade_id"]: cell_source(c)
        for c in json.loads(path.read_text())["cells"]
        if nbgrader_meta(c)
    }


@pytest.mark.parametrize(
    "mistake, says",
    [
        ("order_zrn", "order z, r, n"),
        ("reset_before_product", "Cho et al."),
        ("mix_swapped", "z is the share of the OLD state kept"),
        ("bias_outside_reset", "b_hn outside the reset gate"),
    ],
)
def test_gru_cell_messages_name_the_mistake(mistake, says):
    """The test cell (visible and hidden parts) run on a wrong gru_cell, without nbgrader:
    the assertion says which convention was missed."""
    cells = _cells()
    wrong = replace_body(cells["gru_cell"], GRU_MISTAKES[mistake])
    namespace: dict = {}
    exec(_IMPORTS, namespace)  # the setup cell's imports, without its side effects
    exec(wrong, namespace)
    with pytest.raises(AssertionError, match=says):
        exec(cells["test_gru_cell"], namespace)
    if mistake == "reset_before_product":
        with pytest.raises(AssertionError, match="PyTorch's convention"):
            exec(cells["test_gru_cell"], namespace)
