"""Plot helpers: the figures they return, and LivePlot in a headless kernel."""

import io
import math
import textwrap

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from rnncourse.teaching import plotting
from rnncourse.teaching.plotting import (
    LivePlot,
    plot_activations,
    plot_curves,
    plot_forecast,
    plot_grad_norms,
    plot_lstm_gates,
    plot_series,
)


@pytest.fixture(autouse=True)
def no_figures_left_open():
    """Every helper must leave pyplot without open figures."""
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a plot helper left a figure open in pyplot"


def labels(ax):
    return [line.get_label() for line in ax.lines]


def test_plot_curves_one_line_per_run_plus_baseline():
    fig = plot_curves(
        {"RNN": [0.2, 0.17, 0.168], "LSTM": [0.2, 0.05, 0.01, 0.001]},
        "MSE",
        yscale="log",
        baseline=0.167,
    )
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert labels(ax) == ["RNN", "LSTM", "baseline"]
    assert ax.get_ylabel() == "MSE" and ax.get_xlabel() == "epoch"
    assert ax.get_yscale() == "log"
    assert list(ax.lines[1].get_xdata()) == [1, 2, 3, 4]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == labels(ax)


def test_plot_curves_marks_a_diverged_run():
    fig = plot_curves({"no clip": [5.0, 9.0, math.inf, math.nan], "clip 1": [5.0, 4.0, 3.0]}, "ppl")
    ax = fig.axes[0]
    assert labels(ax) == ["no clip (diverged at epoch 3)", "clip 1"]
    ys = list(ax.lines[0].get_ydata())
    assert ys[:2] == [5.0, 9.0] and all(math.isnan(y) for y in ys[2:])
    assert len(ax.collections) == 1  # the "x" marking where it diverged
    lo, hi = ax.get_ylim()
    assert math.isfinite(lo) and math.isfinite(hi)
    fig.savefig(io.BytesIO(), format="png")  # draws without error


def test_plot_curves_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        plot_curves({}, "loss")
    with pytest.raises(ValueError, match="yscale"):
        plot_curves({"a": [1.0]}, "loss", yscale="symlog")


def test_plot_grad_norms_uses_a_log_axis_over_lags():
    fig = plot_grad_norms({"rho 0.9": [0.9**k for k in range(1, 6)], "rho 1.1": [1.1, 1.2, 1.3]})
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert labels(ax) == ["rho 0.9", "rho 1.1"]
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3, 4, 5]


def test_plot_series_shades_the_test_period():
    fig = plot_series(list(range(24)), test_size=6, xlabel="month", ylabel="passengers")
    ax = fig.axes[0]
    assert labels(ax) == ["series"] and len(ax.patches) == 1
    assert ax.get_xlabel() == "month" and ax.get_ylabel() == "passengers"
    with pytest.raises(ValueError, match="test_size"):
        plot_series([1, 2, 3], test_size=3)


def test_plot_forecast_lines_and_positions():
    fig = plot_forecast([1, 2, 3, 4], [5, 6], {"naive": [4, 4], "RNN": [5.1, 5.9]}, title="1960")
    ax = fig.axes[0]
    assert labels(ax) == ["history", "truth", "naive", "RNN"]
    assert list(ax.lines[1].get_xdata()) == [4, 5]  # the forecast period follows the history
    assert ax.get_title() == "1960"
    with pytest.raises(ValueError, match="'RNN' has 1 values"):
        plot_forecast([1, 2], [3, 4], {"RNN": [3]})


def test_liveplot_outside_jupyter_records_points_and_returns_the_figure():
    with LivePlot("epoch", "perplexity", legend=("train", "val"), yscale="log") as live:
        live.add(1, 10.0, None)
        live.add(2, 8.0, 9.0)
        live.add(3, math.inf, 9.5)
    ax = live.figure.axes[0]
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]
    assert list(ax.lines[1].get_xdata()) == [2, 3]
    assert math.isnan(ax.lines[0].get_ydata()[2])
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="one y value per curve"):
        live.add(4, 1.0)


def test_liveplot_in_a_headless_kernel_leaves_one_image(tmp_path):
    """Run under nbclient: many add() calls must leave a single image output."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # plotting.py loaded on its own: importing the rnncourse package would pull
    # in torch and make the kernel several seconds slower to get going
    source = textwrap.dedent(
        f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location("plotting", {str(plotting.__file__)!r})
        plotting = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(plotting)
        live = plotting.LivePlot("epoch", "loss", legend=["train"], min_interval=0.0)
        for epoch in range(1, 6):
            live.add(epoch, 1.0 / epoch)
        fig = live.finish()
        """
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert len(outputs) == 1, [o.output_type for o in outputs]
    assert outputs[0].output_type == "display_data" and "image/png" in outputs[0].data


