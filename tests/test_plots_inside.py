"""coursekit.plots.inside: activation densities, saturated/dead shares, update ratios."""

import io
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from coursekit import models, plots
from coursekit.monitor import GradientMonitor, History
from coursekit.plots import inside


def _render(fig):
    assert isinstance(fig, Figure)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")
    return fig


def _history(values: dict[str, list[dict]]) -> History:
    """A History from {layer: [metrics of step 0, step 1, ...]} (missing metrics are NaN)."""
    rows = []
    for index, (layer, steps) in enumerate(values.items()):
        for step, metrics in enumerate(steps):
            row = {"step": step * 5, "layer": layer, "index": index}
            for metric in ("grad_norm", "act_mean", "act_std", "saturated", "dead"):
                row[metric] = metrics.get(metric, math.nan)
            row["update_ratio"] = metrics.get("update_ratio", math.nan)
            rows.append(row)
    rows.sort(key=lambda r: (r["step"], r["index"]))
    return History(rows)


def test_the_public_names_are_in_plots():
    assert plots.update_ratios is inside.update_ratios
    assert plots.unit_states is inside.unit_states
    assert plots.activation_densities is inside.activation_densities


def test_update_ratios_one_line_per_layer_the_guide_and_zero_marks():
    runs = {
        "stuck": _history(
            {
                "0": [{"update_ratio": 0.0}, {"update_ratio": 0.0}, {"update_ratio": 0.0}],
                "1": [{"update_ratio": 1e-4}, {"update_ratio": 2e-4}, {"update_ratio": 3e-4}],
            }
        ),
        "healthy": _history(
            {
                "0": [{"update_ratio": 1e-3}, {"update_ratio": 2e-3}, {"update_ratio": 1e-3}],
                "1": [{"update_ratio": 3e-3}, {"update_ratio": 2e-3}, {"update_ratio": 1e-3}],
            }
        ),
    }
    fig = _render(plots.update_ratios(runs, title="t"))
    stuck, healthy = fig.axes[:2]
    assert stuck.get_title() == "stuck" and healthy.get_title() == "healthy"
    for ax in (stuck, healthy):
        assert ax.get_yscale() == "log"
        guides = [line for line in ax.lines if list(line.get_ydata()) == [1e-3, 1e-3]]
        assert len(guides) == 1 and guides[0].get_linestyle() == "--"
    assert stuck.get_ylim() == healthy.get_ylim()  # one scale: the panels compare
    # the stuck layer: no visible line (all NaN), three ▽ marks on the bottom edge
    data_lines = [line for line in stuck.lines if line.get_marker() == "None"]
    first = data_lines[0]
    assert np.isnan(first.get_ydata()).all()
    marks = [line for line in stuck.lines if line.get_marker() == "v"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [0, 5, 10]
    assert marks[0].get_ydata()[0] == pytest.approx(stuck.get_ylim()[0])
    assert list(data_lines[1].get_ydata()) == [1e-4, 2e-4, 3e-4]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "guide: 0.001" in legend and "0: does not move" in legend


def test_update_ratios_takes_a_single_history_and_rejects_bad_input():
    history = _history({"0": [{"update_ratio": 1e-3}]})
    _render(plots.update_ratios(history))
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.update_ratios({})
    with pytest.raises(ValueError, match="monitor History"):
        plots.update_ratios({"a": [1e-3]})
    with pytest.raises(ValueError, match="guide must be a positive number"):
        plots.update_ratios(history, guide=0)


def test_unit_states_puts_each_run_in_the_panel_that_applies():
    sigmoid = _history({"0": [{"saturated": 0.2}, {"saturated": 0.4}], "1": [{}, {}]})
    relu = _history({"0": [{"dead": 0.5}, {"dead": 0.5}], "1": [{"dead": 1.0}, {"dead": 0.0}]})
    fig = _render(plots.unit_states({"sigmoid": sigmoid, "relu": relu}))
    saturated, dead = fig.axes
    assert saturated.get_title() == "saturated" and dead.get_title() == "dead"
    (line,) = saturated.lines
    assert line.get_label() == "sigmoid"
    assert list(line.get_xdata()) == [1] and line.get_ydata()[0] == pytest.approx(0.3)  # mean
    (line,) = dead.lines
    assert list(line.get_xdata()) == [1, 2] and list(line.get_ydata()) == [0.5, 0.5]
    assert "mean over training" in fig.get_suptitle()
    at_last = _render(plots.unit_states({"relu": relu}, step=5))
    assert len(at_last.axes) == 1  # no run is saturated: that panel is left out
    assert list(at_last.axes[0].lines[0].get_ydata()) == [0.5, 0.0]
    assert "at step 5" in at_last.get_suptitle()


def test_unit_states_needs_activation_statistics():
    with pytest.raises(ValueError, match="activations=True"):
        plots.unit_states({"a": _history({"0": [{"grad_norm": 1.0}]})})
    with pytest.raises(ValueError, match="monitor History"):
        plots.unit_states({"a": {"0": 1.0}})


def test_unit_states_of_a_real_monitor():
    model = models.mlp(4, 8, 3, 2, activation="tanh", seed=0)
    with GradientMonitor(model) as mon:
        model(torch.randn(16, 4) * 50).sum().backward()  # large inputs: tanh saturates
        mon.record()
    fig = _render(plots.unit_states({"tanh": mon.history}))
    (line,) = fig.axes[0].lines
    assert len(line.get_xdata()) == 3  # three hidden layers; the output layer has no activation
    assert line.get_ydata()[0] > 0.5


def test_activation_densities_one_panel_per_run_one_line_per_layer():
    g = torch.Generator().manual_seed(0)
    runs = {
        "sigmoid": {"layer 1": torch.sigmoid(torch.randn(200, 8, generator=g)), "layer 2": [0.5]},
        "relu": {"layer 1": torch.relu(torch.randn(50, 4, generator=g))},
    }
    fig = _render(plots.activation_densities(runs, bins=20, title="inside"))
    sigmoid, relu = fig.axes[:2]
    assert [line.get_label() for line in sigmoid.lines] == ["layer 1", "layer 2"]
    assert sigmoid.get_title() == "sigmoid" and len(relu.lines) == 1
    centres = sigmoid.lines[0].get_xdata()
    assert len(centres) == 20 and 0 < centres[0] and centres[-1] < 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["layer 1", "layer 2"]
    # a density: the line integrates to 1 over its bins
    width = centres[1] - centres[0]
    assert np.nansum(sigmoid.lines[0].get_ydata()) * width == pytest.approx(1.0)
    assert fig.get_suptitle() == "inside"
    assert fig.get_supxlabel() == "activation value"
    relabelled = plots.activation_densities(runs, xlabel="pre-activation z")
    assert relabelled.get_supxlabel() == "pre-activation z"


@pytest.mark.parametrize("ncols", [2, 4])
def test_activation_densities_legend_leaves_the_title_and_panels_clear(ncols):
    """Lesson 04 shows four runs on a 2 x 2 grid: the narrow figure's long title must not run
    under the legend (it did when the legend sat at the top right), nor the legend on a panel."""
    g = torch.Generator().manual_seed(0)
    runs = {
        f"run {r}": {f"hidden layer {k}": torch.randn(300, 8, generator=g) for k in range(1, 5)}
        for r in range(4)
    }
    title = "pre-activations on the training set after training (seed 0)"
    fig = _render(plots.activation_densities(runs, ncols=ncols, title=title))
    legend = fig.legends[0].get_window_extent()  # in the drawn figure's pixels
    assert not legend.overlaps(fig._suptitle.get_window_extent())
    for ax in fig.axes:
        assert not legend.overlaps(ax.get_tightbbox()), ax.get_title()


def test_activation_densities_marks_a_layer_whose_values_fill_one_bin():
    """Lesson 02's ReLU run: the deep layers' outputs have faded to about 0, all in the first
    bin of a panel that layer 1 stretches to 13. A line through one point draws nothing: the
    bin gets a marker; bins inside a line do not. The legend shows lines only."""
    g = torch.Generator().manual_seed(0)
    runs = {
        "ReLU": {"layer 1": torch.relu(3 * torch.randn(500, 8, generator=g)), "layer 5": [0.01]}
    }
    fig = _render(plots.activation_densities(runs, bins=20))
    first, faded = fig.axes[0].lines
    assert np.count_nonzero(~np.isnan(faded.get_ydata())) == 1
    assert list(faded.get_markevery()) == list(~np.isnan(faded.get_ydata()))
    y = first.get_ydata()
    inside = ~np.isnan(y) & ~np.isnan(np.r_[np.nan, y[:-1]])  # bins after a filled bin
    assert not any(np.asarray(first.get_markevery())[inside])
    assert all(line.get_marker() in ("None", "", None) for line in fig.legends[0].get_lines())


def test_activation_densities_labels_a_short_log_axis():
    """A panel whose densities span under two decades (tanh + Xavier's U shape) gets labels
    at 2 and 5 times each power of ten; a wide one keeps its minor ticks off."""
    g = torch.Generator().manual_seed(0)
    runs = {
        "tanh": {"layer 1": torch.tanh(2 * torch.randn(2000, 16, generator=g))},
        "relu": {"layer 1": torch.relu(torch.randn(2000, 16, generator=g)) ** 3},
    }
    fig = _render(plots.activation_densities(runs, bins=20))
    short, wide = fig.axes[:2]
    labels = [t.get_text() for t in short.get_yticklabels(minor=True) if t.get_text()]
    assert any("2\\times" in t for t in labels) and any("5\\times" in t for t in labels), labels
    assert not [t.get_text() for t in wide.get_yticklabels(minor=True) if t.get_text()]


def test_activation_densities_rejects_empty_runs_and_layers():
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.activation_densities({})
    with pytest.raises(ValueError, match="layer: activations"):
        plots.activation_densities({"a": {}})
    with pytest.raises(ValueError, match="no finite activation"):
        plots.activation_densities({"a": {"l": [math.nan]}})


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30),
        min_size=1,
        max_size=4,
    )
)
def test_activation_densities_each_layer_integrates_to_one(layers):
    fig = plots.activation_densities({"run": {f"l{i}": v for i, v in enumerate(layers)}}, bins=7)
    ax = fig.axes[0]
    for line in ax.lines:
        x, y = line.get_xdata(), line.get_ydata()
        assert len(x) == 7
        width = x[1] - x[0]
        assert np.nansum(y) * width == pytest.approx(1.0, rel=1e-6)
        assert not (y == 0).any()  # empty bins are NaN, not 0 (a log scale has no 0)
