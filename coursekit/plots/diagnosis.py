"""``diagnosis``: one figure of what ``coursekit.diagnose`` looked at, and its verdict."""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from coursekit.plots.style import COLORS, figure


def _finite(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def _alone(ys: np.ndarray) -> np.ndarray:
    """Where a finite value has no finite neighbour: a line would not show it."""
    shown = np.isfinite(ys)
    before = np.concatenate(([False], shown[:-1]))
    after = np.concatenate((shown[1:], [False]))
    return shown & ~before & ~after


def diagnosis(found, history=None, *, steps: int | None = None, title: str | None = None) -> Figure:
    """Four panels over the recorded steps, the verdict as the title, each finding's
    start marked: gradient norm per layer, the loss (or, without ``history``, the
    update:data ratio's range), update:data per layer with the 1e-3 guide, and the
    dead (ReLU) or saturated (sigmoid/tanh) share per layer.

    ``found``: a ``Diagnosis``, or a ``GradientMonitor`` / ``History`` to diagnose
    here (with ``history`` and ``steps`` as ``coursekit.diagnose`` takes them).
    """
    from coursekit.diagnosis import Diagnosis, diagnose

    if not isinstance(found, Diagnosis):
        found = diagnose(found, history, steps=steps)
    run = found._run
    if run is None:
        raise ValueError(
            "this Diagnosis holds no recorded numbers: make it with coursekit.diagnose"
        )
    fig, axes = figure(2, 2, width=4.6, height=3.0)
    x = run.steps
    colors = colormaps["viridis"](np.linspace(0, 0.9, len(run.layers)))

    def per_layer(ax, metric: str, ylabel: str, log: bool) -> None:
        values = run.metric[metric]
        drawn = [j for j in range(len(run.layers)) if np.isfinite(values[:, j]).any()]
        ends = (drawn[0], drawn[-1]) if drawn else ()  # the legend names the first and last
        positive = values[np.isfinite(values) & (values > 0)]
        # a log scale has no 0: a layer at exactly 0 (no gradient, no update) sits on the
        # bottom edge as ▽ marks instead of vanishing from the panel
        bottom = positive.min() / 3 if log and positive.size else None
        zero_label = "exactly 0 (▽ on the edge)"
        for j, name in enumerate(run.layers):
            ys = _finite(values[:, j]) if log else values[:, j]
            if np.isfinite(ys).any():
                ax.plot(x, ys, color=colors[j], lw=1, label=name if j in ends else None)
                alone = _alone(ys)
                if alone.any():  # a step between two gaps: a dot, or it would not show
                    ax.plot(np.asarray(x)[alone], ys[alone], ".", ms=4, color=colors[j])
            zeros = np.asarray(x)[values[:, j] == 0] if bottom is not None else []
            if len(zeros):
                edge = np.full(len(zeros), bottom)
                ax.plot(zeros, edge, "v", ms=3, mfc="none", color=colors[j], label=zero_label)
                zero_label = None  # one legend entry for all layers
        if log:
            ax.set_yscale("log")
            if bottom is not None:
                ax.set_ylim(bottom=bottom / 1.5)
        ax.set(xlabel="step", ylabel=ylabel)

    ax_grad, ax_loss, ax_update, ax_units = axes
    per_layer(ax_grad, "grad_norm", "gradient norm per layer", log=True)
    ax_grad.legend(title="input side → output", fontsize=7, title_fontsize=7)
    per_layer(ax_update, "update_ratio", "update : data per layer", log=True)
    ax_update.axhline(1e-3, color="0.35", ls="--", lw=1, label="1e-3 guide")
    ax_update.legend(title="input side → output", fontsize=7, title_fontsize=7)

    if run.loss is not None:
        steps_all = np.arange(len(run.loss))
        ax_loss.plot(steps_all, _finite(run.loss), color=COLORS[0], lw=1, label="loss per step")
        if run.nonfinite_step is not None:
            ax_loss.axvline(run.nonfinite_step, color=COLORS[1], ls=":", label="loss not finite")
        ax_loss.set_yscale("log")
        ax_loss.set(xlabel="step", ylabel="training loss")
        ax_loss.legend(fontsize=7)
    else:
        ax_loss.text(
            0.5,
            0.5,
            "no training history given",
            ha="center",
            va="center",
            transform=ax_loss.transAxes,
            color="0.4",
        )
        ax_loss.set_axis_off()

    units = "dead" if np.isfinite(run.metric["dead"]).any() else "saturated"
    per_layer(ax_units, units, f"{units} share per layer", log=False)
    ax_units.set_ylim(-0.03, 1.5)  # headroom above 1 for the legend, off the lines
    ax_units.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])

    for i, finding in enumerate(found.findings):
        if finding.step is None:
            continue
        for ax in (ax_grad, ax_update, ax_units):
            label = f"{finding.kind} from step {finding.step}" if ax is ax_units else None
            ax.axvline(finding.step, color=COLORS[(i + 1) % len(COLORS)], ls=":", lw=1, label=label)
    ax_units.legend(
        title="input side → output", fontsize=7, title_fontsize=7, loc="upper center", ncols=2
    )
    if title is None:
        title = f"diagnosis: {found.top}"
        if found.findings:
            title += f" — {found.findings[0].evidence}"
    fig.suptitle(textwrap.fill(title, width=110), fontsize=10)  # whole, on two lines if long
    return fig
