"""The numbers ``diagnose`` looks at: a monitor's history as (steps, layers) arrays,
and ``fit``'s per-step loss and per-epoch metrics, cut to the same window of steps."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from coursekit.monitor import METRICS, GradientMonitor, History


def _empty() -> np.ndarray:
    return np.empty(0)


_DIVERGED = re.compile(r"at epoch (\d+), step (\d+)")


@dataclass
class _Run:
    """One run's numbers, in the window looked at.

    ``steps`` (S,) the recorded step numbers; ``layers`` (L,) input side first;
    ``metric[m]`` (S, L) each of METRICS (NaN where it does not apply).
    ``loss`` (T,) the loss of every training step 0..T-1 (fit's ``step_loss``;
    None without a history), ``nonfinite_step`` the first step whose loss is not
    finite. ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc`` (E,) per epoch
    completed inside the window (empty without a history or validation).
    """

    steps: np.ndarray
    layers: list[str]
    metric: dict[str, np.ndarray]
    loss: np.ndarray | None = None
    nonfinite_step: int | None = None
    train_loss: np.ndarray = field(default_factory=_empty)
    val_loss: np.ndarray = field(default_factory=_empty)
    train_acc: np.ndarray = field(default_factory=_empty)
    val_acc: np.ndarray = field(default_factory=_empty)
    steps_per_epoch: int | None = None


def _history_of(monitor: GradientMonitor | History) -> History:
    if isinstance(monitor, GradientMonitor):
        return monitor.history
    if isinstance(monitor, History):
        return monitor
    raise ValueError(
        "monitor must be a coursekit.monitor.GradientMonitor or its History, "
        f"got {type(monitor).__name__}"
    )


def _steps_per_epoch(history) -> int | None:
    """Training steps per epoch of a ``fit`` history (its batches per epoch)."""
    n = len(history.step_loss)
    epochs = len(history.train_loss)
    if history.diverged:
        found = _DIVERGED.search(history.diverged)
        if found is None or epochs == 0:
            return None
        return (n - int(found.group(2))) // epochs or None
    return n // epochs if epochs else None


def _collect(monitor: GradientMonitor | History, history=None, steps: int | None = None) -> _Run:
    """The run's numbers from its first ``steps`` recorded steps (all when None)."""
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
        raise ValueError(f"steps must be None or a positive integer, got {steps!r}")
    rows = _history_of(monitor).rows
    if not rows:
        raise ValueError("the monitor has recorded nothing: call record() after backward()")
    index = {}
    for row in rows:
        index.setdefault(row["layer"], row["index"])
    layers = sorted(index, key=index.__getitem__)
    column = {name: j for j, name in enumerate(layers)}
    recorded = sorted({row["step"] for row in rows})[:steps]
    position = {step: i for i, step in enumerate(recorded)}
    metric = {m: np.full((len(recorded), len(layers)), np.nan) for m in METRICS}
    for row in rows:
        i = position.get(row["step"])
        if i is not None:
            j = column[row["layer"]]
            for m in METRICS:
                metric[m][i, j] = row[m]
    run = _Run(np.asarray(recorded), layers, metric)
    if history is not None:
        _add_history(run, history)
    return run


def _add_history(run: _Run, history) -> None:
    """``fit``'s losses up to one step past the last recorded one (its update's result)."""
    for name in ("step_loss", "train_loss", "val_loss"):
        if not hasattr(history, name):
            raise ValueError(
                f"history must be what coursekit.train.fit returns, got {type(history).__name__}"
            )
    end = int(run.steps[-1]) + 2
    loss = np.asarray(history.step_loss[:end], dtype=float)
    run.loss = loss
    bad = np.flatnonzero(~np.isfinite(loss))
    run.nonfinite_step = int(bad[0]) if bad.size else None
    per_epoch = _steps_per_epoch(history)
    run.steps_per_epoch = per_epoch
    if per_epoch:
        epochs = min(len(history.train_loss), math.floor(end / per_epoch))
        run.train_loss = np.asarray(history.train_loss[:epochs], dtype=float)
        run.val_loss = np.asarray(history.val_loss[:epochs], dtype=float)
        run.train_acc = np.asarray(history.train_acc[:epochs], dtype=float)
        run.val_acc = np.asarray(history.val_acc[:epochs], dtype=float)
