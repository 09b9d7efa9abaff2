"""The two-sample Kolmogorov-Smirnov test, for checks that compare distributions.

numpy and ``scipy.special.kolmogorov`` instead of ``scipy.stats.ks_2samp``: importing
scipy.stats takes about a second on one CPU, scipy.special a fifth of it. The checks
draw thousands of values, where the limiting distribution (with Stephens' correction for
finite samples) is what ks_2samp's asymptotic method computes, to within a few per cent
(tests/test_ks.py compares the two).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import kolmogorov

from coursekit._arrays import to_numpy


def two_sample(a: Any, b: Any) -> tuple[float, float]:
    """``(D, p)``: the largest distance between the empirical CDFs of ``a`` and ``b``
    (any shapes: all values count) and the two-sided p-value of D under the hypothesis
    that both were drawn from one continuous distribution."""
    x = np.sort(to_numpy(a).astype(np.float64).ravel())
    y = np.sort(to_numpy(b).astype(np.float64).ravel())
    if x.size == 0 or y.size == 0:
        raise ValueError("the Kolmogorov-Smirnov test needs at least one value in each sample")
    both = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, both, side="right") / x.size
    cdf_y = np.searchsorted(y, both, side="right") / y.size
    d = float(np.max(np.abs(cdf_x - cdf_y)))
    root_n = math.sqrt(x.size * y.size / (x.size + y.size))
    p = float(kolmogorov((root_n + 0.12 + 0.11 / root_n) * d))
    return d, min(max(p, 0.0), 1.0)
