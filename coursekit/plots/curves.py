"""Curves over steps or epochs: single runs, seeds as bands, training curves, reference lines."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from coursekit.plots.style import figure, legend, series_colors


def _finish_curves(ax, *, log: bool, integer_x: bool, xlabel: str, ylabel: str, title: str) -> None:
    """Scale, labels and legend of a figure of curves (``curves`` and ``bands``)."""
    if log:
        ax.set_yscale("log")
    if integer_x:  # steps or epochs counted from 0
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    legend(ax)


def curves(
    series: Mapping[str, Sequence[float]],
    *,
    x: Sequence[float] | None = None,
    xlabel: str = "epoch",
    ylabel: str = "",
    title: str = "",
    log: bool = False,
    start: int = 1,
) -> Figure:
    """One line per label. Non-finite points are left out (a NaN run simply stops).

    ``start``: the x of each series' first point when ``x`` is not given: 1 counts epochs,
    0 counts steps as the monitor and ``coursekit.diagnose`` do."""
    if not series:
        raise ValueError("series must hold at least one curve")
    fig, (ax,) = figure()
    colors = series_colors(series)
    for i, (label, values) in enumerate(series.items()):
        ys = np.asarray(values, dtype=float)
        xs = np.asarray(x, dtype=float) if x is not None else np.arange(len(ys)) + start
        if len(xs) != len(ys):
            raise ValueError(f"x has {len(xs)} points but series {label!r} has {len(ys)}")
        ok = np.isfinite(ys)
        color = colors[i]
        if not ok.all():  # a run that blew up: say where, and mark it
            first = xs[int(np.argmax(~ok))]
            label = f"{label} (not finite at {first:g})"
            ax.axvline(first, color=color, ls=":", lw=1)
        marker = "o" if len(ys) < 30 else None
        ax.plot(xs[ok], ys[ok], "-", marker=marker, ms=3, color=color, label=label)
    _finish_curves(ax, log=log, integer_x=x is None, xlabel=xlabel, ylabel=ylabel, title=title)
    return fig


def training_curves(histories, *, title: str = "") -> Figure:
    """Loss (left) and accuracy (right) per epoch; train solid, validation dashed.

    ``histories``: a TrainHistory or ``{label: TrainHistory}``.
    """
    if hasattr(histories, "train_loss"):
        histories = {"": histories}
    if not histories:
        raise ValueError("histories must hold at least one run")
    fig, (ax_loss, ax_acc) = figure(1, 2, width=4.2)
    from matplotlib.lines import Line2D

    handles = []
    losses = []
    colors = series_colors(histories)
    for i, (label, h) in enumerate(histories.items()):
        color = colors[i]
        epochs = np.arange(1, h.epochs + 1)
        ax_loss.plot(epochs, h.train_loss, "-", color=color)
        ax_loss.plot(epochs, h.val_loss, "--", color=color)
        ax_acc.plot(epochs, h.train_acc, "-", color=color)
        ax_acc.plot(epochs, h.val_acc, "--", color=color)
        losses += [v for v in h.train_loss + h.val_loss if np.isfinite(v) and v > 0]
        if label:
            handles.append(Line2D([], [], color=color, label=label))
    handles += [
        Line2D([], [], color="0.3", ls="-", label="training"),
        Line2D([], [], color="0.3", ls="--", label="validation"),
    ]
    log = bool(losses) and max(losses) / min(losses) > 30
    if log:
        ax_loss.set_yscale("log")
    ax_loss.set(xlabel="epoch", ylabel="loss (log)" if log else "loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def reference(fig: Figure, y: float, label: str, *, color: str = "0.35", axes: int = 0) -> Figure:
    """Add a dashed horizontal line at ``y`` with a legend entry to the figure's axes number
    ``axes`` (the first by default): the level a sentence cites (a baseline, chance, a rule of
    thumb). Drawn over the curves, so that one lying on it hides neither. Returns the figure."""
    if not (isinstance(y, int | float | np.floating) and math.isfinite(y)):
        raise ValueError(f"y must be a finite number, got {y!r}")
    if not (isinstance(axes, int) and 0 <= axes < len(fig.axes)):
        raise ValueError(f"axes must be the number of one of the figure's {len(fig.axes)} axes")
    ax = fig.axes[axes]
    ax.axhline(float(y), color=color, ls="--", lw=1.2, label=label, zorder=3)
    legend(ax)
    return fig


def bands(
    runs: Mapping[str, Sequence[Sequence[float]]],
    *,
    x: Sequence[float] | None = None,
    xlabel: str = "epoch",
    ylabel: str = "",
    title: str = "",
    log: bool = False,
) -> Figure:
    """Curves of a stochastic result: per label, the median of its runs (e.g. seeds) as a
    line and the range from the lowest to the highest run as a shaded band.

    ``runs``: label -> a list of runs, each a sequence of points (all the same length).
    Non-finite values are left out of the median and the band.
    """
    if not runs:
        raise ValueError("runs must hold at least one label")
    fig, (ax,) = figure()
    colors = series_colors(runs)
    for i, (label, values) in enumerate(runs.items()):
        arr = np.asarray(values, dtype=float)
        if arr.ndim != 2 or arr.shape[0] < 1:
            raise ValueError(
                f"runs[{label!r}] must be a list of equally long runs, got shape {arr.shape}"
            )
        xs = np.asarray(x, dtype=float) if x is not None else np.arange(1, arr.shape[1] + 1)
        if len(xs) != arr.shape[1]:
            raise ValueError(f"x has {len(xs)} points but runs[{label!r}] have {arr.shape[1]}")
        masked = np.where(np.isfinite(arr), arr, np.nan)
        ok = np.isfinite(masked).any(axis=0)
        with np.errstate(all="ignore"):
            middle = np.nanmedian(masked[:, ok], axis=0)
            low, high = np.nanmin(masked[:, ok], axis=0), np.nanmax(masked[:, ok], axis=0)
        color = colors[i]
        n = arr.shape[0]
        marker = "o" if arr.shape[1] < 30 else None
        ax.plot(xs[ok], middle, "-", marker=marker, ms=3, color=color, label=f"{label} ({n} runs)")
        if n > 1:
            ax.fill_between(xs[ok], low, high, color=color, alpha=0.2, lw=0)
    _finish_curves(ax, log=log, integer_x=x is None, xlabel=xlabel, ylabel=ylabel, title=title)
    return fig


def limit_y(fig: Figure, bottom: float | None = None, top: float | None = None) -> Figure:
    """Fix the y range of the figure's first axes, so that one run that blows up does not
    flatten the others; points beyond the range are marked on the edge they left by.
    Returns the figure."""
    ax = fig.axes[0]
    data_lines = [line for line in ax.lines if line.get_transform() == ax.transData]
    ys = np.concatenate([np.asarray(line.get_ydata(), float) for line in data_lines] or [[]])
    inside = ys[np.isfinite(ys)]
    inside = inside[
        (inside <= (top if top is not None else np.inf)) & (inside >= (bottom or -np.inf))
    ]
    if (bottom is None or top is None) and inside.size:
        lo, hi = float(inside.min()), float(inside.max())
        log = ax.get_yscale() == "log"
        if bottom is None:
            bottom = lo / 1.5 if log else lo - 0.05 * ((top if top is not None else hi) - lo)
        if top is None:
            top = hi * 1.5 if log else hi + 0.05 * (hi - bottom)
    ax.set_ylim(bottom, top)
    low, high = ax.get_ylim()
    marked: set[str] = set()  # each kind of mark is named once in the legend
    for line in data_lines:  # reference lines (axhline) are drawn in axes coordinates
        xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        for edge, beyond, marker, name in (
            (high, ys > high, "^", "above the axis"),
            (low, ys < low, "v", "below the axis"),
        ):
            if beyond.any():
                ax.plot(
                    xs[beyond],
                    np.full(int(beyond.sum()), edge),
                    marker,
                    ms=6,
                    mfc="none",
                    color=line.get_color(),
                    clip_on=False,
                    label="_" if name in marked else name,
                )
                marked.add(name)
    if marked or ax.get_legend() is not None:
        legend(ax)
    return fig
