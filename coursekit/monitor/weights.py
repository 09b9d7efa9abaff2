"""Every watched weight and its gradient in one flat buffer: per-layer norms in a few ops."""

from __future__ import annotations

import torch

from coursekit.monitor.scaling import Pow2Scale


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

    Gradients are scaled by powers of two (exact) before they are normed, from the
    norms of the last call: a vanishing gradient's squares would be subnormal floats.
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
        # each layer's place in rows 0 and 2, for the change since the last copy
        offsets = [0]
        for size in sizes:
            offsets.append(offsets[-1] + size)
        self._layer_views = {
            r: [
                self._rows[r][a:b].view(w.shape)
                for a, b, w in zip(offsets, offsets[1:], weights, strict=False)
            ]
            for r in (0, 2)
        }
        # a run of equal-sized layers is one (rows, count, size) view, normed in one op
        size_runs = _runs(sizes, sizes)
        self._norm_views = {
            rows: [
                self._flat[rows[0] : rows[1], start:stop].view(-1, end - first, size)
                for start, stop, first, end, size in size_runs
            ]
            for rows in ((0, 3), (0, 2), (1, 3), (0, 1), (2, 3))
        }
        self._size_runs = [(first, end) for _, _, first, end, _ in size_runs]
        self._grad_views = [v[1] for v in self._norm_views[0, 3]]  # (count, size)
        self._set_grad_scale(Pow2Scale([0] * len(weights), dtype, self._flat.device))

    def _norms(self, rows: tuple[int, int]) -> list[list[float]]:
        """Per-layer norms of the buffer's rows ``rows[0]:rows[1]``, one list per row."""
        runs = [torch.linalg.vector_norm(v, dim=2).tolist() for v in self._norm_views[rows]]
        if len(runs) == 1:
            return runs[0]
        return [sum(parts, []) for parts in zip(*runs, strict=True)]

    def _set_grad_scale(self, scale: Pow2Scale) -> None:
        """Use ``scale`` from now on; its multiplications (view, factors) are made once here:
        at this size slicing per step costs as much as the multiplication."""
        self._grad_scale = scale
        self._scale_ops = []
        for (first, end), view in zip(self._size_runs, self._grad_views, strict=True):
            a, b = max(first, scale.first), min(end, scale.end)
            if a < b:
                self._scale_ops.append((view[a - first : b - first], scale.factors[a:b, None]))

    def _unscale_grads(self, scaled: list[float], grads: list[torch.Tensor]) -> list[float]:
        """‖grad‖ per layer from the norms of the scaled gradients; sets the next scale."""
        scale = self._grad_scale
        if not scale:
            following = scale.next(scaled)
            if following is not scale:
                self._set_grad_scale(following)
            return scaled
        norms = scale.unscale(scaled)  # Python floats: exact, the divisors are powers of two
        for i in scale.unsafe(scaled):  # the norm moved by 2**40 in a step: once unscaled
            norms[i] = torch.linalg.vector_norm(grads[i]).item()
            scaled[i] = norms[i] * scale.divisors[i]
        following = scale.next(scaled)
        if following is not scale:
            self._set_grad_scale(following)
        return norms

    def take(
        self, grads: list[torch.Tensor], since_last: bool
    ) -> tuple[list[float], list[float] | None, list[float]]:
        """Copy the weights and ``grads`` (shaped as them) in; return per-layer lists
        ‖W‖, ‖ΔW‖ since the last copy (None unless ``since_last``) and ‖grad‖."""
        then = self._now
        now = self._now = 2 - then
        weights = self.weights
        if self._mixed_dtypes:
            weights = [w.to(self._dtype) for w in weights]
            grads = [g.to(self._dtype) for g in grads]
        if self._pair_views is not None:
            both = weights + grads if now == 0 else grads + weights
            torch.cat(both, out=self._pair_views[now])
        else:
            for first, end, views in self._run_views:
                torch.cat(weights[first:end], out=views[now])
                torch.cat(grads[first:end], out=views[1])
        for view, factors in self._scale_ops:
            view.mul_(factors)
        if since_last:
            torch.sub(self._rows[now], self._rows[then], out=self._rows[then])
            by_row = self._norms((0, 3))
            changes = by_row[then]
        else:  # the older weights are stale: norm only the two rows just written
            by_row = self._norms((0, 2) if now == 0 else (1, 3))
            by_row = [by_row[0], by_row[1], by_row[1]] if now == 0 else [by_row[0], *by_row]
            changes = None
        return by_row[now], changes, self._unscale_grads(by_row[1], grads)

    def change(self) -> list[float]:
        """‖ΔW‖ per layer since the last ``take``, without copying the weights again;
        the copy is used up (the next ``take`` must not ask ``since_last``)."""
        weights = self.weights
        if self._mixed_dtypes:
            weights = [w.to(self._dtype) for w in weights]
        torch._foreach_sub_(self._layer_views[self._now], weights)  # W then - W now
        rows = (0, 1) if self._now == 0 else (2, 3)
        return self._norms(rows)[0]
