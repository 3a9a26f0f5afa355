"""Lesson 07 (LSTM vs RNN) through nbgrader autograde: the reference, shortcut attempts
(torch's LSTM cell and modules, the course's own answers), differently written correct
answers, typical mistakes, and a blank notebook each get the score they deserve on every
test cell."""

from lesson_harness import BLANK, grade_lesson, max_scores

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
    },
    # The reference answers of the same exercises, where a torch shortcut does not apply.
    "forbidden_reference": {
        "lstm_cell": "return rnncourse.lstm_cell(x, state, params)",
        "count_params": "return rnncourse.count_params(kind, input_size, hidden_size, num_layers)",
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
    },
    "wrong_c": {
        # the cell state squashed before it is kept: c = f * tanh(c_prev) + i * g
        "lstm_cell": _LSTM_CELL.format(
            gates=_GATES_IFGO, update="c = f * torch.tanh(c) + i * g; h = o * torch.tanh(c)"
        ),
    },
    "blank": BLANK,
}

# student -> the test cells that must score zero (every other cell: full marks)
ZERO = {
    "reference": set(),
    "alternative": set(),
    "forbidden": {
        "test_lstm_cell",
        "test_count_params",
        "test_encode_addition",
        "test_decode_addition",
    },
    "forbidden_reference": {"test_lstm_cell", "test_count_params"},
    "wrong_a": {
        "test_lstm_cell",
        "test_count_params",
        "test_encode_addition",
        "test_decode_addition",
    },
    "wrong_b": {
        "test_lstm_cell",
        "test_count_params",
        "test_encode_addition",
        "test_decode_addition",
    },
    "wrong_c": {"test_lstm_cell"},
    "blank": {
        "test_lstm_cell",
        "test_count_params",
        "test_encode_addition",
        "test_decode_addition",
    },
}


def test_autograde_scores(tmp_path):
    got = grade_lesson(LESSON, SUBMISSIONS, tmp_path)
    points = max_scores(LESSON)
    assert set(points) == {
        "test_lstm_cell",
        "test_count_params",
        "test_encode_addition",
        "test_decode_addition",
    }
    expected = {
        student: {cell: (0.0 if cell in ZERO[student] else points[cell]) for cell in points}
        for student in SUBMISSIONS
    }
    assert got == expected
