"""Activation statistics: mean, spread, saturated share and dead share per layer,
computed for a whole group of same-shaped outputs in a few tensor ops."""

from __future__ import annotations

import math

import torch
from torch import nn

from coursekit.monitor.scaling import Pow2Scale

_RELU_TYPES = (nn.ReLU, nn.LeakyReLU, nn.ELU)


class _ShapeChanged(Exception):
    """The outputs given to a group no longer have its shape or dtype."""


#: the scale used; Σx, ‖x‖ (None for sigmoid), ‖x - mean‖ (None: from Σx and ‖x‖ when read),
#: all scaled; the count (or None)
_Sums = tuple[Pow2Scale, list[float], list[float] | None, list[float] | None, torch.Tensor | None]


class _ActivationGroup:
    """Same-shaped outputs of one kind of activation, summarised together.

    Stacked so that a whole group costs a handful of tensor ops, not a dozen per
    layer: the monitor must stay cheap on small, deep models. The stacking target
    and temporaries, (2, layers, *shape), are made once and reused: a fresh
    allocation of that size costs page faults on every step.

    ReLU-family outputs are scaled by powers of two (exact) before they are summed and
    normed, from the norms of the last call: in a net whose signal vanishes their
    squares would be subnormal floats, whose arithmetic costs about 50 times as much.
    ``nonnegative``: the outputs are those of ``nn.ReLU`` itself (>= 0 or NaN), so a
    unit is alive when its sum over the batch is positive (no separate max pass).
    """

    def __init__(
        self,
        rows: list[int],
        act: nn.Module,
        shape: torch.Size,
        dtype: torch.dtype,
        nonnegative: bool = False,
    ):
        self.rows = rows
        if isinstance(act, nn.Sigmoid):
            self.kind = "sigmoid"
        elif isinstance(act, nn.Tanh):
            self.kind = "tanh"
        elif isinstance(act, _RELU_TYPES):
            self.kind = "relu"
        else:
            self.kind = "other"
        self.nonnegative = nonnegative and type(act) is nn.ReLU
        self.shape, self.dtype = shape, dtype
        n_layers = len(rows)
        self._scratch = torch.empty(2, n_layers, *shape, dtype=dtype)
        self._stacked = self._scratch[0]
        self._x = self._stacked.view(n_layers, shape[0], -1)  # (layers, N, units)
        self._flat = self._stacked.view(n_layers, -1)
        self._tmp = self._scratch[1].view(n_layers, -1)
        self.count = self._flat.shape[1]  # values per layer
        self.units = self._x.shape[2]
        self._scale = Pow2Scale([0] * n_layers, dtype, self._flat.device)

    def sums(self, outs: list[torch.Tensor]) -> _Sums:
        """Σx, ‖x‖ and ‖x - mean‖ per layer (lists, as scaled), and the (layers,) count of
        saturated values (sigmoid, tanh) or of alive units (ReLU family), else None.
        ``scaled`` turns them into statistics.

        Raw sums, because dividing is left to when the rows are read: at this size
        every tensor op costs about as much in dispatch as in arithmetic (inside a
        training step, 10 to 20 µs each), so the per-layer arithmetic is done on
        Python floats. Only the reused scratch is written: a fresh temporary this large
        (e.g. what a float64 reduction makes) costs page faults on every step.
        """
        flat, tmp = self._flat, self._tmp
        if outs[0].shape != self.shape or any(out.dtype is not self.dtype for out in outs):
            raise _ShapeChanged  # stacking into the scratch would resize or cast
        try:
            torch.stack(outs, out=self._stacked)
        except RuntimeError as error:  # a member's shape differs from the first's
            raise _ShapeChanged from error
        scale = self._scale
        if scale:
            flat[scale.first : scale.end].mul_(scale.column)
        count = None
        if self.nonnegative:  # alive: positive for some input of the batch
            per_unit = self._x.sum(1)
            total = per_unit.sum(1)
            count = per_unit.gt_(0).sum(1)
        else:
            total = flat.sum(1)
        spread = norms = None
        if self.kind == "sigmoid":  # whose mean dominates its spread, so that this would cancel
            totals = total.tolist()
        else:
            norms = torch.linalg.vector_norm(flat, dim=1)
            totals, norms = torch.stack((total, norms)).tolist()
            if scale.unsafe(norms):  # the signal moved by 2**40 in a step: once unscaled
                self._scale = Pow2Scale([0] * len(self.rows), flat.dtype, flat.device)
                return self.sums(outs)
        if norms is None or not self._one_pass_exact(totals, norms):
            # ‖x - mean‖ in two passes: torch.std_mean is exact too, but ten times slower here.
            total_column = torch.tensor(totals, dtype=flat.dtype)[:, None]
            spread = torch.linalg.vector_norm(
                torch.sub(flat, total_column, alpha=1 / self.count, out=tmp), dim=1
            ).tolist()
        # The derivative itself, compared in place on float tensors (bool tensors cost more).
        if self.kind == "sigmoid":  # saturated: s - s^2 < 0.025
            count = torch.addcmul(flat, flat, flat, value=-1, out=tmp).lt_(0.025).sum(1)
        elif self.kind == "tanh":  # saturated: t^2 > 0.9
            count = torch.mul(flat, flat, out=tmp).gt_(0.9).sum(1)
        elif self.kind == "relu" and count is None:  # alive: positive for some input
            count = self._x.amax(dim=1).gt_(0).sum(1)
        if self.kind == "relu":
            self._scale = scale.next(norms)
        return scale, totals, norms, spread, count

    def _one_pass_exact(self, totals: list[float], norms: list[float]) -> bool:
        """Whether ‖x - mean‖ may be taken, when read, from ‖x‖ and Σx (float32 sums,
        float64 arithmetic): one read of the outputs, no write.

        ‖x - mean‖² = ‖x‖² - (Σx)²/n cancels in float32 when the mean dominates the
        spread; relative to the spread the error is about 1e-7 (1 + mean²/var). False
        (two passes needed) when var < mean²/10 in some layer, i.e. n‖x‖² < 1.1 (Σx)²:
        the error could pass 1e-6. (NaN: False.)
        """
        n = self.count
        return all(n * v * v >= 1.1 * t * t for t, v in zip(totals, norms, strict=True))

    def _spreads(self, totals: list[float], norms: list[float]) -> list[float]:
        """‖x - mean‖ = sqrt(‖x‖² - (Σx)²/n) per layer, where ``_one_pass_exact`` allowed it."""
        n = self.count
        return [math.sqrt(max(v * v - t * t / n, 0.0)) for t, v in zip(totals, norms, strict=True)]

    def scale(self, total: float, spread: float, count: float | None) -> tuple[float, ...]:
        """One layer's Σx, ‖x - mean‖ and count -> (mean, std, saturated, dead)."""
        n = self.count
        std = spread / math.sqrt(max(n - 1, 1))
        saturated = count / n if self.kind in ("sigmoid", "tanh") else math.nan
        dead = 1.0 - count / self.units if self.kind == "relu" else math.nan
        return total / n, std, saturated, dead

    def scaled(self, sums: _Sums) -> list[tuple[float, ...]]:
        """``sums`` -> one (mean, std, saturated, dead) per layer."""
        scale, total, norms, spread, count = sums
        if spread is None:
            spread = self._spreads(total, norms)
        total, spread = scale.unscale(total), scale.unscale(spread)
        counts = [None] * len(self.rows) if count is None else count.tolist()
        layers = zip(total, spread, counts, strict=True)
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
