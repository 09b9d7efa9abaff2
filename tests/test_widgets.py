"""coursekit.widgets: the explorer's numbers, and its static fallback."""

from matplotlib.figure import Figure

from coursekit import widgets


def test_layer_gradients_vanish_for_deep_sigmoid():
    norms = list(widgets.layer_gradients(depth=12, activation="sigmoid", init="default").values())
    assert len(norms) == 13
    assert norms[0] < 1e-4 * norms[-1]
    relu = list(widgets.layer_gradients(depth=12, activation="relu", init="he").values())
    assert relu[0] > 1e-3 * relu[-1]


def test_outside_a_kernel_the_explorer_is_a_static_figure():
    fig = widgets.gradient_explorer()
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].lines) == 4
