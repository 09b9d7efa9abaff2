"""Per-layer gradient and activation monitoring through PyTorch forward hooks.

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
for the activation statistics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from coursekit.models import ACTIVATIONS

METRICS = ("grad_norm", "act_mean", "act_std", "saturated", "dead", "update_ratio")
_ACTIVATION_TYPES = tuple(ACTIVATIONS.values())


def _ratio(change: float, size: float) -> float:
    return change / size if size > 0 else math.nan


@dataclass
class _Step:
    """One recorded step, as the tensors ``record()`` computed (no host sync).

    ``norms`` is (2 * layers,): ‖grad‖ then ‖W‖ per layer (a layer in ``missing``
    had no gradient); ``activations`` holds (layer indices, (len, 4) tensor of
    mean, std, saturated, dead) per group of same-shaped outputs; ``changes`` is
    ‖ΔW‖ per layer over the optimizer step that followed, set one call later.
    """

    step: int
    names: list[str]
    norms: torch.Tensor
    missing: list[int]
    activations: list[tuple[list[int], torch.Tensor]]
    changes: torch.Tensor | None = None

    def weight_norms(self) -> list[float]:
        return self.norms[len(self.names) :].tolist()

    def to_rows(self) -> list[dict]:
        n = len(self.names)
        norms = self.norms.tolist()
        grad_norms, weight_norms = norms[:n], norms[n:]
        for i in self.missing:
            grad_norms[i] = math.nan
        stats: list[tuple[float, ...]] = [(math.nan,) * 4] * n
        for indices, values in self.activations:
            for i, row in zip(indices, values.tolist(), strict=True):
                stats[i] = tuple(row)
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
                self._open_weight_norms = last.weight_norms()
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


# s(1 - s) < 0.025  <=>  |s - 1/2| > sqrt(0.9) / 2;   1 - t^2 < 0.1  <=>  |t| > sqrt(0.9)
_SIGMOID_SATURATED = math.sqrt(0.9) / 2
_TANH_SATURATED = math.sqrt(0.9)


def _activation_stats(
    outs: list[torch.Tensor], act: nn.Module, scratch: torch.Tensor | None = None
) -> torch.Tensor:
    """(layers, 4): mean, std, saturated share, dead share of same-shaped outputs of ``act``.

    Saturated: the derivative is below 10 % of its maximum (sigmoid s(1-s) < 0.025,
    tanh 1 - t^2 < 0.1). Dead: a unit that is <= 0 for every input of the batch.
    NaN where a statistic does not apply to ``act``.

    Stacked so that a whole group costs a handful of tensor ops, not a dozen
    per layer: the monitor must stay cheap on small, deep models. ``scratch``,
    (2, layers, *outs[0].shape), is reused for the big temporaries: a fresh
    allocation of that size costs page faults on every step.
    """
    if scratch is None:
        scratch = torch.empty(2, len(outs), *outs[0].shape, dtype=outs[0].dtype)
    x = torch.stack(outs, out=scratch[0]).flatten(2)  # (layers, N, units)
    n_layers = x.shape[0]
    flat = x.reshape(n_layers, -1)
    tmp = scratch[1].view(n_layers, -1)
    mean = flat.mean(1, keepdim=True)
    # ‖x - mean‖ / sqrt(n - 1): torch.std_mean is exact too, but ten times slower here.
    std = torch.linalg.vector_norm(torch.sub(flat, mean, out=tmp), dim=1)
    std /= math.sqrt(max(flat.shape[1] - 1, 1))
    nan = torch.full((n_layers,), math.nan)
    # In-place comparisons on float tensors: far cheaper than building bool tensors.
    if isinstance(act, nn.Sigmoid):
        saturated = torch.sub(flat, 0.5, out=tmp).abs_().gt_(_SIGMOID_SATURATED).mean(1)
    elif isinstance(act, nn.Tanh):
        saturated = torch.abs(flat, out=tmp).gt_(_TANH_SATURATED).mean(1)
    else:
        saturated = nan
    if isinstance(act, nn.ReLU | nn.LeakyReLU | nn.ELU):
        dead = 1.0 - x.amax(dim=1).gt_(0).mean(1)  # alive: positive for some input
    else:
        dead = nan
    return torch.stack([mean.squeeze(1), std, saturated, dead], dim=1)


def _equal_size_runs(sizes: list[int]) -> list[tuple[int, int, int, int]]:
    """(start, stop, count, size) for each run of consecutive equal ``sizes`` in a flat
    buffer: a run of equal-sized layers is one (count, size) view, normed in one op."""
    runs: list[tuple[int, int, int, int]] = []
    start = 0
    for size in sizes:
        if runs and runs[-1][3] == size:
            first, _, count, _ = runs[-1]
            runs[-1] = (first, start + size, count + 1, size)
        else:
            runs.append((start, start + size, 1, size))
        start += size
    return runs


class GradientMonitor:
    """Record per-layer gradient norms and activation statistics of ``model``.

    Use as a context manager: hooks are attached on entry and removed on exit,
    also when the body raises. Call ``record()`` once per step, after
    ``loss.backward()`` and before ``optimizer.step()``.

    - layers: names of the layers to watch (default: every layer with a 2-D weight).
    - every: keep one step in ``every`` (steps 0, every, 2*every, ...), for
      long runs whose every step need not be kept.
    - activations: record the activation statistics (mean, std, saturated,
      dead; they need a forward hook per activation module and about half of
      the recording time). With False those columns are NaN.

    Weights are read through flat views made on entry, so the optimizer must
    update them in place (every torch.optim optimizer does).
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
        self._sizes = [w.numel() for w in self._weights]
        self._views: list[torch.Tensor] = []  # detached views of the weights, made on entry
        # Two rows take the flat weights in turn (now, and at the last record()); the
        # third holds their difference. One cat and one sub per step, whatever the depth.
        dtype = self._weights[0].dtype
        for w in self._weights[1:]:
            dtype = torch.promote_types(dtype, w.dtype)
        self._flat = torch.zeros(3, sum(self._sizes), dtype=dtype, device=self._weights[0].device)
        self._mixed_dtypes = any(w.dtype != dtype for w in self._weights)
        self._now = 0  # the row holding the weights as of the last record()
        self._runs = _equal_size_runs(self._sizes)
        self._act_names = [name for name, _ in self._act_pairs]
        self._groups_cache: dict[tuple, list] = {}
        self.history = History()
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._outputs: dict[str, torch.Tensor] = {}
        self._pending = False  # the last recorded step still needs its update
        self._calls = 0
        self._entered = False

    @property
    def layer_names(self) -> list[str]:
        return list(self._layers)

    def __enter__(self) -> GradientMonitor:
        self._entered = True
        self._views = []  # made afresh in case a weight's .data was replaced since
        self._sync_hooks()
        return self

    def _sync_hooks(self) -> None:
        """Hooks are attached only while the next forward pass will be recorded.

        With ``every=k`` that keeps the forward pass of the other steps free of
        Python hook calls.
        """
        wanted = self._entered and self._calls % self.every == 0
        if wanted and not self._handles:
            for name, act in self._act_pairs:
                self._handles.append(act.register_forward_hook(self._keep_output(name)))
        elif not wanted and self._handles:
            for handle in self._handles:
                handle.remove()
            self._handles.clear()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every hook and complete the last step's update ratios."""
        self._entered = False
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._finish_update_ratios()
        self._outputs.clear()

    def _keep_output(self, name: str):
        outputs = self._outputs

        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            outputs[name] = output  # detached (once, batched) in record()

        return hook

    def _weight_views(self) -> list[torch.Tensor]:
        """Flat detached views of the weights: they follow the optimizer's in-place updates."""
        if not self._views:
            views = [w.detach().reshape(-1) for w in self._weights]
            if all(w.is_contiguous() for w in self._weights):
                self._views = views  # views, not copies: keep them (else reshape copied)
            return views
        return self._views

    def _norms(self, rows: torch.Tensor) -> torch.Tensor:
        """(k, P) -> (k, layers): the L2 norm of each layer's block of each row."""
        return torch.cat(
            [
                torch.linalg.vector_norm(rows[:, start:stop].view(-1, count, size), dim=2)
                for start, stop, count, size in self._runs
            ],
            dim=1,
        )

    def _weights_and_changes(self) -> torch.Tensor:
        """(2, layers): ‖W‖ now and ‖W_now - W_then‖ since the last call; W_now becomes W_then."""
        then, now = self._now, 1 - self._now
        views = self._weight_views()
        if self._mixed_dtypes:
            views = [v.to(self._flat.dtype) for v in views]
        torch.cat(views, out=self._flat[now])
        torch.sub(self._flat[now], self._flat[then], out=self._flat[2])
        self._now = now
        # rows (now, 2) as one strided view: no copy
        return self._norms(self._flat[now :: 2 - now])

    def _finish_update_ratios(self) -> None:
        """Give the last recorded step the update its optimizer step made."""
        if self._pending:
            with torch.no_grad():
                changes = self._weights_and_changes()[1]
            self.history._set_changes(changes)
            self._pending = False

    def _group_outputs(
        self, shapes: tuple
    ) -> list[tuple[list[int], list[str], nn.Module, torch.Tensor]]:
        """(rows, layer names, activation, scratch) of outputs that stack: same activation,
        shape and dtype. The scratch buffers are made once per set of shapes."""
        groups: dict[tuple, list[str]] = {}
        for (name, act), found in zip(self._act_pairs, shapes, strict=True):
            if found is not None and len(found[0]) >= 2 and math.prod(found[0]) > 0:
                groups.setdefault((type(act), *found), []).append(name)
        return [
            (
                [self._row_of[name] for name in members],
                members,
                self._act_of[members[0]],
                torch.empty(2, len(members), *shape, dtype=dtype),
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
            self._sync_hooks()
            return
        with torch.no_grad():
            self._record(call)
        self._pending = True
        self._outputs.clear()
        self._sync_hooks()

    def _record(self, call: int) -> None:
        grads = [w.grad for w in self._weights]
        missing = [i for i, g in enumerate(grads) if g is None]
        if missing:
            grads = [torch.zeros(()) if g is None else g for g in grads]
        grad_norms = torch.stack(torch._foreach_norm(grads))
        weights_and_changes = self._weights_and_changes()
        if self._pending:  # the previous call recorded: this is its step's update
            self.history._set_changes(weights_and_changes[1])

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
            (rows, _activation_stats([outputs[name] for name in members], act, scratch))
            for rows, members, act, scratch in self._groups_cache[shapes]
        ]
        norms = torch.cat([grad_norms, weights_and_changes[0]])
        self.history._append(_Step(call, self._names, norms, missing, activations))
