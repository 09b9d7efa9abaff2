"""The course's figures, in one style. Every function returns its Figure.

Figures are built without pyplot, so a figure shows exactly once in a
notebook (when returned from a cell) and everything works under Agg.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from coursekit._arrays import to_numpy
from coursekit.monitor import METRICS, History

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
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"]


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
    for i, (label, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        layers = np.arange(1, len(values) + 1)
        color = COLORS[i % len(COLORS)]
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
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer (1 = input side)")
    ax.set_ylabel(ylabel or metric.replace("_", " "))
    ax.set_title(title or f"{metric.replace('_', ' ')} per layer")
    if any(series) or zeros_marked:
        ax.legend()
    return fig


def grad_norms(data: History | Mapping, *, title: str | None = None) -> Figure:
    """Per-layer weight-gradient L2 norms on a log scale (see ``layer_metric``)."""
    return layer_metric(
        data, "grad_norm", title=title or "gradient norm per layer", ylabel="‖∂L/∂W‖ (log)"
    )


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


def _finish_curves(ax, *, log: bool, integer_x: bool, xlabel: str, ylabel: str, title: str) -> None:
    """Scale, labels and legend of a figure of curves (``curves`` and ``bands``)."""
    if log:
        ax.set_yscale("log")
    if integer_x:  # steps or epochs counted from 0
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend()


def curves(
    series: Mapping[str, Sequence[float]],
    *,
    x: Sequence[float] | None = None,
    xlabel: str = "epoch",
    ylabel: str = "",
    title: str = "",
    log: bool = False,
) -> Figure:
    """One line per label. Non-finite points are left out (a NaN run simply stops)."""
    if not series:
        raise ValueError("series must hold at least one curve")
    fig, (ax,) = figure()
    for i, (label, values) in enumerate(series.items()):
        ys = np.asarray(values, dtype=float)
        xs = np.asarray(x, dtype=float) if x is not None else np.arange(1, len(ys) + 1)
        if len(xs) != len(ys):
            raise ValueError(f"x has {len(xs)} points but series {label!r} has {len(ys)}")
        ok = np.isfinite(ys)
        color = COLORS[i % len(COLORS)]
        if not ok.all():  # a run that blew up: say where, and mark it
            first = xs[int(np.argmax(~ok))]
            label = f"{label} (not finite at {first:g})"
            ax.axvline(first, color=color, ls=":", lw=1)
        marker = "o" if len(ys) < 30 else None
        ax.plot(xs[ok], ys[ok], "-", marker=marker, ms=3, color=color, label=label)
    _finish_curves(ax, log=log, integer_x=x is None, xlabel=xlabel, ylabel=ylabel, title=title)
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
    for i, (label, h) in enumerate(histories.items()):
        color = COLORS[i % len(COLORS)]
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
    if losses and max(losses) / min(losses) > 30:
        ax_loss.set_yscale("log")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    if title:
        fig.suptitle(title)
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


def decision_boundary(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    *,
    resolution: int = 200,
    title: str = "decision boundary",
) -> Figure:
    """Regions a classifier assigns to each class, with the points on top.

    - predict: maps points (M, 2) to class scores (M, C) or labels (M,); a torch
      module is called on a float32 tensor.
    - x: (N, 2) points; y: (N,) labels.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (N, 2), got {x.shape}")
    pad = 0.5
    (x0, y0), (x1, y1) = x.min(0) - pad, x.max(0) + pad
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    if hasattr(predict, "parameters"):  # a torch module
        import torch

        with torch.no_grad():
            scores = predict(torch.as_tensor(grid, dtype=torch.float32)).numpy()
    else:
        scores = np.asarray(predict(grid))
    labels = scores.argmax(1) if scores.ndim == 2 else scores
    fig, (ax,) = figure(width=5, height=4.4)
    ax.contourf(gx, gy, labels.reshape(gx.shape), alpha=0.25, cmap="tab10", vmin=0, vmax=9)
    ax.scatter(
        x[:, 0], x[:, 1], c=y, cmap="tab10", vmin=0, vmax=9, s=10, edgecolors="k", linewidths=0.3
    )
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$")
    ax.grid(False)
    return fig


BINARY_OPS = ("+", "*")


def _uses(node) -> int:
    """How many times the node's input is used by its operation (micrograd's ``_prev`` is
    a set, so ``a + a`` lists ``a`` once: a binary operation with one input used it twice)."""
    return 2 if getattr(node, "_op", "") in BINARY_OPS and len(node._prev) == 1 else 1


