"""The monitor's records: one ``_Step`` per recorded step, read as the
rows of a ``History``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coursekit.monitor.activations import _ActivationGroup, _Sums

METRICS = ("grad_norm", "act_mean", "act_std", "saturated", "dead", "update_ratio")


def _ratio(change: float, size: float) -> float:
    return change / size if size > 0 else math.nan


@dataclass
class _Step:
    """One recorded step, as ``record()`` computed it (Python floats per layer, and
    the activation groups' raw sums).

    ``grad_norms`` and ``weight_norms``: ‖grad‖ and ‖W‖ per layer (a layer in
    ``missing`` had no gradient); ``activations`` holds (group, its raw sums) per
    group of same-shaped activation outputs; ``changes`` is ‖ΔW‖ per layer over
    the optimizer step that followed, set one call later.
    """

    step: int
    names: list[str]
    grad_norms: list[float]
    weight_norms: list[float]
    missing: list[int]
    activations: list[tuple[_ActivationGroup, _Sums]]
    changes: list[float] | None = None

    def to_rows(self) -> list[dict]:
        n = len(self.names)
        grad_norms, weight_norms = list(self.grad_norms), self.weight_norms
        for i in self.missing:
            grad_norms[i] = math.nan
        stats: list[tuple[float, ...]] = [(math.nan,) * 4] * n
        for group, sums in self.activations:
            for i, layer in zip(group.rows, group.scaled(sums), strict=True):
                stats[i] = layer
        changes = [math.nan] * n if self.changes is None else self.changes
        return [
            {
                "step": self.step,
                "layer": name,
                "index": i,
                "grad_norm": grad_norms[i],
                "act_mean": stats[i][0],
                "act_std": stats[i][1],
                "saturated": stats[i][2],
                "dead": stats[i][3],
                "update_ratio": _ratio(changes[i], weight_norms[i]),
            }
            for i, name in enumerate(self.names)
        ]


class History:
    """A tidy table: one row per recorded step × layer.

    Columns: ``step``, ``layer`` (module name), ``index`` (0 = input side), and
    the metrics ``grad_norm`` (L2 norm of the weight's gradient), ``act_mean``,
    ``act_std`` (of the layer's activation output), ``saturated`` (share of
    sigmoid/tanh outputs whose derivative is below 10 % of its maximum),
    ``dead`` (share of ReLU-family units that are <= 0 for every input of the
    batch) and ``update_ratio`` (‖ΔW‖ / ‖W‖ of the optimizer step that
    followed). A metric that does not apply is NaN.

    The monitor appends each step's numbers as tensors (``_Step``); they become
    rows only when the history is read, so recording never waits on Python
    bookkeeping.
    """

    def __init__(self, rows: Iterable[dict] = ()):
        self._rows: list[dict] = list(rows)
        self._steps: list[_Step] = []  # recorded, not yet turned into rows
        # The newest step's rows when they were read before its update ratio was known.
        self._open_rows: list[dict] = []
        self._open_weight_norms: list[float] = []

    def _append(self, step: _Step) -> None:
        self._steps.append(step)
        self._open_rows, self._open_weight_norms = [], []

    def _set_changes(self, changes: list[float]) -> None:
        """The newest step's ‖ΔW‖ per layer, known one call after it."""
        if self._steps:
            self._steps[-1].changes = changes
        else:
            for row, change, size in zip(
                self._open_rows, changes, self._open_weight_norms, strict=True
            ):
                row["update_ratio"] = _ratio(change, size)
        self._open_rows, self._open_weight_norms = [], []

    @property
    def rows(self) -> list[dict]:
        """Every row as a dict, in recording order."""
        if self._steps:
            for step in self._steps:
                self._rows.extend(step.to_rows())
            last = self._steps[-1]
            if last.changes is None:  # its update ratio arrives with the next record()
                self._open_rows = self._rows[-len(last.names) :]
                self._open_weight_norms = last.weight_norms
            self._steps = []
        return self._rows

    def __len__(self) -> int:
        return len(self._rows) + sum(len(step.names) for step in self._steps)

    @property
    def layers(self) -> list[str]:
        """Layer names, input side first."""
        seen: dict[str, int] = {}
        for row in self.rows:
            seen.setdefault(row["layer"], row["index"])
        return sorted(seen, key=seen.__getitem__)

    @property
    def steps(self) -> list[int]:
        return sorted({row["step"] for row in self.rows})

    def _check_metric(self, metric: str) -> None:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")

    def series(self, metric: str, layer: str) -> list[float]:
        """``metric`` of ``layer`` at every recorded step, in order."""
        self._check_metric(metric)
        if layer not in self.layers:
            raise ValueError(f"layer must be one of {self.layers}, got {layer!r}")
        return [row[metric] for row in self.rows if row["layer"] == layer]

    def at_step(self, metric: str, step: int | None = None) -> dict[str, float]:
        """``{layer: metric}`` at ``step`` (default: the last step), input side first."""
        self._check_metric(metric)
        if not self.rows:
            raise ValueError("the history is empty: call record() after backward()")
        step = self.steps[-1] if step is None else step
        found = {row["layer"]: row[metric] for row in self.rows if row["step"] == step}
        if not found:
            raise ValueError(f"step must be one of the recorded steps {self.steps}, got {step}")
        return {layer: found[layer] for layer in self.layers if layer in found}

    def mean_over_steps(self, metric: str) -> dict[str, float]:
        """``{layer: mean of metric over all steps}`` (NaN and inf ignored)."""
        self._check_metric(metric)
        out = {}
        for layer in self.layers:
            values = [v for v in self.series(metric, layer) if math.isfinite(v)]
            out[layer] = sum(values) / len(values) if values else math.nan
        return out

    def to_pandas(self):
        """The rows as a pandas DataFrame (pandas must be installed)."""
        import pandas as pd

        return pd.DataFrame(self.rows)
