"""Lesson 01's forecaster on the test year 1960, over several seeds, next to the baselines.

The recipe is read from the lesson itself (``solutions/01_time_series``): its
configuration cell (window, hidden size, learning rate, batch size, epochs) and
the ``Forecaster`` class of its model cell, so the figure measured here is the
lesson's. Each seed k runs as the lesson does with ``SEED = k``: the series is
split by time (the last 12 months are the test), min-max scaled with the
training years' minimum and maximum, cut into windows, and the model is built
right after ``seed_everything(k)`` and trained with ``train_forecaster``; the
test RMSE is that of the 12 one-step-ahead forecasts of 1960, in thousands of
passengers. The naive and seasonal-naive baselines need no seed.

A second row trains the variant of the lesson's "Try it yourself" 7: the same
model with the value one season before the target added to its output (a
skip connection from the seasonal-naive forecast).

Run alone: ``python -m bench --only forecaster``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import torch
from torch import nn

import rnncourse
from bench import report
from rnncourse.nbgrader_cells import find_cell

NAME = "forecaster"
TITLE = "Lesson 01 forecaster"
LESSON = (
    Path(__file__).resolve().parents[1] / "solutions" / "01_time_series" / "01_time_series.ipynb"
)
QUICK_EPOCHS = 2
SEASON = 12


def lesson_recipe(path: Path = LESSON) -> dict:
    """The lesson's configuration cell run with grading off, plus its Forecaster class."""
    cells = nbformat.read(path, as_version=4).cells
    namespace = {"rnncourse": rnncourse, "nn": nn, "torch": torch}
    config = find_cell(cells, "config").source.replace(
        "rnncourse.is_autograding()", "False"
    )  # the full-length recipe, also when this runs under nbgrader's environment
    exec(compile(config, f"{path.name}: config", "exec"), namespace)
    model_cell = find_cell(cells, "model").source
    tree = ast.parse(model_cell)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Forecaster"]
    if not classes:
        raise ValueError(f"{path}: the model cell defines no class Forecaster")
    exec(compile(ast.Module(classes, []), f"{path.name}: model", "exec"), namespace)
    return namespace


def _data(test_size: int, window: int):
    passengers = rnncourse.load_airline_passengers()
    series = torch.tensor(passengers.to_numpy(), dtype=torch.float32)  # (144,)
    train, test = rnncourse.chronological_split(series, test_size)
    x_min, x_max = train.min(), train.max()

    def scale(x):
        return (x - x_min) / (x_max - x_min)

    X_train, y_train = rnncourse.make_windows(scale(train), window)
    X_test, _ = rnncourse.make_windows(scale(series[-(test_size + window) :]), window)
    return {
        "series": series,
        "train": train,
        "test": test,
        "X_train": X_train,
        "y_train": y_train,
        "X_test": X_test,
        "unscale": lambda z: z * (x_max - x_min) + x_min,
    }


def rmse_on_1960(model_class, recipe, data, seed, device, num_epochs) -> float:
    """Train one model as the lesson does with SEED = seed; its RMSE on 1960."""
    rnncourse.seed_everything(seed)
    model = model_class(recipe["HIDDEN"]).to(device)
    rnncourse.train_forecaster(
        model,
        data["X_train"],
        data["y_train"],
        num_epochs=num_epochs,
        lr=recipe["LR"],
        device=device,
        batch_size=recipe["BATCH_SIZE"],
        plot=False,
        progress=False,
    )
    model.eval()
    with torch.no_grad():
        forecast = data["unscale"](model(data["X_test"].to(device)).cpu()[:, 0])  # (12,)
    return rnncourse.rmse(forecast, data["test"])


def _model_rows(Forecaster, SeasonSkip, recipe, data, seeds, device, num_epochs):
    """One table row per model: the seeds, the median (range) and every seed's RMSE."""
    rows, medians = [], {}
    for label, model_class in [
        ("lesson 01: nn.RNN forecaster", Forecaster),
        ("nn.RNN + seasonal skip (Try it yourself 7)", SeasonSkip),
    ]:
        scores = [
            rmse_on_1960(model_class, recipe, data, seed, device, num_epochs) for seed in seeds
        ]
        medians[label] = report.median(scores)
        rows.append(
            [
                label,
                ", ".join(str(s) for s in seeds),
                report.spread(scores),
                ", ".join(f"{s:.1f}" for s in scores),
            ]
        )
        print("  " + " | ".join(rows[-1]), flush=True)
    return rows, medians


def run(options) -> str:
    recipe = lesson_recipe()
    test_size, window = recipe["TEST_SIZE"], recipe["WINDOW"]
    data = _data(test_size, window)
    num_epochs = QUICK_EPOCHS if options.quick else recipe["NUM_EPOCHS"]
    seeds = list(range(1 if options.quick else options.repeat or 3))
    device = options.devices[-1]  # the GPU on a GPU machine, else the CPU
    Forecaster = recipe["Forecaster"]

    class SeasonSkip(Forecaster):
        """The lesson's model plus the value one season before the target."""

        def forward(self, x):
            return super().forward(x) + x[:, -SEASON]  # (N, 1) + (N, 1)

    series, test = data["series"], data["test"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the lesson pins it: tiny matrices, and safe on a shared CPU
    try:
        rows, medians = _model_rows(Forecaster, SeasonSkip, recipe, data, seeds, device, num_epochs)
    finally:
        torch.set_num_threads(threads)
    naive = rnncourse.rmse(series[-test_size - 1 : -1], test)
    seasonal = rnncourse.rmse(rnncourse.seasonal_naive(data["train"], test_size), test)
    rows = [
        ["naive (previous month)", "-", f"{naive:.1f}", "-"],
        ["seasonal naive (1959 again)", "-", f"{seasonal:.1f}", "-"],
        *rows,
    ]
    lesson = medians["lesson 01: nn.RNN forecaster"]
    verdict = "beats" if lesson < min(naive, seasonal) else "does NOT beat"
    notes = (
        f"Test RMSE on 1960 (12 one-step-ahead forecasts, thousand passengers) of the recipe in "
        f"`solutions/01_time_series` (its configuration cell and `Forecaster`): nn.RNN with "
        f"H = {recipe['HIDDEN']}, window {window}, Adam lr {recipe['LR']}, batch "
        f"{recipe['BATCH_SIZE']}, {num_epochs} epochs, on {device} with one torch thread "
        "as in the lesson; "
        f"`seed_everything(k)` right before the model is built, seeds {seeds}. "
        f"A cell reads 'median (range)'. The lesson's forecaster (median {lesson:.1f}) "
        f"{verdict} both baselines (target: a median of at most 35)."
    )
    header = ["forecaster", "seeds", "test RMSE, median (range)", "each seed"]
    return notes + "\n\n" + report.table(header, rows)
