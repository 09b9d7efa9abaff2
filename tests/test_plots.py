"""coursekit.plots: every figure renders under Agg and shows what it is asked to."""

import io

import matplotlib
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from coursekit import data, models, plots
from coursekit.monitor import GradientMonitor
from coursekit.plots import style
from coursekit.train import TrainHistory


def _render(fig):
    assert isinstance(fig, Figure)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")  # what the notebook's inline backend does
    assert buffer.getvalue().startswith(b"\x89PNG")
    return fig


@pytest.fixture(scope="module")
def history():
    model = models.mlp(4, 8, 3, 2, activation="sigmoid")
    with GradientMonitor(model) as mon:
        model(torch.randn(6, 4)).sum().backward()
        mon.record()
    return mon.history


def test_backend_is_agg():
    assert matplotlib.get_backend().lower() == "agg"


def test_grad_norms_log_scale_one_point_per_layer(history):
    fig = _render(plots.grad_norms({"a": history, "b": {"l1": 1.0, "l2": 0.1}}))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert len(ax.lines) == 2 and len(ax.lines[0].get_xdata()) == 4


def test_layer_metric_marks_zeros_on_the_log_scale_instead_of_plunging():
    fig = _render(plots.layer_metric({"run": [0.0, 0.0, 1e-9, 1e-3]}, "update_ratio"))
    ax = fig.axes[0]
    line, marks = ax.lines
    assert np.isnan(line.get_ydata()[:2]).all() and line.get_ydata()[3] == 1e-3
    assert list(marks.get_xdata()) == [1, 2] and marks.get_marker() == "v"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "run",
        "0 (off the log scale)",
    ]
    linear = plots.layer_metric({"run": [0.0, 1.0]}, "act_mean", log=False).axes[0]
    assert len(linear.lines) == 1 and list(linear.lines[0].get_ydata()) == [0.0, 1.0]


def test_layer_metric_rejects_unknown_metric(history):
    with pytest.raises(ValueError, match="metric must be one of"):
        plots.layer_metric(history, "nope")


def test_training_curves_and_curves_with_nan():
    h = TrainHistory([1.0, 0.5], [0.5, 0.8], [1.1, 0.7], [0.4, 0.7])
    _render(plots.training_curves({"run": h}))
    fig = _render(plots.curves({"nan run": [1.0, 2.0, float("nan")]}, ylabel="loss"))
    line = fig.axes[0].get_lines()[-1]
    assert len(line.get_xdata()) == 2 and "not finite at 3" in line.get_label()


def test_other_figures_render():
    _render(plots.activation_histograms({"l1": np.random.default_rng(0).normal(size=100)}))
    _render(plots.dead_units({"lr 0.1": [0.0, 0.1]}, x=[1, 2]))
    _render(plots.heatmap(np.eye(3), xlabel="input", ylabel="unit"))
    fig = _render(plots.vectors({"g": [3.0, 4.0], "clipped": [0.6, 0.8]}, circle=1.0))
    assert len(fig.axes[0].texts) == 2  # one arrow per vector
    x, y = data.moons(50)
    _render(plots.decision_boundary(models.mlp(2, 4, 1, 2), x, y, resolution=20))


def test_expression_graph_draws_every_node():
    class Node:
        def __init__(self, data, prev=(), op=""):
            self.data, self.grad, self._prev, self._op = data, 0.0, set(prev), op

    a = Node(2.0)
    b = Node(3.0)
    c = Node(6.0, (a, b), "*")
    fig = _render(plots.expression_graph(c))
    boxes = [t for t in fig.axes[0].texts if "data" in t.get_text()]
    assert len(boxes) == 3 and any("data 6" in t.get_text() for t in boxes)


