"""Figures of the mechanism: decision boundaries, expression graphs, vectors."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from coursekit._arrays import to_numpy
from coursekit.plots.style import COLORS, figure, series_colors


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
    arrows: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    circle: float | None = None,
    xlabel: str = "first entry",
    ylabel: str = "second entry",
) -> Figure:
    """2-D vectors drawn as arrows from the origin, e.g. a gradient before and after clipping.

    ``arrows``: label -> (x, y). ``circle``: draw a circle of that radius (a norm bound).
    ``xlabel``/``ylabel`` name the two entries (e.g. "g₁", "g₂").
    """
    if not arrows:
        raise ValueError("arrows must hold at least one vector")
    fig, (ax,) = figure(width=4.6, height=4.6)
    extent = 0.0
    colors = series_colors(arrows)
    for i, (label, vec) in enumerate(arrows.items()):
        x, y = (float(v) for v in to_numpy(vec).ravel()[:2])
        color = colors[i]
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
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.axhline(0, color="0.8", lw=0.8)
    ax.axvline(0, color="0.8", lw=0.8)
    ax.legend(loc="lower left", fontsize=8)
    return fig
