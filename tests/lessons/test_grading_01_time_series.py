"""Lesson 01 (time series) through nbgrader autograde: the reference, shortcut
attempts, differently written correct answers, typical mistakes, and a blank
notebook each get the score they deserve on every test cell."""

from lesson_harness import BLANK, grade_lesson, max_scores

LESSON = "01_time_series"

SUBMISSIONS = {
    "reference": {},
    # The course's reference answers, called from the student's functions.
    "forbidden": {
        "chronological_split": "return rnncourse.chronological_split(series, test_size)",
        "make_windows": "return rnncourse.make_windows(series, window, horizon)",
        "seasonal_naive": "return rnncourse.seasonal_naive(history, horizon, season)",
        "rmse": "return rnncourse.rmse(pred, target)",
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
    },
    "blank": BLANK,
}

FULL_MARKS = {"reference", "alternative"}


def test_autograde_scores(tmp_path):
    got = grade_lesson(LESSON, SUBMISSIONS, tmp_path)
    points = max_scores(LESSON)
    assert set(points) == {
        "test_chronological_split",
        "test_make_windows",
        "test_seasonal_naive",
        "test_rmse",
    }
    expected = {
        student: {cell: (points[cell] if student in FULL_MARKS else 0.0) for cell in points}
        for student in SUBMISSIONS
    }
    assert got == expected
