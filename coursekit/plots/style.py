"""The course's figure style: one look for every figure, built without pyplot."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
from matplotlib.figure import Figure

STYLE = {
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "figure.dpi": 90,
}
# no grey: grey is for reference and guide lines (``curves.reference``, chance, 1e-3)
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#e377c2"]
_REMEMBERED: dict[str, str] = {}  # label -> its colour, for every later figure of the kernel
#: from this many entries on, a legend goes beside the axes: inside, it would hide curves
LEGEND_OUTSIDE_FROM = 5


def figure(nrows: int = 1, ncols: int = 1, width: float = 6.0, height: float = 3.6):
    """A styled Figure and its axes array (always 1-D: ``axes[0]`` ... )."""
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(width * ncols if ncols > 1 else width, height * nrows))
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes:  # rc_context does not outlive the call: set the style on the axes
        ax.grid(True, alpha=STYLE["grid.alpha"])
        ax.spines[["top", "right"]].set_visible(False)
    fig.set_layout_engine("constrained")
    return fig, axes


def legend(ax) -> None:
    """The axes' legend: inside, where it hides least, for a few entries; beside the axes
    for ``LEGEND_OUTSIDE_FROM`` or more (the constrained layout makes room for it)."""
    handles, _ = ax.get_legend_handles_labels()
    if len(handles) >= LEGEND_OUTSIDE_FROM:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    else:
        ax.legend()


def series_colors(labels: Sequence[str]) -> list[str]:
    """A colour per label of one figure: the colour the label had in earlier figures (the
    same run keeps its colour from figure to figure, even where others are left out), else
    the first colour no other label of this figure has; labels that repeat COLORS' length
    share colours."""
    labels = list(labels)
    chosen: list[str | None] = [None] * len(labels)
    used: set[str] = set()
    for i, label in enumerate(labels):  # remembered labels first: their colours are reserved
        color = _REMEMBERED.get(label)
        if color is not None and color not in used:
            chosen[i] = color
            used.add(color)
    for i, label in enumerate(labels):
        if chosen[i] is None:
            free = [c for c in COLORS if c not in used]
            chosen[i] = free[0] if free else COLORS[i % len(COLORS)]
            used.add(chosen[i])
            _REMEMBERED.setdefault(label, chosen[i])
    return chosen  # type: ignore[return-value]
