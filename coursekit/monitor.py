"""Per-layer gradient and activation monitoring of a PyTorch model.

    with monitor.GradientMonitor(model) as mon:
        for x, y in batches:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            mon.record()          # after backward(), before optimizer.step()
            optimizer.step()
    plots.grad_norms(mon.history)

A *layer* is every module with a 2-D ``weight`` (Linear, and the RNN's
matrices), in the order the model registers them: input side first. The
activation module that follows a layer (ReLU, Sigmoid, ...) is paired with it
for the activation statistics; its output is kept by a tap on its ``forward``
(``_OutputTap``), which does what a forward hook does at a fifth of the cost.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from coursekit.models import ACTIVATIONS

METRICS = ("grad_norm", "act_mean", "act_std", "saturated", "dead", "update_ratio")
_ACTIVATION_TYPES = tuple(ACTIVATIONS.values())
_RELU_TYPES = (nn.ReLU, nn.LeakyReLU, nn.ELU)


def _ratio(change: float, size: float) -> float:
    return change / size if size > 0 else math.nan


@dataclass
class _Step:
    """One recorded step, as the tensors ``record()`` computed (no host sync).

    ``grad_norms`` and ``weight_norms`` are (layers,): ‖grad‖ and ‖W‖ per layer (a
    layer in ``missing`` had no gradient); ``activations`` holds (group, its raw
    sums) per group of same-shaped activation outputs; ``changes`` is
    ‖ΔW‖ per layer over the optimizer step that followed, set one call later.
    """

    step: int
    names: list[str]
    grad_norms: torch.Tensor
    weight_norms: torch.Tensor
    missing: list[int]
    activations: list[tuple[_ActivationGroup, _Sums]]
    changes: torch.Tensor | None = None

    def to_rows(self) -> list[dict]:
        n = len(self.names)
        grad_norms, weight_norms = self.grad_norms.tolist(), self.weight_norms.tolist()
        for i in self.missing:
            grad_norms[i] = math.nan
        stats: list[tuple[float, ...]] = [(math.nan,) * 4] * n
        for group, sums in self.activations:
            for i, layer in zip(group.rows, group.scaled(sums), strict=True):
                stats[i] = layer
        changes = [math.nan] * n if self.changes is None else self.changes.tolist()
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

    def _set_changes(self, changes: torch.Tensor) -> None:
        """The newest step's ‖ΔW‖ per layer, (layers,), known one call after it."""
        if self._steps:
            self._steps[-1].changes = changes
        else:
            values = changes.tolist()
            for row, change, size in zip(
                self._open_rows, values, self._open_weight_norms, strict=True
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
                self._open_weight_norms = last.weight_norms.tolist()
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


_Sums = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]  # Σx, ‖x - mean‖, count


class _ActivationGroup:
    """Same-shaped outputs of one kind of activation, summarised together.

    Stacked so that a whole group costs a handful of tensor ops, not a dozen per
    layer: the monitor must stay cheap on small, deep models. The stacking target
    and temporaries, (2, layers, *shape), are made once and reused: a fresh
    allocation of that size costs page faults on every step.
    """

    def __init__(self, rows: list[int], act: nn.Module, shape: torch.Size, dtype: torch.dtype):
        self.rows = rows
        if isinstance(act, nn.Sigmoid):
            self.kind = "sigmoid"
        elif isinstance(act, nn.Tanh):
            self.kind = "tanh"
        elif isinstance(act, _RELU_TYPES):
            self.kind = "relu"
        else:
            self.kind = "other"
        n_layers = len(rows)
        self._scratch = torch.empty(2, n_layers, *shape, dtype=dtype)
        self._stacked = self._scratch[0]
        self._x = self._stacked.view(n_layers, shape[0], -1)  # (layers, N, units)
        self._flat = self._stacked.view(n_layers, -1)
        self._tmp = self._scratch[1].view(n_layers, -1)
        self.count = self._flat.shape[1]  # values per layer
        self.units = self._x.shape[2]

    def sums(self, outs: list[torch.Tensor]) -> _Sums:
        """(layers,) tensors Σx and ‖x - mean‖, and the count of saturated values
        (sigmoid, tanh) or of alive units (ReLU family), else None. ``scale`` turns
        one layer's sums into statistics.

        Raw sums, because dividing is left to when the rows are read: at this size
        every tensor op costs about as much in dispatch as in arithmetic. Only the
        reused scratch is written: a fresh temporary this large (e.g. what a float64
        reduction makes) costs page faults on every step.
        """
        flat, tmp = self._flat, self._tmp
        torch.stack(outs, out=self._stacked)
        total = flat.sum(1)
        # ‖x - mean‖ in two passes: torch.std_mean is exact too, but ten times slower here,
        # and Σx² - n mean² cancels in float32 when the std is a thousandth of the mean.
        spread = torch.linalg.vector_norm(
            torch.sub(flat, total[:, None], alpha=1 / self.count, out=tmp), dim=1
        )
        # The derivative itself, compared in place on float tensors (bool tensors cost more).
        count = None
        if self.kind == "sigmoid":  # saturated: s - s^2 < 0.025
            count = torch.addcmul(flat, flat, flat, value=-1, out=tmp).lt_(0.025).sum(1)
        elif self.kind == "tanh":  # saturated: t^2 > 0.9
            count = torch.mul(flat, flat, out=tmp).gt_(0.9).sum(1)
        elif self.kind == "relu":  # alive: positive for some input of the batch
            count = self._x.amax(dim=1).gt_(0).sum(1)
        return total, spread, count

    def scale(self, total: float, spread: float, count: float | None) -> tuple[float, ...]:
        """One layer's Σx, ‖x - mean‖ and count -> (mean, std, saturated, dead)."""
        n = self.count
        std = spread / math.sqrt(max(n - 1, 1))
        saturated = count / n if self.kind in ("sigmoid", "tanh") else math.nan
        dead = 1.0 - count / self.units if self.kind == "relu" else math.nan
        return total / n, std, saturated, dead

    def scaled(self, sums: _Sums) -> list[tuple[float, ...]]:
        """``sums`` -> one (mean, std, saturated, dead) per layer."""
        total, spread, count = sums
        counts = [None] * len(self.rows) if count is None else count.tolist()
        layers = zip(total.tolist(), spread.tolist(), counts, strict=True)
        return [self.scale(*layer) for layer in layers]