def _gate_trace(L, H):
    """A made-up trace: unit 0's input gate opens at steps 2 and 7, its cell steps up."""
    import torch

    trace = {key: torch.full((L, H), 0.5) for key in "ifgoch"}
    trace["i"][:, 0] = 0.02
    trace["i"][[t for t in (2, 7) if t < L], 0] = 0.9
    trace["c"][:, 0] = torch.cumsum(trace["i"][:, 0], 0)
    return trace


def test_plot_lstm_gates_panels_units_and_marks():
    L, H = 10, 4
    trace = _gate_trace(L, H)
    fig = plot_lstm_gates([0.1 * t for t in range(L)], trace, marks=[2, 7], units=[0, 3], title="x")
    ax_in, ax_i, ax_f, ax_o, ax_c, ax_heat, colorbar = fig.axes
    assert len(ax_in.patches) == L + 2  # all the bars, then the marked ones again in red
    for ax, key in [(ax_i, "i"), (ax_f, "f"), (ax_o, "o"), (ax_c, "c")]:
        lines = [line for line in ax.lines if line.get_label() in ("unit 0", "unit 3")]
        assert [line.get_label() for line in lines] == ["unit 0", "unit 3"]
        assert list(lines[0].get_ydata()) == pytest.approx(trace[key][:, 0].tolist())
    marks = [line for line in ax_c.lines if line.get_linestyle() == ":"]
    assert sorted(line.get_xdata()[0] for line in marks) == [2, 7]
    assert ax_heat.images[0].get_array().shape == (H, L)  # units on the y-axis
    assert ax_in.get_title() == "x" and ax_heat.get_xlabel() == "step t"
    fig.savefig(io.BytesIO(), format="png")


def test_plot_lstm_gates_rejects_bad_input():
    trace = _gate_trace(5, 2)
    with pytest.raises(ValueError, match="values has 4 steps but the trace has 5"):
        plot_lstm_gates([0.0] * 4, trace, marks=[1], units=[0])
    with pytest.raises(ValueError, match="units"):
        plot_lstm_gates([0.0] * 5, trace, marks=[1], units=[2])
    with pytest.raises(ValueError, match="marks"):
        plot_lstm_gates([0.0] * 5, trace, marks=[5], units=[0])
    with pytest.raises(ValueError, match=r"trace lacks \['o'\]"):
        plot_lstm_gates([0.0] * 5, {k: v for k, v in trace.items() if k != "o"}, [1], [0])


def test_plot_activations_draws_each_function_and_its_derivative():
    fig = plot_activations()
    assert [ax.get_title() for ax in fig.axes] == [
        plotting.ACTIVATIONS[name][0] for name in ("sigmoid", "tanh", "relu")
    ]
    expected_at = {  # z -> (g(z), g'(z)) for sigmoid, tanh, ReLU
        "sigmoid": {0.0: (0.5, 0.25), 2.0: (1 / (1 + math.exp(-2)), 0.104993585)},
        "tanh": {0.0: (0.0, 1.0), -1.0: (math.tanh(-1), 1 - math.tanh(1) ** 2)},
        "relu": {-2.0: (0.0, 0.0), 3.0: (3.0, 1.0)},
    }
    for ax, (name, points) in zip(fig.axes, expected_at.items(), strict=True):
        g, dg = ax.lines[0], ax.lines[1]
        assert g.get_label() == name and dg.get_linestyle() == "--"
        z = list(g.get_xdata())
        assert z[0] == -5.0 and z[-1] == 5.0
        for z0, (value, slope) in points.items():
            i = min(range(len(z)), key=lambda k: abs(z[k] - z0))
            assert g.get_ydata()[i] == pytest.approx(value, abs=1e-6), (name, z0)
            assert dg.get_ydata()[i] == pytest.approx(slope, abs=1e-6), (name, z0)
    assert "max 0.25" in fig.axes[0].lines[1].get_label()
    assert "max 1" in fig.axes[1].lines[1].get_label()
    fig.savefig(io.BytesIO(), format="png")


def test_plot_activations_one_panel_each_and_rejects_unknown_names():
    assert len(plot_activations(["tanh"], z_max=2.0).axes) == 1
    with pytest.raises(ValueError, match="names must be some of"):
        plot_activations(["tanh", "softplus"])
    with pytest.raises(ValueError, match="names must be some of"):
        plot_activations([])
