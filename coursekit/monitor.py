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
from dataclasses import dataclass, field

import torch
from torch import nn

from coursekit.models import ACTIVATIONS

METRICS = ("grad_norm", "act_mean", "act_std", "saturated", "dead", "update_ratio")
_ACTIVATION_TYPES = tuple(ACTIVATIONS.values())


@dataclass
class History:
    """A tidy table: one row per recorded step × layer.

    Columns: ``step``, ``layer`` (module name), ``index`` (0 = input side), and
    the metrics ``grad_norm`` (L2 norm of the weight's gradient), ``act_mean``,
    ``act_std`` (of the layer's activation output), ``saturated`` (share of
    sigmoid/tanh outputs whose derivative is below 10 % of its maximum),
    ``dead`` (share of ReLU-family units that are <= 0 for every input of the
    batch) and ``update_ratio`` (‖ΔW‖ / ‖W‖ of the optimizer step that
    followed). A metric that does not apply is NaN.
    """

    rows: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

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


def _saturation(out: torch.Tensor, act: nn.Module) -> float:
    if isinstance(act, nn.Sigmoid):
        return float(((out * (1 - out)) < 0.025).float().mean())
    if isinstance(act, nn.Tanh):
        return float(((1 - out**2) < 0.1).float().mean())
    return math.nan


def _dead(out: torch.Tensor, act: nn.Module) -> float:
    if isinstance(act, nn.ReLU | nn.LeakyReLU | nn.ELU) and out.ndim >= 2 and out.shape[0] > 0:
        alive = (out > 0).reshape(out.shape[0], -1).any(dim=0)
        return float(1.0 - alive.float().mean())
    return math.nan


class GradientMonitor:
    """Record per-layer gradient norms and activation statistics of ``model``.

    Use as a context manager: hooks are attached on entry and removed on exit,
    also when the body raises. Call ``record()`` once per step, after
    ``loss.backward()`` and before ``optimizer.step()``.
    """

    def __init__(self, model: nn.Module, layers: Iterable[str] | None = None):
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
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
        self.history = History()
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._outputs: dict[str, torch.Tensor] = {}
        self._before: dict[str, torch.Tensor] | None = None
        self._pending: list[dict] = []
        self._step = 0

    @property
    def layer_names(self) -> list[str]:
        return list(self._layers)

    def __enter__(self) -> GradientMonitor:
        for name in self._layers:
            act = self._act_of.get(name)
            if act is not None:
                self._handles.append(act.register_forward_hook(self._keep_output(name)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every hook and complete the last step's update ratios."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._finish_update_ratios()
        self._outputs.clear()

    def _keep_output(self, name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            self._outputs[name] = output.detach()

        return hook

    def _finish_update_ratios(self) -> None:
        if self._before is None:
            return
        for row in self._pending:
            before = self._before[row["layer"]]
            now = self._layers[row["layer"]].weight.detach()
            norm = float(before.norm())
            row["update_ratio"] = float((now - before).norm()) / norm if norm > 0 else math.nan
        self._pending, self._before = [], None

    def record(self) -> None:
        """Add one row per layer for the current step (call after ``backward()``)."""
        self._finish_update_ratios()
        rows = []
        for index, (name, module) in enumerate(self._layers.items()):
            grad = module.weight.grad
            act = self._act_of.get(name)
            out = self._outputs.get(name)
            row = {
                "step": self._step,
                "layer": name,
                "index": index,
                "grad_norm": float(grad.detach().norm()) if grad is not None else math.nan,
                "act_mean": math.nan,
                "act_std": math.nan,
                "saturated": math.nan,
                "dead": math.nan,
                "update_ratio": math.nan,
            }
            if out is not None and act is not None and out.numel() > 0:
                row["act_mean"] = float(out.mean())
                row["act_std"] = float(out.std()) if out.numel() > 1 else 0.0
                row["saturated"] = _saturation(out, act)
                row["dead"] = _dead(out, act)
            rows.append(row)
        self.history.rows.extend(rows)
        self._pending = rows
        self._before = {name: m.weight.detach().clone() for name, m in self._layers.items()}
        self._step += 1