def _activation_stats(outs: list[torch.Tensor], act: nn.Module) -> torch.Tensor:
    """(layers, 4): mean, std, saturated share, dead share of same-shaped outputs of ``act``.

    Saturated: the derivative is below 10 % of its maximum (sigmoid s(1-s) < 0.025,
    tanh 1 - t^2 < 0.1). Dead: a unit that is <= 0 for every input of the batch.
    NaN where a statistic does not apply to ``act``.
    """
    group = _ActivationGroup(list(range(len(outs))), act, outs[0].shape, outs[0].dtype)
    with torch.no_grad():
        return torch.tensor(group.scaled(group.sums(outs)), dtype=torch.float64)


class _OutputTap:
    """Keeps the output of each call of ``module`` in ``outputs[key]``, until removed.

    What ``module.register_forward_hook`` would do, by wrapping ``forward`` on the
    instance instead: any module with a hook takes nn.Module's slow call path,
    about 10 µs per call here, and on a 20-layer net that was a quarter of the
    monitor's cost. The wrapper adds one Python call. ``remove()`` puts the
    module's own ``forward`` back.
    """

    def __init__(self, module: nn.Module, outputs: dict, key: str):
        self.module = module
        self.below = below = module.__dict__.get("forward")  # one set on the instance before
        self.kept = True
        tap = self

        def forward(mod: nn.Module, *args, **kwargs):
            # Bound to the module, so a deep copy of the model runs its own copy of it.
            if below is None:
                out = type(mod).forward(mod, *args, **kwargs)
            else:
                out = below(*args, **kwargs)
            if tap.kept:
                outputs[key] = out  # record() reads it under no_grad, then lets it go
            return out

        forward.tap = self
        self.forward = types.MethodType(forward, module)
        module.forward = self.forward

    def remove(self) -> None:
        self.kept = False
        module = self.module
        if module.__dict__.get("forward") is not self.forward:
            return  # something wrapped forward again on top: this tap stays, inert, till it goes
        below = self.below
        while isinstance(getattr(below, "tap", None), _OutputTap) and not below.tap.kept:
            below = below.tap.below  # a tap removed earlier, left inert under this one
        if below is None:
            del module.forward
        else:
            module.forward = below


def _runs(sizes: list[int], keys: list) -> list[tuple[int, int, int, int, object]]:
    """(start, stop, first, end, key) for each run of consecutive items with equal ``keys``
    in a flat buffer holding items of ``sizes``: items first:end, at start:stop."""
    runs: list[tuple[int, int, int, int, object]] = []
    start = 0
    for i, (size, key) in enumerate(zip(sizes, keys, strict=True)):
        if runs and runs[-1][4] == key:
            run_start, _, first, _, _ = runs[-1]
            runs[-1] = (run_start, start + size, first, i + 1, key)
        else:
            runs.append((start, start + size, i, i + 1, key))
        start += size
    return runs


