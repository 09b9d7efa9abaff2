"""Inside the network, run by run: activation distributions per layer, the share of
saturated or dead units per layer, and the update : data ratio of every layer over training.

Each figure compares runs (the baseline and its fixes) side by side; layers are coloured
by depth (light = input side, dark = output side) wherever one panel shows many layers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogFormatterSciNotation, LogLocator, MaxNLocator

from coursekit._arrays import to_numpy
from coursekit.monitor import History
from coursekit.plots.style import figure, series_colors

#: The update : data ratio a healthy layer moves by per step (a rule of thumb, not a law).
GUIDE_RATIO = 1e-3


def _depth_colors(n: int) -> list:
    """``n`` colours from light (input side) to dark (output side)."""
    cmap = colormaps["viridis_r"]
    return [cmap(0.15 + 0.8 * i / max(n - 1, 1)) for i in range(n)]


def _panels(n: int, *, ncols: int, width: float, height: float):
    ncols = min(n, ncols)
    nrows = math.ceil(n / ncols)
    fig, axes = figure(nrows, ncols, width=width, height=height)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def _log_ticks(ax, values: np.ndarray) -> None:
    """Minor ticks of a log axis cost half the drawing time: off, unless the values span
    less than two decades, where the major ticks alone would leave one label or none."""
    if values.size and values.max() < 100 * values.min():
        ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(
            LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(math.inf, math.inf))
        )
    else:
        ax.minorticks_off()


def _check_runs(runs: Mapping, what: str) -> None:
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError(f"{what} must be a non-empty dict {{run label: ...}}, got {runs!r}")


def activation_densities(
    runs: Mapping[str, Mapping[str, object]],
    *,
    bins: int = 50,
    ncols: int = 4,
    xlabel: str = "activation value",
    title: str | None = None,
) -> Figure:
    """One panel per run: the distribution of each layer's activation values, one line
    per layer (a normalised histogram), coloured by depth.

    ``runs``: run label -> {layer label: activations (any shape)}, input side first.
    Each panel's bins span its own values, so a sigmoid run (0..1) and a ReLU run keep
    their detail; the y axis is the density (each line integrates to 1). A filled bin
    without a filled neighbour is drawn as a dot (a layer whose values all fall in one bin
    shows as one dot). ``xlabel`` names what is shown (e.g. the pre-activations of a ReLU
    layer).
    """
    _check_runs(runs, "runs")
    fig, axes = _panels(len(runs), ncols=ncols, width=2.6, height=2.2)
    for ax, (label, layers) in zip(axes, runs.items(), strict=False):
        if not isinstance(layers, Mapping) or not layers:
            raise ValueError(f"runs[{label!r}] must be a non-empty dict {{layer: activations}}")
        values = {name: to_numpy(v).astype(float).ravel() for name, v in layers.items()}
        finite = np.concatenate([v[np.isfinite(v)] for v in values.values()])
        if finite.size == 0:
            raise ValueError(f"runs[{label!r}] holds no finite activation")
        low, high = float(finite.min()), float(finite.max())
        if high <= low:  # every value the same: a narrow bin around it
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, bins + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        shown = []
        for color, (name, v) in zip(_depth_colors(len(values)), values.items(), strict=True):
            density, _ = np.histogram(v[np.isfinite(v)], bins=edges, density=True)
            filled = density > 0
            # a filled bin between empty ones draws no line: mark it (a layer whose values
            # all fall in one bin, e.g. a signal faded to 0, would otherwise be invisible)
            alone = filled & ~np.r_[False, filled[:-1]] & ~np.r_[filled[1:], False]
            # empty bins are left out: on a log scale they would draw a line down to -inf
            ax.plot(
                centres,
                np.where(filled, density, np.nan),
                "-",
                lw=1.2,
                color=color,
                label=str(name),
                marker="o",
                ms=3.5,
                markevery=list(alone),
            )
            shown.append(density[filled])
        ax.set_title(str(label), fontsize=9)
        ax.set_yscale("log")
        _log_ticks(ax, np.concatenate(shown))
        ax.tick_params(which="both", labelsize=7)
    # one legend for every panel (the layers are the same), outside the data
    handles, labels = axes[0].get_legend_handles_labels()
    lines = [Line2D([], [], color=h.get_color(), lw=1.2) for h in handles]  # no marker
    fig.legend(lines, labels, loc="outside right center", fontsize=7)
    fig.supxlabel(xlabel, fontsize=9)
    fig.supylabel("density (log)", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def _layer_fractions(history: History, metric: str, step: int | None) -> list[float]:
    values = history.mean_over_steps(metric) if step is None else history.at_step(metric, step)
    return list(values.values())


def unit_states(
    runs: Mapping[str, History],
    *,
    step: int | None = None,
    title: str | None = None,
) -> Figure:
    """Per layer, the share of saturated units (sigmoid, tanh) and of dead units (ReLU
    family), one line per run: left panel saturated, right panel dead.

    ``runs``: label -> a monitor ``History``. ``step``: the recorded step to show
    (default: the mean over all recorded steps). A run appears in the panel whose
    metric applies to it (the monitor gives NaN otherwise); a panel no run fills is left
    out. Layers without an activation (the output layer) are left out.
    """
    _check_runs(runs, "runs")
    for label, history in runs.items():
        if not isinstance(history, History):
            raise ValueError(
                f"runs[{label!r}] must be a monitor History, got {type(history).__name__}"
            )
    panels = [
        ("saturated", "share of saturated units"),
        ("dead", "share of dead units"),
    ]
    filled = []
    for metric, ylabel in panels:
        lines = {}
        for label, history in runs.items():
            values = np.asarray(_layer_fractions(history, metric, step), dtype=float)
            keep = np.isfinite(values)
            if keep.any():
                lines[label] = (np.arange(1, len(values) + 1)[keep], values[keep])
        if lines:
            filled.append((metric, ylabel, lines))
    if not filled:
        raise ValueError("no run has a saturated or dead share: monitor with activations=True")
    fig, axes = figure(1, len(filled), width=4.2 if len(filled) > 1 else 6.0)
    colors = dict(zip(runs, series_colors(runs), strict=True))
    for ax, (metric, ylabel, lines) in zip(axes, filled, strict=True):
        for label, (layers, values) in lines.items():
            ax.plot(layers, values, "o-", ms=3, color=colors[label], label=label)
        ax.set_ylim(-0.02, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="layer (1 = input side)", ylabel=ylabel, title=metric)
        ax.legend(fontsize=8)
    when = "mean over training" if step is None else f"at step {step}"
    fig.suptitle(title or f"saturated and dead units per layer ({when})")
    return fig


def update_ratios(
    runs: History | Mapping[str, History],
    *,
    guide: float = GUIDE_RATIO,
    ncols: int = 4,
    title: str | None = None,
) -> Figure:
    """One panel per run: each layer's update : data ratio ‖ΔW‖ / ‖W‖ over the recorded
    steps, one line per layer coloured by depth, on a log scale shared by all panels,
    with a dashed guide line at ``guide`` (about 1e-3 per step for a layer that learns).

    A layer whose ratio is exactly 0 (its step is below float32's resolution: it does
    not move) is drawn on the bottom edge with ▽ marks: a log scale has no 0.
    """
    if isinstance(runs, History):
        runs = {"": runs}
    _check_runs(runs, "runs")
    if not (isinstance(guide, int | float) and math.isfinite(guide) and guide > 0):
        raise ValueError(f"guide must be a positive number, got {guide!r}")
    series: dict[str, tuple[list[int], dict[str, np.ndarray]]] = {}
    positive = [guide]
    for label, history in runs.items():
        if not isinstance(history, History):
            raise ValueError(
                f"runs[{label!r}] must be a monitor History, got {type(history).__name__}"
            )
        steps = history.steps
        layers = {
            layer: np.asarray(history.series("update_ratio", layer), dtype=float)
            for layer in history.layers
        }
        series[label] = (steps, layers)
        for values in layers.values():
            positive += [v for v in values if math.isfinite(v) and v > 0]
    bottom, top = min(positive) / 3, max(positive) * 3
    fig, axes = _panels(len(runs), ncols=ncols, width=2.8, height=2.4)
    for ax, (label, (steps, layers)) in zip(axes, series.items(), strict=False):
        xs = np.asarray(steps, dtype=float)
        for color, values in zip(_depth_colors(len(layers)), layers.values(), strict=True):
            n = min(len(xs), len(values))
            x, v = xs[:n], values[:n]
            ax.plot(x, np.where(v > 0, v, np.nan), "-", lw=1, color=color)
            zeros = x[v == 0]
            if zeros.size:
                ax.plot(zeros, np.full(zeros.size, bottom), "v", ms=4, mfc="none", color=color)
        ax.axhline(guide, color="0.2", ls="--", lw=1.2)
        ax.set_yscale("log")
        ax.minorticks_off()
        ax.set_ylim(bottom, top)
        ax.set_title(str(label), fontsize=9)
        ax.tick_params(labelsize=7)
    _depth_legend(fig, series, guide)
    fig.supxlabel("training step", fontsize=9)
    fig.supylabel("‖ΔW‖ / ‖W‖ per step (log)", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def _depth_legend(fig: Figure, series: Mapping, guide: float) -> None:
    """Legend entries for the first and last layer colours, the guide and the zero marks."""
    from matplotlib.lines import Line2D

    n = max(len(layers) for _, layers in series.values())
    first, last = _depth_colors(n)[0], _depth_colors(n)[-1]
    handles = [
        Line2D([], [], color=first, label="layer 1 (input side)"),
        Line2D([], [], color=last, label=f"layer {n} (output)"),
        Line2D([], [], color="0.2", ls="--", label=f"guide: {guide:g}"),
        Line2D([], [], color="0.4", marker="v", ls="none", mfc="none", label="0: does not move"),
    ]
    fig.legend(handles=handles, loc="outside right upper", fontsize=7)
