"""Per-layer figures: gradient norms and activation statistics by depth, histograms, maps."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation, MaxNLocator

from coursekit._arrays import to_numpy
from coursekit.monitor import METRICS, History
from coursekit.plots.curves import curves
from coursekit.plots.style import COLORS, figure, legend, series_colors

#: what each of the monitor's metrics is, in words, for an axis
METRIC_LABELS = {
    "grad_norm": "‖∂L/∂W‖",
    "act_mean": "mean of the activations",
    "act_std": "std of the activations",
    "saturated": "share of saturated outputs",
    "dead": "share of dead units",
    "update_ratio": "update : data ratio",
}


def _as_series(data: History | Mapping, metric: str) -> dict[str, list[float]]:
    """label -> per-layer values (input side first)."""
    if isinstance(data, History):
        return {"": list(data.mean_over_steps(metric).values())}
    if isinstance(data, Mapping):
        out = {}
        for label, value in data.items():
            if isinstance(value, History):
                out[str(label)] = list(value.mean_over_steps(metric).values())
            elif isinstance(value, Mapping):
                out[str(label)] = [float(v) for v in value.values()]
            else:
                out[str(label)] = [float(v) for v in value]
        if not out:
            raise ValueError("data must not be empty")
        return out
    raise ValueError(
        f"data must be a monitor History or a dict of them (or of per-layer values), "
        f"got {type(data).__name__}"
    )


def layer_metric(
    data: History | Mapping,
    metric: str = "grad_norm",
    *,
    log: bool = True,
    title: str | None = None,
    ylabel: str | None = None,
) -> Figure:
    """One line per run: ``metric`` of each layer, input layer (1) to output layer.

    On the log scale a layer whose value is 0 is marked on the bottom edge.

    ``data`` is a History (mean over its steps), or ``{label: History}``, or
    ``{label: {layer: value}}`` / ``{label: [values]}`` to compare runs.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    series = _as_series(data, metric)
    fig, (ax,) = figure()
    zeros_marked = False
    colors = series_colors(series)
    for i, (label, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        layers = np.arange(1, len(values) + 1)
        color = colors[i]
        ax.plot(
            layers,
            np.where(values > 0, values, np.nan) if log else values,
            "o-",
            ms=3,
            color=color,
            label=label or None,
        )
        zeros = layers[values <= 0]
        if log and zeros.size:
            # A log scale has no 0 (e.g. the update ratio of weights whose step is below
            # float32's resolution): mark those layers on the bottom edge, rather than let
            # the line plunge out of sight.
            ax.plot(
                zeros,
                np.zeros(zeros.size),
                "v",
                ms=6,
                mfc="none",
                color=color,
                transform=ax.get_xaxis_transform(),
                clip_on=False,
                label="_" if zeros_marked else "0 (off the log scale)",
            )
            zeros_marked = True
    if log:
        ax.set_yscale("log")
        # a range of one or two decades has only a tick label or two: label minor ticks too
        ax.yaxis.set_minor_formatter(
            LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(2, 0.5))
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer (1 = input side)")
    ax.set_ylabel(ylabel or METRIC_LABELS[metric] + (" (log)" if log else ""))
    ax.set_title(title or f"{METRIC_LABELS[metric]} per layer")
    if any(series) or zeros_marked:
        legend(ax)
    return fig


def grad_norms(data: History | Mapping, *, title: str | None = None) -> Figure:
    """Per-layer weight-gradient L2 norms on a log scale (see ``layer_metric``)."""
    return layer_metric(data, "grad_norm", title=title or "gradient norm per layer")


def activation_histograms(
    activations: Mapping[str, np.ndarray], *, bins: int = 40, title: str | None = None
) -> Figure:
    """One histogram per layer of its activation values. ``activations``: name -> array."""
    if not activations:
        raise ValueError("activations must hold at least one layer")
    n = len(activations)
    ncols = min(n, 5)
    nrows = math.ceil(n / ncols)
    fig, axes = figure(nrows, ncols, width=2.4, height=2.2)
    for ax, (name, values) in zip(axes, activations.items(), strict=False):
        arr = to_numpy(values).ravel()
        ax.hist(arr, bins=bins, color=COLORS[0])
        ax.set_title(str(name), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def dead_units(
    series: Mapping[str, Sequence[float]],
    *,
    x: Sequence[float] | None = None,
    xlabel: str = "epoch",
    title: str = "dead ReLU units",
) -> Figure:
    """Share of dead units (0..1) per run, against epochs or another x (e.g. learning rate)."""
    fig = curves(series, x=x, xlabel=xlabel, ylabel="fraction of dead units", title=title)
    fig.axes[0].set_ylim(-0.02, 1.02)
    if x is not None and min(x) > 0 and max(x) / min(x) > 50:
        fig.axes[0].set_xscale("log")
    return fig


def heatmap(
    matrix: np.ndarray,
    *,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    cmap="viridis",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """A matrix as an image with a colour bar (e.g. unit activity: units × inputs).

    ``vmin``/``vmax`` fix the colour scale (e.g. 0 and 1 for on/off maps).
    """
    arr = to_numpy(matrix).astype(float)
    if arr.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {arr.shape}")
    fig, (ax,) = figure()
    image = ax.imshow(arr, aspect="auto", cmap=cmap, interpolation="nearest", vmin=vmin, vmax=vmax)
    ax.grid(False)
    fig.colorbar(image, ax=ax)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return fig


def on_off_map(
    active: np.ndarray,
    *,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    on: str = "fires (> 0)",
    off: str = "outputs 0",
) -> Figure:
    """A boolean matrix (e.g. units × inputs, True where a unit fires) in two colours, with a
    legend naming them: a dead unit is a row of the ``off`` colour."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    arr = to_numpy(active).astype(bool)
    if arr.ndim != 2:
        raise ValueError(f"active must be 2-D, got shape {arr.shape}")
    colours = ["#2b2b2b", "#f5c542"]  # off, on: apart in colour and in lightness
    fig, (ax,) = figure()
    ax.imshow(
        arr, aspect="auto", cmap=ListedColormap(colours), vmin=0, vmax=1, interpolation="nearest"
    )
    ax.grid(False)
    ax.legend(
        handles=[Patch(color=colours[1], label=on), Patch(color=colours[0], label=off)],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
    )
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return fig