class _FlatWeights:
    """The watched weights and their gradients, copied into one flat buffer per step,
    so that ‖grad‖, ‖W‖ and ‖ΔW‖ of every layer take a few tensor ops, whatever the depth.

    Rows 0 and 2 take the weights in turn; row 1 the gradients. The change since
    the last copy is written over the older weights, so the three rows always hold
    ‖W‖, ‖grad‖ and ‖ΔW‖ in some order, normed together. When every layer has the
    same trailing shape (an MLP whose input is as wide as its hidden layers),
    weights and gradients are adjacent rows, copied by a single ``torch.cat``.
    """

    def __init__(self, weights: list[torch.Tensor]):
        self.weights = weights
        dtype = weights[0].dtype
        for w in weights[1:]:
            dtype = torch.promote_types(dtype, w.dtype)
        self._mixed_dtypes = any(w.dtype != dtype for w in weights)
        self._dtype = dtype
        sizes = [w.numel() for w in weights]
        self._flat = torch.zeros(3, sum(sizes), dtype=dtype, device=weights[0].device)
        self._rows = self._flat.unbind(0)
        self._now = 2  # the row holding the weights as of the last copy
        # Views made once: at this size slicing costs as much as copying.
        # a run of equal trailing shapes is copied by one cat along dim 0, no reshape each
        cat_runs = _runs(sizes, [tuple(w.shape[1:]) for w in weights])
        self._run_views = [
            (first, end, [row[start:stop].view(-1, *trailing) for row in self._rows])
            for start, stop, first, end, trailing in cat_runs
        ]
        self._pair_views = None
        if len(cat_runs) == 1:
            trailing = cat_runs[0][4]
            self._pair_views = {
                0: self._flat[0:2].view(-1, *trailing),  # weights then gradients
                2: self._flat[1:3].view(-1, *trailing),  # gradients then weights
            }
        # a run of equal-sized layers is one (3, count, size) view, normed in one op
        self._norm_views = [
            self._flat[:, start:stop].view(3, end - first, size)
            for start, stop, first, end, size in _runs(sizes, sizes)
        ]

    def take(self, grads: list[torch.Tensor] | None) -> tuple[torch.Tensor, ...]:
        """Copy the weights (and ``grads``, shaped as them) in; return (layers,) tensors
        ‖W‖, ‖ΔW‖ since the last call, and ‖grad‖ (stale when ``grads`` is None)."""
        then = self._now
        now = self._now = 2 - then
        weights = self.weights
        if self._mixed_dtypes:
            weights = [w.to(self._dtype) for w in weights]
            grads = None if grads is None else [g.to(self._dtype) for g in grads]
        if grads is not None and self._pair_views is not None:
            both = weights + grads if now == 0 else grads + weights
            torch.cat(both, out=self._pair_views[now])
        else:
            for first, end, views in self._run_views:
                torch.cat(weights[first:end], out=views[now])
                if grads is not None:
                    torch.cat(grads[first:end], out=views[1])
        torch.sub(self._rows[now], self._rows[then], out=self._rows[then])
        norms = [torch.linalg.vector_norm(v, dim=2) for v in self._norm_views]
        by_row = (norms[0] if len(norms) == 1 else torch.cat(norms, dim=1)).unbind(0)
        return by_row[now], by_row[then], by_row[1]


