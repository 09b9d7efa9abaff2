"""Exact power-of-two scaling of per-row norms, so that tiny values (vanishing gradients,
ReLU outputs of a deep net) are normed without subnormal arithmetic."""

from __future__ import annotations

import math

import torch

#: a scaled norm within [1/SAFE, SAFE] is exact: no square of an element that counts
#: is subnormal and none overflows (outside it the norm is taken again, unscaled)
SAFE = 2.0**40


#: rows whose norm is below this are scaled: from here their smallest elements' squares
#: start to be subnormal (2**-40 ~ 1e-12, against 2**-126 ~ 1e-38)
SMALL = 2.0**-40


class Pow2Scale:
    """Powers of two 2**k (k >= 0) for the rows ``first:end`` of a (rows, size) stack.

    Scaling a tensor by 2**k is exact, and brings tiny values (vanishing gradients,
    ~1e-20) to where their squares are normal floats: subnormal arithmetic costs about
    50 times as much, and on a 50-layer ReLU net was most of the monitor's time. Only
    rows whose norm is below ``SMALL`` are scaled; the exponents change only when a
    scaled norm leaves [2**-20, 2**20] or an unscaled one falls below ``SMALL``.
    """

    def __init__(self, exponents: list[int], dtype: torch.dtype, device: torch.device):
        scaled = [i for i, k in enumerate(exponents) if k]
        self.first, self.end = (scaled[0], scaled[-1] + 1) if scaled else (0, 0)
        self.exponents = exponents
        self.dtype, self.device = dtype, device
        self.divisors = [2.0**k for k in exponents]
        self.factors = torch.tensor(self.divisors, dtype=dtype, device=device)
        self.column = self.factors[self.first : self.end, None]

    def __bool__(self) -> bool:
        return self.end > 0

    def unsafe(self, scaled_norms: list[float]) -> list[int]:
        """Rows scaled whose scaled norm is outside [1/SAFE, SAFE] (and not 0)."""
        inside = scaled_norms[self.first : self.end]
        if not inside or (
            1 / SAFE <= min(inside) and max(inside) <= SAFE and not math.isnan(sum(inside))
        ):
            return []  # the usual case, by C-level min, max and sum (a NaN row is unsafe)
        return [
            i
            for i in range(self.first, self.end)
            if self.exponents[i]
            and scaled_norms[i] != 0
            and not (1 / SAFE <= scaled_norms[i] <= SAFE)
        ]

    def unscale(self, scaled_norms: list[float]) -> list[float]:
        """Python floats: exact, as the divisors are powers of two."""
        if not self:
            return scaled_norms
        return [v / d for v, d in zip(scaled_norms, self.divisors, strict=True)]

    def _fits(self, scaled_norms: list[float]) -> bool:
        """A quick sufficient test that ``next`` would keep this scale: every norm outside
        the scaled rows' span at least SMALL, every one inside within [2**-20, 2**20] (an
        unscaled one there is then above SMALL too). C-level min and max: this runs on every
        recorded step. False sends ``next`` through its full loop."""
        inside = scaled_norms[self.first : self.end]
        return (
            min(scaled_norms[: self.first], default=SMALL) >= SMALL
            and min(scaled_norms[self.end :], default=SMALL) >= SMALL
            and (not inside or 2.0**-20 <= min(inside) and max(inside) <= 2.0**20)
        )

    def next(self, scaled_norms: list[float]) -> Pow2Scale:
        """The scale for the next call, given this call's scaled norms (itself if it fits)."""
        if self._fits(scaled_norms):
            return self
        exponents = list(self.exponents)
        for i, (k, v) in enumerate(zip(self.exponents, scaled_norms, strict=True)):
            if not math.isfinite(v) or v == 0:
                continue
            if (k and 2.0**-20 <= v <= 2.0**20) or (not k and v >= SMALL):
                continue
            norm = v / self.divisors[i]
            exponents[i] = min(-math.frexp(norm)[1], 120) if norm < SMALL else 0
        if exponents == self.exponents:
            return self
        return Pow2Scale(exponents, self.dtype, self.device)