def expression_graph(root, *, title: str = "") -> Figure:
    """Draw a scalar autograd graph: each node with its data and grad.

    ``root`` is any object with the micrograd interface: ``data``, ``grad``,
    ``_prev`` (its inputs) and ``_op`` (the operation that made it), and
    optionally ``label``. An input used twice by one operation (``b = a + a``) is drawn
    with two arrows, one per use.
    """
    for attr in ("data", "grad", "_prev"):
        if not hasattr(root, attr):
            raise ValueError(f"root must have a .{attr} attribute (a Value), got {type(root)}")
    # depth = longest path to the root, so inputs sit on the left and the output on the right
    depth: dict[int, int] = {id(root): 0}
    nodes = {id(root): root}
    stack = [root]
    while stack:
        node = stack.pop()
        for child in node._prev:
            d = depth[id(node)] + 1
            if depth.get(id(child), -1) < d:
                depth[id(child)] = d
                nodes[id(child)] = child
                stack.append(child)
    max_depth = max(depth.values())
    columns: dict[int, list[int]] = {}
    for key, d in depth.items():
        columns.setdefault(max_depth - d, []).append(key)
    consumers: dict[int, list[int]] = {}
    for key, node in nodes.items():
        for child in node._prev:
            consumers.setdefault(id(child), []).append(key)
    # Place the output column first, then each column to its left ordered by the
    # mean height of the nodes it feeds: few crossing edges.
    pos: dict[int, tuple[float, float]] = {}
    for col in sorted(columns, reverse=True):

        def height(key: int) -> float:
            ys = [pos[c][1] for c in consumers.get(key, []) if c in pos]
            return sum(ys) / len(ys) if ys else 0.0

        keys = sorted(columns[col], key=lambda k: (height(k), str(getattr(nodes[k], "label", ""))))
        for row, key in enumerate(keys):
            pos[key] = (col, row - (len(keys) - 1) / 2)
    fig, (ax,) = figure(
        width=max(4.0, 2.2 * (max_depth + 1)),
        height=max(2.4, 1.1 * max(len(k) for k in columns.values())),
    )
    for key, node in nodes.items():
        for child in node._prev:
            (x0, y0), (x1, y1) = pos[id(child)], pos[key]
            uses = _uses(node)
            for k in range(uses):  # one arrow per use: b = a + a has two arrows from a
                bend = 0.0 if uses == 1 else 0.35 * (2 * k / (uses - 1) - 1)
                ax.annotate(
                    "",
                    (x1 - 0.28, y1),
                    (x0 + 0.28, y0),
                    arrowprops={
                        "arrowstyle": "->",
                        "color": "0.5",
                        "connectionstyle": f"arc3,rad={bend}",
                    },
                )
        x, y = pos[key]
        op = getattr(node, "_op", "")
        label = getattr(node, "label", "")
        text = (f"{label}  " if label else "") + (f"[{op}]\n" if op else "\n")
        text += f"data {node.data:.4g}\ngrad {node.grad:.4g}"
        ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=8,
            family="monospace",
            bbox={"boxstyle": "round", "fc": "#eef3fb", "ec": COLORS[0]},
        )
    ax.set_xlim(-0.6, max_depth + 0.6)
    ys = [p[1] for p in pos.values()]
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.axis("off")
    ax.set_title(title or "expression graph (inputs left, output right)")
    return fig


def vectors(
    arrows: Mapping[str, Sequence[float]], *, title: str = "", circle: float | None = None
) -> Figure:
    """2-D vectors drawn as arrows from the origin, e.g. a gradient before and after clipping.

    ``arrows``: label -> (x, y). ``circle``: draw a circle of that radius (a norm bound).
    """
    if not arrows:
        raise ValueError("arrows must hold at least one vector")
    fig, (ax,) = figure(width=4.6, height=4.6)
    extent = 0.0
    for i, (label, vec) in enumerate(arrows.items()):
        x, y = (float(v) for v in to_numpy(vec).ravel()[:2])
        color = COLORS[i % len(COLORS)]
        ax.annotate("", (x, y), (0, 0), arrowprops={"arrowstyle": "->", "color": color, "lw": 2})
        ax.plot([], [], color=color, lw=2, label=f"{label} ({x:.2f}, {y:.2f})")
        extent = max(extent, abs(x), abs(y))
    if circle is not None:
        t = np.linspace(0, 2 * np.pi, 200)
        label = f"norm = {circle:g}"
        ax.plot(circle * np.cos(t), circle * np.sin(t), ":", color="0.5", label=label)
        extent = max(extent, circle)
    lim = 1.15 * extent or 1.0
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=title)
    ax.axhline(0, color="0.8", lw=0.8)
    ax.axvline(0, color="0.8", lw=0.8)
    ax.legend(loc="lower left", fontsize=8)
    return fig


def reference(fig: Figure, y: float, label: str, *, color: str = "0.35") -> Figure:
    """Add a dashed horizontal line at ``y`` with a legend entry to the figure's first axes:
    the level a sentence cites (a baseline, a rule of thumb). Returns the figure."""
    if not (isinstance(y, int | float | np.floating) and math.isfinite(y)):
        raise ValueError(f"y must be a finite number, got {y!r}")
    ax = fig.axes[0]
    ax.axhline(float(y), color=color, ls="--", lw=1.2, label=label, zorder=1)
    ax.legend()
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
        color = COLORS[i % len(COLORS)]
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
    marked = False
    for line in data_lines:  # reference lines (axhline) are drawn in axes coordinates
        xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        for edge, beyond, marker in ((high, ys > high, "^"), (low, ys < low, "v")):
            if beyond.any():
                ax.plot(
                    xs[beyond],
                    np.full(int(beyond.sum()), edge),
                    marker,
                    ms=6,
                    mfc="none",
                    color=line.get_color(),
                    clip_on=False,
                    label="_" if marked else "beyond the axis",
                )
                marked = True
    if marked or ax.get_legend() is not None:
        ax.legend()
    return fig
