"""An interactive gradient-flow explorer, with a static figure where widgets cannot render."""

from __future__ import annotations

import io
import os

from matplotlib.figure import Figure
from torch import nn

from coursekit import data as data_sets
from coursekit import models, optimizers, plots
from coursekit.monitor import GradientMonitor
from coursekit.progress import in_kernel

ACTIVATION_CHOICES = ("sigmoid", "tanh", "relu", "leaky_relu")
INIT_CHOICES = ("default", "xavier", "he", "normal(1.0)")


def layer_gradients(
    depth: int, activation: str, init: str, lr: float = 0.1, steps: int = 1, seed: int = 0
) -> dict[str, float]:
    """Per-layer gradient norms of a fresh digits MLP after ``steps`` SGD steps.

    One fixed batch of 256 digits; ``{layer name: mean gradient norm}``.
    """
    split = data_sets.digits(seed=seed)
    x, y, _, _ = split.tensors()
    x, y = x[:256], y[:256]
    model = models.mlp(64, 32, depth, 10, activation=activation, init=init, seed=seed)
    opt = optimizers.Optimizer("sgd", model.parameters(), lr=lr)  # no dynamo import
    with GradientMonitor(model) as mon:
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            mon.record()
            opt.step()
    return mon.history.mean_over_steps("grad_norm")


def static_explorer(
    depths=(5, 20), activations=("sigmoid", "relu"), init: str = "default"
) -> Figure:
    """A fixed grid of what the explorer shows: depth × activation, per-layer norms."""
    runs = {
        f"{act}, depth {depth}": layer_gradients(depth, act, init)
        for depth in depths
        for act in activations
    }
    return plots.grad_norms(runs, title=f"gradient norm per layer (init: {init})")


def _widgets_available() -> bool:
    if os.environ.get("NBGRADER_EXECUTION"):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return in_kernel()


def _png(fig: Figure):
    """``fig`` as an IPython PNG image (what the explorer's output shows and saves)."""
    from IPython.display import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return Image(buffer.getvalue(), format="png")


def gradient_explorer(static: bool | None = None):
    """Sliders for depth, activation, initialisation and learning rate → per-layer norms.

    In a live notebook this returns an ipywidgets box that redraws on change.
    Where widgets cannot render (a script, nbgrader, a static HTML view) or
    when ``static=True``, it returns a static Figure of a few settings instead.
    """
    if static or (static is None and not _widgets_available()):
        return static_explorer()
    import ipywidgets as w
    from IPython.display import display

    depth = w.IntSlider(value=10, min=2, max=30, description="depth")
    activation = w.Dropdown(options=ACTIVATION_CHOICES, value="sigmoid", description="activation")
    init = w.Dropdown(options=INIT_CHOICES, value="default", description="init")
    lr = w.FloatLogSlider(value=0.1, base=10, min=-3, max=0, description="lr")
    out = w.Output()

    def redraw(_=None) -> None:
        norms = layer_gradients(depth.value, activation.value, init.value, lr.value, steps=3)
        fig = plots.grad_norms(
            {f"{activation.value}, {init.value}": norms},
            title=f"depth {depth.value}: first/last layer ratio "
            f"{list(norms.values())[0] / list(norms.values())[-1]:.2e}",
        )
        out.clear_output(wait=True)
        with out:  # a PNG, whether or not the kernel runs `%matplotlib inline`
            display(_png(fig))

    for control in (depth, activation, init, lr):
        control.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([depth, lr]), w.HBox([activation, init]), out])