class GradientMonitor:
    """Record per-layer gradient norms and activation statistics of ``model``.

    Use as a context manager: the taps that keep each activation module's output
    (``_OutputTap``, a cheaper forward hook) are attached on entry and removed on
    exit, also when the body raises. Call ``record()`` once per step, after
    ``loss.backward()`` and before ``optimizer.step()``.

    - layers: names of the layers to watch (default: every layer with a 2-D weight).
    - every: keep one step in ``every`` (steps 0, every, 2*every, ...), for
      long runs whose every step need not be kept.
    - activations: record the activation statistics (mean, std, saturated,
      dead; they need a tap on every activation module's forward and about half
      of the recording time). With False those columns are NaN.

    Per recorded step the gradients and weights are copied into one flat
    buffer and normed per layer by a few batched ops, whatever the depth.
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Iterable[str] | None = None,
        every: int = 1,
        activations: bool = True,
    ):
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        if not isinstance(activations, bool):
            raise ValueError(f"activations must be True or False, got {activations!r}")
        self.every = every
        self.model = model
        self._layers: dict[str, nn.Module] = {}
        self._act_of: dict[str, nn.Module | None] = {}
        last = None
        for name, module in model.named_modules():
            weight = getattr(module, "weight", None)
            if isinstance(weight, nn.Parameter) and weight.ndim == 2:
                self._layers[name] = module
                self._act_of[name] = None
                last = name
            elif isinstance(module, _ACTIVATION_TYPES) and last and self._act_of[last] is None:
                self._act_of[last] = module
        if layers is not None:
            wanted = list(layers)
            unknown = [w for w in wanted if w not in self._layers]
            if unknown:
                raise ValueError(f"layers must be among {list(self._layers)}, got {unknown}")
            self._layers = {w: self._layers[w] for w in wanted}
        if not self._layers:
            raise ValueError("model has no layer with a 2-D weight to monitor")
        # Parameters are looked up once: nn.Module attribute access is slow per step.
        self._weights = [module.weight for module in self._layers.values()]
        self._names = list(self._layers)
        self._row_of = {name: i for i, name in enumerate(self._names)}
        self._act_pairs = [
            (n, a)
            for n, a in self._act_of.items()
            if activations and a is not None and n in self._layers
        ]
        self._flat_weights = _FlatWeights(self._weights)
        self._act_names = [name for name, _ in self._act_pairs]
        self._groups_cache: dict[tuple, list] = {}
        self.history = History()
        self._taps: list[_OutputTap] = []
        self._outputs: dict[str, torch.Tensor] = {}
        self._pending = False  # the last recorded step still needs its update
        self._calls = 0
        self._entered = False

    @property
    def layer_names(self) -> list[str]:
        return list(self._layers)

    def __enter__(self) -> GradientMonitor:
        self._entered = True
        self._sync_taps()
        return self

    def _sync_taps(self) -> None:
        """Taps are attached only while the next forward pass will be recorded.

        With ``every=k`` that keeps the forward pass of the other steps as it was.
        """
        wanted = self._entered and self._calls % self.every == 0
        if wanted and not self._taps:
            for name, act in self._act_pairs:
                self._taps.append(_OutputTap(act, self._outputs, name))
        elif not wanted and self._taps:
            for tap in self._taps:
                tap.remove()
            self._taps.clear()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every tap and complete the last step's update ratios."""
        self._entered = False
        for tap in self._taps:
            tap.remove()
        self._taps.clear()
        self._finish_update_ratios()
        self._outputs.clear()

    def _finish_update_ratios(self) -> None:
        """Give the last recorded step the update its optimizer step made."""
        if self._pending:
            with torch.no_grad():
                changes = self._flat_weights.take(None)[1]
            self.history._set_changes(changes)
            self._pending = False

    def _group_outputs(self, shapes: tuple) -> list[tuple[list[str], _ActivationGroup]]:
        """(layer names, group) of outputs that stack: same activation, shape and dtype."""
        groups: dict[tuple, list[str]] = {}
        for (name, act), found in zip(self._act_pairs, shapes, strict=True):
            if found is not None and len(found[0]) >= 2 and math.prod(found[0]) > 0:
                groups.setdefault((type(act), *found), []).append(name)
        return [
            (
                members,
                _ActivationGroup(
                    [self._row_of[name] for name in members], self._act_of[members[0]], shape, dtype
                ),
            )
            for (_, shape, dtype), members in groups.items()
        ]

    def record(self) -> None:
        """Add one row per layer for the current step (call after ``backward()``).

        With ``every=k``, only every k-th call records; the call after a
        recorded one measures that step's update (over one optimizer step).
        """
        call = self._calls
        self._calls += 1
        if call % self.every:
            self._finish_update_ratios()  # no work unless the previous call recorded
            self._sync_taps()
            return
        with torch.no_grad():
            self._record(call)
        self._pending = True
        self._outputs.clear()
        self._sync_taps()

    def _record(self, call: int) -> None:
        grads = [w.grad for w in self._weights]
        missing = [i for i, g in enumerate(grads) if g is None]
        for i in missing:
            grads[i] = torch.zeros_like(self._weights[i])
        weight_norms, changes, grad_norms = self._flat_weights.take(grads)
        if self._pending:  # the previous call recorded: this is its step's update
            self.history._set_changes(changes)

        outputs = self._outputs
        shapes = tuple(
            None if (out := outputs.get(name)) is None else (out.shape, out.dtype)
            for name in self._act_names
        )
        if shapes not in self._groups_cache:
            if len(self._groups_cache) >= 4:  # e.g. many batch sizes: do not hoard scratch
                self._groups_cache.clear()
            self._groups_cache[shapes] = self._group_outputs(shapes)
        activations = [
            (group, group.sums([outputs[name] for name in members]))
            for members, group in self._groups_cache[shapes]
        ]
        self.history._append(
            _Step(call, self._names, grad_norms, weight_norms, missing, activations)
        )
