"""coursekit.ks.two_sample against scipy.stats.ks_2samp (the oracle)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from coursekit import ks


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.tuples(st.integers(200, 6000), st.integers(200, 6000)),
    shift=st.floats(0.0, 0.2),
    scale=st.floats(0.9, 1.2),
    seed=st.integers(0, 10_000),
)
def test_agrees_with_scipy(sizes, shift, scale, seed):
    g = np.random.default_rng(seed)
    a = g.normal(size=sizes[0])
    b = g.normal(shift, scale, size=sizes[1])
    d, p = ks.two_sample(a, b)
    oracle = stats.ks_2samp(a, b)
    assert d == pytest.approx(oracle.statistic, abs=1e-12)
    if oracle.pvalue > 1e-10:  # the range a check's threshold (1e-6) lives in
        assert abs(math.log10(p) - math.log10(oracle.pvalue)) < 0.15, (p, oracle.pvalue)
    else:
        assert p < 1e-8, (p, oracle.pvalue)


def test_same_draws_and_different_families():
    g = np.random.default_rng(0)
    assert ks.two_sample(g.normal(size=5000), g.normal(size=5000))[1] > 1e-3
    uniform = g.uniform(-math.sqrt(3), math.sqrt(3), size=5000)  # same mean and variance
    d, p = ks.two_sample(uniform, g.normal(size=5000))
    assert p < 1e-6 and 0.03 < d < 0.2


def test_shapes_and_ties():
    assert ks.two_sample(np.zeros((3, 4)), np.zeros(7)) == (0.0, 1.0)
    d, _ = ks.two_sample([0, 0, 1, 1], [1, 1, 1, 1])
    assert d == 0.5  # all of a's zeros below b's first value
    with pytest.raises(ValueError, match="at least one value"):
        ks.two_sample([], [1.0])