def test_bad_inputs():
    with pytest.raises(ValueError, match="matrix must be 2-D"):
        plots.heatmap(np.ones(3))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2\)"):
        plots.decision_boundary(lambda g: g, np.ones((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="root must have a .data"):
        plots.expression_graph(object())


def test_expression_graph_draws_one_arrow_per_use():
    class Node:
        def __init__(self, data, prev=(), op=""):
            self.data, self.grad, self._prev, self._op = data, 0.0, set(prev), op

    a = Node(1.5)
    b = Node(3.0, (a, a), "+")  # _prev is a set: {a}, but a is used twice
    c = Node(6.0, (b, b), "+")
    arrows = [t for t in _render(plots.expression_graph(c)).axes[0].texts if t.get_text() == ""]
    assert len(arrows) == 4
    d = Node(2.25, (a,), "**2")  # a unary operation uses its input once
    arrows = [t for t in _render(plots.expression_graph(d)).axes[0].texts if t.get_text() == ""]
    assert len(arrows) == 1


def test_reference_line_has_a_legend_entry():
    fig = plots.reference(plots.curves({"run": [0.3, 0.2]}), 0.25, "predicting the mean")
    ax = _render(fig).axes[0]
    assert "predicting the mean" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ValueError, match="y must be a finite number"):
        plots.reference(fig, float("nan"), "x")


def test_bands_draw_the_median_and_the_range():
    fig = _render(plots.bands({"p = 0.5": [[1.0, 2.0], [3.0, 4.0], [2.0, 9.0]]}, x=[1, 2]))
    ax = fig.axes[0]
    (line,) = ax.lines
    assert list(line.get_ydata()) == [2.0, 4.0] and "(3 runs)" in line.get_label()
    (band,) = ax.collections
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == 1.0 and ys.max() == 9.0
    with pytest.raises(ValueError, match="must be a list of equally long runs"):
        plots.bands({"bad": [1.0, 2.0]})


def test_limit_y_marks_points_beyond_the_range():
    fig = plots.curves({"wild": [1.0, 5.0, 1e9], "calm": [1.0, 0.9, 0.8]}, log=True)
    plots.reference(fig, 0.5, "level")
    ax = _render(plots.limit_y(fig, top=100)).axes[0]
    assert ax.get_ylim()[1] == 100 and 0 < ax.get_ylim()[0] < 0.8
    marks = [line for line in ax.lines if line.get_label() == "above the axis"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [3.0]


def test_limit_y_names_marks_above_and_below_the_axis_apart():
    """Lesson 06's loss figure: run B leaves by the top, run C by the bottom. Each kind of
    mark is named once in the legend (one name for both showed only the top's marker)."""
    fig = plots.curves({"B": [1.0, 1e9, 1e9], "C": [1.0, 1e-12, 0.5], "D": [1.0, 1e-11]}, log=True)
    ax = _render(plots.limit_y(fig, 1e-9, 1e3)).axes[0]
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert names.count("above the axis") == 1 and names.count("below the axis") == 1, names
    below = [line for line in ax.lines if line.get_marker() == "v"]
    assert sorted(x for line in below for x in line.get_xdata()) == [2.0, 2.0]  # from 1


def test_on_off_map_has_two_colours_and_names_them():
    active = np.zeros((6, 10), dtype=bool)
    active[:4, ::2] = True  # rows 4 and 5: dead units
    fig = plots.on_off_map(active, xlabel="input", ylabel="unit", title="t")
    (ax,) = fig.axes
    image = ax.get_images()[0]
    assert image.cmap.N == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fires (> 0)", "outputs 0"]
    with pytest.raises(ValueError, match="2-D"):
        plots.on_off_map(np.zeros(3, dtype=bool))


@pytest.mark.parametrize("n, outside", [(3, False), (4, False), (5, True), (9, True)])
def test_a_long_legend_goes_beside_the_axes_where_it_hides_no_curve(n, outside):
    series = {f"network {i}": [0.1, 0.2 + 0.05 * i, 0.3 + 0.08 * i] for i in range(n)}
    fig = _render(plots.curves(series, ylabel="accuracy"))
    ax = fig.axes[0]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # the constrained layout places the legend when the figure is drawn
    renderer = canvas.get_renderer()
    box, frame = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert (box.x0 >= frame.x1) == outside, (n, box, frame)
    assert box.x1 <= fig.bbox.x1 + 1, "the legend is cut off at the figure's edge"


def test_no_run_is_drawn_in_the_grey_of_reference_lines():
    from coursekit.plots.style import COLORS

    rgb = [matplotlib.colors.to_rgb(c) for c in COLORS]
    assert all(max(c) - min(c) > 0.2 for c in rgb), "a grey run looks like a guide line"
    assert len(set(COLORS)) == len(COLORS)


def test_a_run_keeps_its_colour_from_figure_to_figure():
    runs = {f"colour run {name}": [1.0, 2.0] for name in "ABCDEF"}
    first = [line.get_color() for line in plots.curves(runs).axes[0].get_lines()]
    # B and D left out, the rest in another order, on another kind of figure
    later = {k: runs[k] for k in ("colour run F", "colour run A", "colour run E")}
    fig = plots.layer_metric(later, "grad_norm")
    drawn = {line.get_label(): line.get_color() for line in fig.axes[0].get_lines()}
    assert drawn["colour run F"] == first[5] and drawn["colour run A"] == first[0], drawn
    assert drawn["colour run E"] == first[4]


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=8, unique=True))
def test_the_curves_of_one_figure_never_share_a_colour(labels):
    colors = style.series_colors(labels)
    assert len(set(colors)) == len(labels)
    assert style.series_colors(labels) == colors  # and they keep them


def test_steps_counted_from_0_say_the_step_diagnose_names():
    fig = plots.curves({"steps": [1.0, 2.0, 3.0, float("nan")]}, xlabel="step", start=0)
    line = fig.axes[0].get_lines()[-1]
    assert list(line.get_xdata()) == [0, 1, 2] and "not finite at 3" in line.get_label()


def test_layer_metric_names_its_axis_in_words_and_labels_a_short_log_range():
    history = {"a": {"l1": 1.5, "l2": 3.0, "l3": 50.0}}  # one and a half decades
    fig = _render(plots.layer_metric(history, "act_std"))
    ax = fig.axes[0]
    assert ax.get_ylabel() == "std of the activations (log)"
    assert ax.get_title() == "std of the activations per layer"
    minor = [t.get_text() for t in ax.yaxis.get_minorticklabels() if t.get_text()]
    assert minor, "a range of under two decades shows labels between its powers of ten"
    linear = _render(plots.layer_metric(history, "dead", log=False))
    assert linear.axes[0].get_ylabel() == "share of dead units"


def test_vectors_names_its_axes():
    fig = _render(plots.vectors({"g": [3.0, 1.0]}, xlabel="g₁", ylabel="g₂"))
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("g₁", "g₂")


def test_a_reference_line_goes_on_the_axes_asked_for_and_over_the_curves():
    from coursekit.train import TrainHistory

    history = TrainHistory([2.3, 2.3], [0.1, 0.1], [2.3, 2.3], [0.1, 0.1])
    fig = plots.reference(plots.training_curves(history), 0.1, "chance: 10 %", axes=1)
    ax = _render(fig).axes[1]
    (line,) = [line for line in ax.lines if line.get_label() == "chance: 10 %"]
    assert line.get_zorder() > max(other.get_zorder() for other in ax.lines if other is not line)
    with pytest.raises(ValueError, match="axes must be"):
        plots.reference(fig, 0.5, "x", axes=5)
