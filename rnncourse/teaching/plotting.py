"""Plots for the lessons: a live training curve and a few static comparisons.

Every function returns a ``matplotlib.figure.Figure`` and leaves no figure open
in pyplot, so a lesson can make as many plots as it likes without matplotlib's
"too many open figures" warning. In Jupyter, end a cell with the figure (or
call ``display(fig)``) to show it; ``fig = plot_...(...)`` shows nothing, and
``plot_...(...);`` with a semicolon neither. Outside Jupyter (scripts, tests)
save it with ``fig.savefig(path)``. Nothing here calls ``plt.show()``, so any
backend works; without a display matplotlib falls back to Agg by itself.

``LivePlot`` is the one exception to "show it yourself": it draws itself while
training runs, updating a single output in place.
"""

import io
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np

FIGSIZE = (5.5, 3.5)


def _new_axes(figsize=FIGSIZE):
    """A fresh figure with one axes, already closed in pyplot.

    Creating it through pyplot lets Jupyter's inline backend register its
    figure formatter (so a returned figure shows as an image); closing it at
    once stops the backend from also showing it at the end of the cell.
    """
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    plt.close(fig)
    return fig, ax


def _label_axes(ax, xlabel, ylabel, title=None, yscale="linear"):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if yscale == "log":
        # Zeros (a gradient that underflowed) become gaps, not a plunge to 1e-300.
        ax.set_yscale("log", nonpositive="mask")
    else:
        ax.set_yscale(yscale)
    if title:
        ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:  # legend() warns when nothing is labelled
        ax.legend()
    ax.grid(True, alpha=0.3)


def _check_yscale(yscale):
    if yscale not in ("linear", "log"):
        raise ValueError(f'yscale must be "linear" or "log", got {yscale!r}')


