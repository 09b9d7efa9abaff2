"""coursekit.plots.regularisers: seeds as bands, early stopping drawn up to its stop."""

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from coursekit import plots
from coursekit.train import TrainHistory


def _render(fig):
    assert isinstance(fig, Figure)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")
    return fig


def _history(level: float, n: int = 12) -> TrainHistory:
    ramp = list(np.linspace(0.2, level, n))
    return TrainHistory(train_loss=ramp, train_acc=ramp, val_loss=ramp, val_acc=ramp)


def test_one_band_per_label_on_both_panels():
    runs = {"none": [_history(0.9), _history(1.0)], "decay": [_history(0.7), _history(0.8)]}
    fig = _render(plots.regularisers(runs, title="t"))
    train_ax, val_ax = fig.axes
    for ax in (train_ax, val_ax):
        medians = [line for line in ax.lines if len(line.get_xdata()) == 12]
        assert len(medians) == 2
        assert np.isclose(medians[0].get_ydata()[-1], 0.95)  # the median of 0.9 and 1.0
        assert len(ax.collections) == 2  # one range band per label
    assert val_ax.get_lines()[0].get_linestyle() == "--"
    assert train_ax.get_ylim() == (0, 1.02)


def test_early_stopping_is_drawn_up_to_its_stop_and_marks_the_kept_epoch():
    runs = {"stopped": [_history(1.0), _history(1.0)]}
    fig = _render(plots.regularisers(runs, stops={"stopped": [(2, 5), (3, 7)]}))
    ax = fig.axes[1]
    markers = [line for line in ax.lines if line.get_marker() == "D"]
    assert list(markers[0].get_xdata()) == [3, 4]  # kept epochs, counted from 1
    median = next(line for line in ax.lines if line.get_marker() != "D")
    assert median.get_xdata()[-1] == 8  # the longest run stops after epoch 8
    legend = fig.legends[0]
    assert "kept epoch" in [t.get_text() for t in legend.get_texts()]


def test_loss_metric_has_no_fixed_range():
    fig = _render(plots.regularisers({"a": [_history(3.0)]}, metric="loss"))
    assert fig.axes[0].get_ylabel() == "loss"
    assert fig.axes[0].get_ylim()[1] > 2.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"runs": {}}, "at least one label"),
        ({"runs": {"a": []}}, "holds no run"),
        ({"runs": {"a": [_history(1.0)]}, "metric": "f1"}, "metric must be one of"),
        ({"runs": {"a": [_history(1.0)]}, "stops": {"b": [(0, 1)]}}, "not in runs"),
        ({"runs": {"a": [_history(1.0)]}, "stops": {"a": []}}, "one \\(kept, stopped\\) pair"),
    ],
)
def test_bad_arguments(kwargs, message):
    runs = kwargs.pop("runs")
    with pytest.raises(ValueError, match=message):
        plots.regularisers(runs, **kwargs)
