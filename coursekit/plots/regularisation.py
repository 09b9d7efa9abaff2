"""Regularisers side by side: training and validation curves of several seeds on one figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from coursekit.plots.style import figure, series_colors

METRICS = ("acc", "loss")


def _padded(curves: Sequence[Sequence[float]]) -> np.ndarray:
    """Runs of different lengths as one (runs, epochs) array, NaN after each run's end."""
    length = max(len(c) for c in curves)
    out = np.full((len(curves), length), np.nan)
    for i, c in enumerate(curves):
        out[i, : len(c)] = np.asarray(c, dtype=float)
    return out


def _band(ax, values: np.ndarray, color: str, ls: str) -> None:
    """Median of the runs as a line, their range as a shaded band (NaNs left out)."""
    ok = np.isfinite(values).any(axis=0)
    epochs = np.arange(1, values.shape[1] + 1)[ok]
    with np.errstate(all="ignore"):
        middle = np.nanmedian(values[:, ok], axis=0)
        low, high = np.nanmin(values[:, ok], axis=0), np.nanmax(values[:, ok], axis=0)
    ax.plot(epochs, middle, ls, color=color, lw=1.6)
    if values.shape[0] > 1:
        ax.fill_between(epochs, low, high, color=color, alpha=0.18, lw=0)


def regularisers(
    runs: Mapping[str, Sequence],
    *,
    stops: Mapping[str, Sequence[tuple[int, int]]] | None = None,
    metric: str = "acc",
    title: str = "",
) -> Figure:
    """Training (left) and validation (right) ``metric`` per epoch, one colour per label:
    the median of the label's runs (seeds) as a line, their range as a band.

    - runs: label -> a list of TrainHistory (one per seed).
    - stops: label -> per run ``(kept, stopped)``, 0-based epoch indices (early stopping):
      that label's runs are drawn up to ``stopped`` and a marker shows the kept epoch.
    - metric: "acc" or "loss".
    """
    if not runs:
        raise ValueError("runs must hold at least one label")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    stops = dict(stops or {})
    unknown = set(stops) - set(runs)
    if unknown:
        raise ValueError(f"stops names labels that are not in runs: {sorted(unknown)}")
    fig, axes = figure(1, 2, width=4.2)
    handles = []
    colors = series_colors(runs)
    for i, (label, histories) in enumerate(runs.items()):
        if len(histories) == 0:
            raise ValueError(f"runs[{label!r}] holds no run")
        color = colors[i]
        marks = stops.get(label)
        if marks is not None and len(marks) != len(histories):
            raise ValueError(f"stops[{label!r}] needs one (kept, stopped) pair per run")
        for ax, split in zip(axes, ("train", "val"), strict=True):
            curves = [list(getattr(h, f"{split}_{metric}")) for h in histories]
            if marks is not None:
                curves = [c[: stop + 1] for c, (_, stop) in zip(curves, marks, strict=True)]
                kept = [(k + 1, c[k]) for c, (k, _) in zip(curves, marks, strict=True)]
                ax.plot(*zip(*kept, strict=True), "D", color=color, ms=6, mfc="white", mew=1.6)
            _band(ax, _padded(curves), color, "-" if split == "train" else "--")
        n = len(histories)
        handles.append(Line2D([], [], color=color, lw=1.6, label=f"{label} ({n} seeds)"))
    if stops:
        handles.append(
            Line2D([], [], color="0.3", marker="D", mfc="white", ls="", label="kept epoch")
        )
    ylabel = "accuracy" if metric == "acc" else "loss"
    for ax, split in zip(axes, ("training", "validation"), strict=True):
        ax.set(xlabel="epoch", ylabel=ylabel, title=split)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if metric == "acc":
        for ax in axes:
            ax.set_ylim(0, 1.02)
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(len(handles), 3),
        fontsize=8,
        title="line: median of the seeds; band: their range",
        title_fontsize=8,
    )
    if title:
        fig.suptitle(title)
    return fig
