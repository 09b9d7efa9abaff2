"""Every watched weight and its gradient in one flat buffer: per-layer norms in a few ops."""

from __future__ import annotations

import torch


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
