"""``GradientMonitor``: attaches the taps, and per recorded step hands the weights,
gradients and activation outputs to their summaries and the result to its ``History``."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from coursekit.models import ACTIVATIONS
from coursekit.monitor.activations import _ActivationGroup, _ShapeChanged
from coursekit.monitor.history import History, _Step
from coursekit.monitor.taps import _OutputTap
from coursekit.monitor.weights import _FlatWeights

_ACTIVATION_TYPES = tuple(ACTIVATIONS.values())


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
        self._groups: list[tuple[list[str], _ActivationGroup]] = []  # of the last step
        self._grouped_count = -1  # outputs in self._groups, when that is all of them
        self.history = History()
        self._taps: list[_OutputTap] = []
        self._outputs: dict[str, torch.Tensor] = {}
        self._pending = False  # the last recorded step still needs its update
        self._grad_norms_now: dict[int, float] | None = None  # of the last call, if it recorded
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
                changes = self._flat_weights.change()
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
                    [self._row_of[name] for name in members],
                    self._act_of[members[0]],
                    shape,
                    dtype,
                    nonnegative=True,  # a tap keeps what the module itself returned
                ),
            )
            for (_, shape, dtype), members in groups.items()
        ]

    def _activation_sums(self, outputs: dict[str, torch.Tensor]) -> list:
        """(group, its sums) per group of same-shaped outputs.

        The usual step has the last step's outputs (same layers, shapes, dtypes): their
        groups are reused after a check of each group's first member (the stacking checks
        the others). Otherwise the outputs are grouped again by every shape and dtype.
        """
        if len(outputs) == self._grouped_count:
            try:
                return [
                    (group, group.sums([outputs[name] for name in members]))
                    for members, group in self._groups
                ]
            except (KeyError, _ShapeChanged):
                pass
        shapes = tuple(
            None if (out := outputs.get(name)) is None else (out.shape, out.dtype)
            for name in self._act_names
        )
        if shapes not in self._groups_cache:
            if len(self._groups_cache) >= 4:  # e.g. many batch sizes: do not hoard scratch
                self._groups_cache.clear()
            self._groups_cache[shapes] = self._group_outputs(shapes)
        self._groups = self._groups_cache[shapes]
        grouped = sum(len(members) for members, _ in self._groups)
        # the fast path only when every output is in a group (none left out by its shape)
        self._grouped_count = grouped if grouped == len(outputs) else -1
        return [
            (group, group.sums([outputs[name] for name in members]))
            for members, group in self._groups
        ]

    def record(self) -> None:
        """Add one row per layer for the current step (call after ``backward()``).

        With ``every=k``, only every k-th call records; the call after a
        recorded one measures that step's update (over one optimizer step).
        """
        call = self._calls
        self._calls += 1
        self._grad_norms_now = None
        if call % self.every:
            self._finish_update_ratios()  # no work unless the previous call recorded
            self._sync_taps()
            return
        with torch.no_grad():
            self._record(call)
        self._pending = True
        self._outputs.clear()
        self._sync_taps()

    def grad_norms_now(self) -> dict[int, float] | None:
        """‖grad‖ per watched weight, keyed by ``id(weight)``, as the last ``record()`` call
        found them; None when that call did not record (``every=k``). ``train.fit`` takes
        its total gradient norm from these rather than norming the same gradients twice.
        A weight without a gradient is left out."""
        return self._grad_norms_now

    def _record(self, call: int) -> None:
        grads = [w.grad for w in self._weights]
        missing = [i for i, g in enumerate(grads) if g is None]
        for i in missing:
            grads[i] = torch.zeros_like(self._weights[i])
        weight_norms, changes, grad_norms = self._flat_weights.take(grads, self._pending)
        without = set(missing)
        self._grad_norms_now = {
            id(w): norm
            for i, (w, norm) in enumerate(zip(self._weights, grad_norms, strict=True))
            if i not in without
        }
        if changes is not None:  # the previous call recorded: this is its step's update
            self.history._set_changes(changes)

        activations = self._activation_sums(self._outputs)
        self.history._append(
            _Step(call, self._names, grad_norms, weight_norms, missing, activations)
        )