def _in_jupyter_kernel():
    """True inside an IPython kernel (JupyterLab, nbclient, nbgrader), where
    ``IPython.display`` reaches a notebook; False in scripts, pytest and the
    terminal IPython shell."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return getattr(shell, "kernel", None) is not None


class LivePlot:
    """A training curve that redraws itself in place while points arrive.

    In a Jupyter kernel the figure is shown once, through a display handle,
    and that same output is updated at most every ``min_interval`` seconds
    (and less often when drawing is slow, so plotting never costs more than
    about 5% of the training time), plus a final draw in ``finish()``. A
    notebook saved after a headless run (nbclient, nbgrader) therefore holds
    one image per plot, not one per update. Under ``nbgrader`` autograding
    (``NBGRADER_EXECUTION`` set) only the final figure is drawn. Outside
    Jupyter nothing is displayed: ``finish()`` returns the figure.

    Example::

        with LivePlot("epoch", "perplexity", legend=("train", "val")) as live:
            for epoch in range(1, num_epochs + 1):
                ...
                live.add(epoch, train_ppl, val_ppl)  # None skips a curve
        fig = live.figure
    """

    def __init__(
        self,
        xlabel,
        ylabel,
        legend,
        *,
        yscale="linear",
        title=None,
        xlim=None,
        ylim=None,
        figsize=FIGSIZE,
        min_interval=0.5,
    ):
        _check_yscale(yscale)
        if isinstance(legend, str):
            raise TypeError(f"legend must be a sequence of curve names, got the string {legend!r}")
        self.figure, self.ax = _new_axes(figsize)
        self.lines = [self.ax.plot([], [], marker=".", label=name)[0] for name in legend]
        _label_axes(self.ax, xlabel, ylabel, title, yscale)
        if xlim is not None:
            self.ax.set_xlim(xlim)
        if ylim is not None:
            self.ax.set_ylim(ylim)
        self.xs = [[] for _ in self.lines]
        self.ys = [[] for _ in self.lines]
        self.min_interval = min_interval
        self._in_kernel = _in_jupyter_kernel()
        self._live = self._in_kernel and not os.environ.get("NBGRADER_EXECUTION")
        self._handle = None  # IPython display handle, once shown
        self._next_draw = 0.0  # perf_counter time before which add() does not redraw

    def add(self, x, *ys):
        """Record one point per curve, in legend order; a None y skips that curve."""
        if len(ys) != len(self.lines):
            raise ValueError(
                f"add() needs one y value per curve ({len(self.lines)}: "
                f"{[line.get_label() for line in self.lines]}), got {len(ys)}"
            )
        for xs, values, y in zip(self.xs, self.ys, ys, strict=True):
            if y is not None:
                xs.append(float(x))
                # inf / NaN (a diverged run) are stored as NaN: a gap in the line
                values.append(float(y) if math.isfinite(y) else math.nan)
        if self._live and time.perf_counter() >= self._next_draw:
            self._show()

    def finish(self):
        """Draw the final state (shown once in Jupyter) and return the figure."""
        if self._in_kernel:
            self._show()
        else:
            self._redraw()
        return self.figure

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.finish()

    def _redraw(self):
        for line, xs, ys in zip(self.lines, self.xs, self.ys, strict=True):
            line.set_data(xs, ys)
        self.ax.relim()
        self.ax.autoscale_view()

    def _show(self):
        from IPython.display import Image, display

        start = time.perf_counter()
        self._redraw()
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png")
        image = Image(data=buffer.getvalue(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)
        took = time.perf_counter() - start
        self._next_draw = time.perf_counter() + max(self.min_interval, 20 * took)


def plot_curves(
    histories,
    ylabel,
    *,
    xlabel="epoch",
    yscale="linear",
    baseline=None,
    baseline_label="baseline",
    title=None,
    figsize=FIGSIZE,
):
    """Compare training curves, one line per run, x = 1, 2, ... (epochs).

    Inputs:
    - histories: dict name -> sequence of values, e.g.
      {"RNN": [...], "GRU": [...], "LSTM": [...]}; runs may differ in length.
    - baseline: optional number drawn as a dashed horizontal line, e.g. the
      MSE of always predicting the mean.

    A value that is inf or NaN (a run that diverged) leaves a gap, and the
    first such epoch is marked with an "x" on the top edge of the plot and
    named in the legend, so a diverged run stays visible next to the others.

    Returns the Figure: ax.lines holds one line per run, then the baseline.
    """
    _check_yscale(yscale)
    if not histories:
        raise ValueError("histories is empty: give at least one run, e.g. {'RNN': losses}")
    fig, ax = _new_axes(figsize)
    for name, values in histories.items():
        ys = [float(v) for v in values]
        xs = list(range(1, len(ys) + 1))
        bad = [x for x, y in zip(xs, ys, strict=True) if not math.isfinite(y)]
        label = f"{name} (diverged at {xlabel} {bad[0]})" if bad else name
        (line,) = ax.plot(xs, [y if math.isfinite(y) else math.nan for y in ys], label=label)
        if bad:
            # x in data coordinates, y = 1 is the top of the axes
            ax.scatter(
                [bad[0]],
                [1.0],
                marker="x",
                color=line.get_color(),
                transform=ax.get_xaxis_transform(),
                clip_on=False,
            )
    if baseline is not None:
        ax.axhline(baseline, linestyle="--", color="gray", label=baseline_label)
    _label_axes(ax, xlabel, ylabel, title, yscale)
    return fig


def plot_grad_norms(
    norms_by_label,
    *,
    xlabel="time lag T - t",
    ylabel=r"$\|\partial h_T / \partial h_t\|$",
    title=None,
    figsize=FIGSIZE,
):
    """Gradient norm against time lag on a log y-axis, one line per setting.

    Inputs:
    - norms_by_label: dict label -> norms for lags 1, 2, ..., e.g. the output
      of ``grad_norm_by_lag(W_hh, T)`` (t = T-1 ... 0) under the label
      "spectral radius 0.9". On the log axis vanishing gradients fall on a
      straight line and exploding ones rise; exact zeros leave a gap.

    Returns the Figure: ax.lines holds one line per label.
    """
    if not norms_by_label:
        raise ValueError("norms_by_label is empty: give at least one curve")
    fig, ax = _new_axes(figsize)
    for label, norms in norms_by_label.items():
        ys = [float(v) for v in norms]
        ax.plot(range(1, len(ys) + 1), ys, label=label)
    _label_axes(ax, xlabel, ylabel, title, yscale="log")
    return fig


def plot_series(
    series, *, x=None, test_size=None, title=None, xlabel="t", ylabel="value", figsize=FIGSIZE
):
    """Plot one time series; with ``test_size``, shade its last test_size values
    (the test period of a chronological split).

    Inputs:
    - series: (T,) sequence of numbers (list, NumPy array or tensor)
    - x: optional (T,) positions, e.g. years as fractions; default 0 .. T-1

    Returns the Figure: one line (the series) and, with test_size, one shaded span.
    """
    ys = [float(v) for v in series]
    xs = list(range(len(ys))) if x is None else list(x)
    if len(xs) != len(ys):
        raise ValueError(f"x has {len(xs)} positions but the series has {len(ys)} values")
    fig, ax = _new_axes(figsize)
    ax.plot(xs, ys, label="series")
    if test_size is not None:
        if not 0 < test_size < len(ys):
            raise ValueError(f"test_size must be between 1 and {len(ys) - 1}, got {test_size}")
        ax.axvspan(xs[-test_size], xs[-1], color="gray", alpha=0.2, label="test period")
    _label_axes(ax, xlabel, ylabel, title)
    return fig


def plot_forecast(
    history, truth, forecasts, title=None, *, x=None, xlabel="t", ylabel="value", figsize=FIGSIZE
):
    """Forecasts against the truth, after the history they were made from.

    Inputs:
    - history: (T,) values before the forecast period (the training part)
    - truth: (H,) actual values of the forecast period
    - forecasts: dict name -> (H,) predicted values, e.g.
      {"seasonal naive": ..., "RNN": ...}; put a score in the name if you like
      ("RNN (RMSE 31.2)")
    - x: optional (T + H,) positions; default 0 .. T+H-1

    Returns the Figure: ax.lines holds history, truth, then one line per forecast.
    """
    hist = [float(v) for v in history]
    true = [float(v) for v in truth]
    xs = list(range(len(hist) + len(true))) if x is None else list(x)
    if len(xs) != len(hist) + len(true):
        raise ValueError(
            f"x has {len(xs)} positions, expected len(history) + len(truth) = "
            f"{len(hist)} + {len(true)} = {len(hist) + len(true)}"
        )
    future = xs[len(hist) :]
    fig, ax = _new_axes(figsize)
    ax.plot(xs[: len(hist)], hist, color="gray", label="history")
    ax.plot(future, true, color="black", linewidth=2, label="truth")
    for name, values in forecasts.items():
        pred = [float(v) for v in values]
        if len(pred) != len(true):
            raise ValueError(f"forecast {name!r} has {len(pred)} values, the truth has {len(true)}")
        ax.plot(future, pred, linestyle="--", marker=".", label=name)
    _label_axes(ax, xlabel, ylabel, title)
    return fig


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# name -> (formula, g, g'): the activations of lesson 01, on NumPy arrays.
# ReLU's derivative at exactly 0 is taken as 0 (torch's autograd does the same).
ACTIVATIONS = {
    "sigmoid": (
        r"$\sigma(z) = 1 / (1 + e^{-z})$",
        _sigmoid,
        lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)),
    ),
    "tanh": (
        r"$\tanh(z) = (e^{z} - e^{-z}) / (e^{z} + e^{-z})$",
        np.tanh,
        lambda z: 1.0 - np.tanh(z) ** 2,
    ),
    "relu": (
        r"$\mathrm{ReLU}(z) = \max(0, z)$",
        lambda z: np.maximum(z, 0.0),
        lambda z: 1.0 * (z > 0),
    ),
}


def plot_activations(names=("sigmoid", "tanh", "relu"), *, z_max=5.0, figsize=(10, 3.2)):
    """Each activation function and its derivative on [-z_max, z_max], one panel each.

    Inputs:
    - names: keys of ``ACTIVATIONS`` ("sigmoid", "tanh", "relu"), in panel order

    Each panel's title is the formula; the derivative is dashed and the largest
    value it takes on the grid is named in the legend (sigmoid's is 0.25 at 0,
    tanh's 1 at 0), which is how much of a gradient one step can pass on at best.

    Returns the Figure: one axes per name, whose ax.lines start with [g, g'].
    """
    unknown = [n for n in names if n not in ACTIVATIONS]
    if unknown or not names:
        raise ValueError(f"names must be some of {sorted(ACTIVATIONS)}, got {list(names)}")
    z = np.linspace(-z_max, z_max, 401)  # odd: z = 0 is on the grid
    fig, axes = plt.subplots(1, len(names), figsize=figsize, layout="constrained", squeeze=False)
    plt.close(fig)
    for ax, name in zip(axes[0], names, strict=True):
        formula, g, dg = ACTIVATIONS[name]
        slope = dg(z)
        ax.plot(z, g(z), label=name)
        ax.plot(z, slope, linestyle="--", label=f"derivative (max {slope.max():.2g})")
        ax.axhline(0, color="gray", linewidth=0.5)
        ax.axvline(0, color="gray", linewidth=0.5)
        _label_axes(ax, "z", "", formula)
        ax.legend(loc="upper left", fontsize=8)
    return fig


def _as_array(values):
    """A float NumPy array from a tensor (any device, with grad or not) or array-like."""
    if hasattr(values, "detach"):
        values = values.detach().cpu()
    return np.asarray(values, dtype=float)


_GATE_PANELS = (
    ("i", "input gate $i_t$"),
    ("f", "forget gate $f_t$"),
    ("o", "output gate $o_t$"),
    ("c", "cell state $c_t$"),
)


def plot_lstm_gates(values, trace, marks, units, *, title=None, figsize=(8, 9)):
    """An LSTM's gates and cell state over one sequence, for a few units, under its input.

    Inputs:
    - values: (L,) the input to show on top, e.g. channel 0 of an adding-problem sequence
    - trace: dict with "i", "f", "o" and "c", each (L, H), as ``lstm_gate_trace`` returns
    - marks: the marked steps (drawn in red, and as dotted lines through every panel)
    - units: indices of the hidden units to draw as lines, e.g. [2, 25]

    Panels, top to bottom: the input (bars), the input, forget and output gates and
    the cell state of the chosen units (one line each, the same colour in every
    panel), and the input gate of all H units as a heat map (units on the y-axis),
    which shows how many units react to the marks.

    Returns the Figure: fig.axes = [input, i, f, o, c, heat map, its colour bar].
    """
    xs = _as_array(values).reshape(-1).tolist()
    marks = [int(t) for t in marks]
    units = [int(u) for u in units]
    missing = [key for key, _ in _GATE_PANELS if key not in trace]
    if missing:
        raise ValueError(f"trace lacks {missing}: pass the dict that lstm_gate_trace returns")
    panels = {key: _as_array(trace[key]) for key, _ in _GATE_PANELS}
    L, H = panels["i"].shape
    if len(xs) != L:
        raise ValueError(f"values has {len(xs)} steps but the trace has {L}")
    if not units or not all(0 <= u < H for u in units):
        raise ValueError(f"units must be a non-empty list of indices in 0..{H - 1}, got {units}")
    if not all(0 <= t < L for t in marks):
        raise ValueError(f"marks must be steps in 0..{L - 1}, got {marks}")
    fig, axes = plt.subplots(
        len(_GATE_PANELS) + 2, 1, figsize=figsize, sharex=True, layout="constrained"
    )
    plt.close(fig)
    steps = list(range(L))
    axes[0].bar(steps, xs, color="lightgray", label="input")
    axes[0].bar(marks, [xs[t] for t in marks], color="tab:red", label="marked")
    axes[0].set_ylabel("input")
    axes[0].legend(loc="upper right", ncol=2, fontsize=8)
    for ax, (key, label) in zip(axes[1:], _GATE_PANELS, strict=False):
        for u in units:
            ax.plot(steps, panels[key][:, u], label=f"unit {u}")
        ax.set_ylabel(label)
        if key != "c":
            ax.set_ylim(-0.05, 1.05)  # gates live in (0, 1)
    axes[1].legend(loc="upper right", ncol=len(units), fontsize=8)
    heat = axes[-1].imshow(
        panels["i"].T,
        aspect="auto",
        cmap="viridis",
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
        extent=(-0.5, L - 0.5, H - 0.5, -0.5),
    )
    axes[-1].set_ylabel("unit (all H)")
    axes[-1].set_xlabel("step t")
    fig.colorbar(heat, ax=axes[-1], label="$i_t$")
    for ax in axes:
        for t in marks:
            ax.axvline(t, color="tab:red", linestyle=":", linewidth=1)
        if ax is not axes[-1]:
            ax.grid(True, alpha=0.3)
    if title:
        axes[0].set_title(title)
    return fig
