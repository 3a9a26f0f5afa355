"""Lesson 01 (time series) through nbgrader autograde: the reference, shortcut
attempts, differently written correct answers, typical mistakes, and a blank
notebook each get the score they deserve on every test cell."""

import textwrap

from lesson_harness import BLANK, WholeCell, expected_scores, grade_lesson, max_scores

LESSON = "01_time_series"


def simple_rnn(forward: str, init: str = "", init_hidden: str = "") -> WholeCell:
    """A whole SimpleRNN cell: the reference's layers and init_hidden unless replaced."""
    init = (
        init
        or """
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(hidden_size, output_size)
    """
    )
    init_hidden = init_hidden or "return torch.zeros(batch_size, self.hidden_size)"

    def body(code: str) -> str:
        return textwrap.indent(textwrap.dedent(code).strip("\n"), " " * 8)

    return WholeCell(
        "class SimpleRNN(nn.Module):\n"
        "    def __init__(self, input_size, hidden_size, output_size):\n"
        "        super().__init__()\n"
        f"{body(init)}\n\n"
        "    def forward(self, x_t, h):\n"
        f"{body(forward)}\n\n"
        "    def init_hidden(self, batch_size=1):\n"
        f"{body(init_hidden)}\n"
    )


# The source's forward, corrected (tanh), and the mistakes made from it.
_FORWARD = """
    h_new = torch.tanh(self.i2h(torch.cat((x_t, h), dim=1)))
    return torch.log_softmax(self.i2o(h_new), dim=1), h_new
"""

SUBMISSIONS = {
    "reference": {},
    # The course's reference answers, called from the student's functions.
    "forbidden": {
        "chronological_split": "return rnncourse.chronological_split(series, test_size)",
        "make_windows": "return rnncourse.make_windows(series, window, horizon)",
        "seasonal_naive": "return rnncourse.seasonal_naive(history, horizon, season)",
        "rmse": "return rnncourse.rmse(pred, target)",
        # torch's own cell, built on the fly with i2h's weights split as [W_ih | W_hh]
        "SimpleRNN": simple_rnn(
            """
            H_in = x_t.shape[1]
            cell = nn.RNNCell(H_in, self.hidden_size)
            with torch.no_grad():
                cell.weight_ih.copy_(self.i2h.weight[:, :H_in])
                cell.weight_hh.copy_(self.i2h.weight[:, H_in:])
                cell.bias_ih.copy_(self.i2h.bias)
                cell.bias_hh.zero_()
            h_new = cell(x_t, h)
            return torch.log_softmax(self.i2o(h_new), dim=1), h_new
            """
        ),
    },
    # The course's reference class, inherited rather than written.
    "forbidden_subclass": {
        "SimpleRNN": WholeCell("class SimpleRNN(rnncourse.SimpleRNN):\n    pass\n"),
    },
    # Correct, but written another way: index arithmetic, NumPy fancy indexing,
    # Tensor.repeat, a NumPy float result.
    "alternative": {
        "chronological_split": """
            cut = len(series) - test_size
            return series[:cut], series[cut:]
        """,
        "make_windows": """
            import numpy as np
            s = np.asarray(series, dtype=np.float32)
            if window + horizon > len(s):
                raise ValueError("the window does not fit in the series")
            starts = np.arange(len(s) - window - horizon + 1)[:, None]
            pieces = torch.from_numpy(s[starts + np.arange(window + horizon)])
            return pieces[:, :window, None], pieces[:, window:]
        """,
        "seasonal_naive": """
            repeats = -(-horizon // season)
            return history[-season:].repeat(repeats)[:horizon]
        """,
        "rmse": """
            import numpy as np
            p, t = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
            return np.sqrt(np.mean((p - t) ** 2))
        """,
        # super(Class, self), a LogSoftmax module as the source keeps one, hstack,
        # tanh as 2 sigmoid(2z) - 1, the state's size read from the layer
        "SimpleRNN": simple_rnn(
            init="""
                self.hidden_size = hidden_size
                self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
                self.i2o = nn.Linear(hidden_size, output_size)
                self.softmax = nn.LogSoftmax(dim=1)
            """,
            forward="""
                z = self.i2h(torch.hstack([x_t, h]))
                h_new = 2 * torch.sigmoid(2 * z) - 1
                return self.softmax(self.i2o(h_new)), h_new
            """,
            init_hidden="return torch.zeros((batch_size, self.i2h.out_features))",
        ),
    },
    # Typical mistakes, one per exercise.
    "wrong_a": {
        # shuffles before splitting, as for ordinary data
        "chronological_split": """
            s = torch.as_tensor(series)[torch.randperm(len(series))]
            return s[:-test_size], s[-test_size:]
        """,
        # off by one: the window stops one value short
        "make_windows": """
            s = torch.as_tensor(series, dtype=torch.float32)
            if window + horizon > len(s):
                raise ValueError("the window does not fit in the series")
            N = len(s) - window - horizon + 1
            X = torch.stack([s[i : i + window - 1] for i in range(N)]).unsqueeze(-1)
            y = torch.stack([s[i + window - 1 : i + window - 1 + horizon] for i in range(N)])
            return X, y
        """,
        # repeats the first season instead of the last
        "seasonal_naive": """
            return torch.stack([history[k % season] for k in range(horizon)])
        """,
        # the MSE: no square root
        "rmse": "return float(((pred - target) ** 2).mean())",
        # as source 000 writes it: no activation, a linear recurrence
        "SimpleRNN": simple_rnn(
            """
            h_new = self.i2h(torch.cat((x_t, h), dim=1))
            return torch.log_softmax(self.i2o(h_new), dim=1), h_new
            """
        ),
    },
    "wrong_b": {
        # the test part taken from the start of the series
        "chronological_split": "return series[test_size:], series[:test_size]",
        # the target is the last value of the window, not the one after it
        "make_windows": """
            s = torch.as_tensor(series, dtype=torch.float32)
            if window + horizon > len(s):
                raise ValueError("the window does not fit in the series")
            N = len(s) - window - horizon + 1
            X = torch.stack([s[i : i + window] for i in range(N)]).unsqueeze(-1)
            y = torch.stack([s[i + window - 1 : i + window - 1 + horizon] for i in range(N)])
            return X, y
        """,
        # repeats the last value (the naive forecast)
        "seasonal_naive": "return history[-1].repeat(horizon)",
        # the mean absolute error
        "rmse": "return float((pred - target).abs().mean())",
        # the state before the input: cat((h, x_t))
        "SimpleRNN": simple_rnn(_FORWARD.replace("(x_t, h)", "(h, x_t)")),
    },
    "wrong_c": {
        # probabilities instead of log-probabilities: softmax, not log_softmax
        "SimpleRNN": simple_rnn(_FORWARD.replace("log_softmax", "softmax")),
    },
    "wrong_d": {
        # init_hidden of shape (hidden_size,): no batch dimension
        "SimpleRNN": simple_rnn(_FORWARD, init_hidden="return torch.zeros(self.hidden_size)"),
    },
    "blank": BLANK,
}

FULL_MARKS = {"reference", "alternative"}


def test_autograde_scores(tmp_path):
    assert set(max_scores(LESSON)) == {
        "test_chronological_split",
        "test_make_windows",
        "test_seasonal_naive",
        "test_rmse",
        "test_SimpleRNN",
    }
    got = grade_lesson(LESSON, SUBMISSIONS, tmp_path)
    assert got == expected_scores(LESSON, SUBMISSIONS, FULL_MARKS)
