"""coursekit.monitor.scaling: the exact power-of-two scales the monitor norms tiny rows with."""

import math

import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from coursekit.monitor.scaling import SAFE, SMALL, Pow2Scale

# norms from vanishing (1e-30) to ordinary (1e3); some rows exactly 0 (no gradient yet)
norms = st.lists(
    st.one_of(st.just(0.0), st.floats(1e-30, 1e3, allow_nan=False)), min_size=1, max_size=8
)


def _scaled(scale: Pow2Scale, values: list[float]) -> list[float]:
    """What a row of true norm ``v`` measures once multiplied by its factor (as float64)."""
    return [v * d for v, d in zip(values, scale.divisors, strict=True)]


@given(norms)
def test_next_brings_every_tiny_norm_into_the_safe_range_and_leaves_normal_ones(values):
    scale = Pow2Scale([0] * len(values), torch.float32, torch.device("cpu")).next(values)
    for v, k, scaled in zip(values, scale.exponents, _scaled(scale, values), strict=True):
        if v == 0 or v >= SMALL:
            assert k == 0, f"norm {v:g} needs no scaling, got exponent {k}"
        else:
            assert k > 0, f"norm {v:g} is below SMALL={SMALL:g} but was not scaled"
            assert 1 / SAFE <= scaled <= SAFE, f"norm {v:g} scaled by 2**{k} is {scaled:g}"
    assert not scale.unsafe(_scaled(scale, values))


@given(norms)
def test_unscale_undoes_the_scaling_exactly(values):
    scale = Pow2Scale([0] * len(values), torch.float64, torch.device("cpu")).next(values)
    assert scale.unscale(_scaled(scale, values)) == values  # powers of two: no rounding


@given(norms)
def test_a_scale_that_fits_is_kept(values):
    """The scale (and its tensor of factors) is rebuilt only when a norm leaves its range."""
    scale = Pow2Scale([0] * len(values), torch.float32, torch.device("cpu")).next(values)
    assert scale.next(_scaled(scale, values)) is scale


def test_the_factors_cover_exactly_the_scaled_rows():
    scale = Pow2Scale([0, 30, 0, 12, 0], torch.float32, torch.device("cpu"))
    assert (scale.first, scale.end) == (1, 4)
    assert scale.column.shape == (3, 1)
    assert scale.column[:, 0].tolist() == [2.0**30, 1.0, 2.0**12]
    assert not Pow2Scale([0, 0], torch.float32, torch.device("cpu"))


def test_scaling_keeps_a_vanishing_row_exact_in_float32():
    """Without the scale a row of 1e-25 squares to subnormals and float32 loses it."""
    row = torch.full((1, 256), 1e-25)
    truth = math.sqrt(256) * 1e-25
    scale = Pow2Scale([0], torch.float32, torch.device("cpu")).next([truth])
    measured = (row * scale.column).norm(dim=1).tolist()
    assert math.isclose(scale.unscale(measured)[0], truth, rel_tol=1e-6)
    assert row.norm().item() == 0.0 or not math.isclose(row.norm().item(), truth, rel_tol=1e-6)


def _full_loop(scale: Pow2Scale, values: list[float]) -> tuple[list[int], list[int]]:
    """next()'s exponents and unsafe()'s rows, computed without the quick test."""
    keep = Pow2Scale._fits
    Pow2Scale._fits = lambda self, values: False
    try:
        following = scale.next(values).exponents
    finally:
        Pow2Scale._fits = keep
    unsafe = [
        i
        for i in range(scale.first, scale.end)
        if scale.exponents[i] and values[i] != 0 and not (1 / SAFE <= values[i] <= SAFE)
    ]
    return following, unsafe


# rows near every threshold (SMALL, 2**+-20, SAFE) and ordinary ones, which are the most
# common so that whole spans fit and the quick test's every clause is what decides
measured = st.lists(
    st.one_of(
        st.just(1.0),
        st.sampled_from([0.0, math.nan, math.inf, 2.0**-41, 2.0**-39, 2.0**-21, 2.0**-19]),
        st.sampled_from([2.0**19, 2.0**21, 2.0**39, 2.0**41, 1e-45, 1e30]),
        st.floats(1e-30, 1e30, allow_nan=False),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=500)
@example(exponents=[0, 12, 12, 0, 0, 0, 0, 0], values=[2.0**-41, 1.0, 1.0])  # before the span
@example(exponents=[12, 12, 0, 0, 0, 0, 0, 0], values=[1.0, math.nan])  # NaN in the span
@example(exponents=[12, 0, 0, 0, 0, 0, 0, 0], values=[1.0, 1.0, 2.0**-41])  # after the span
@given(st.lists(st.sampled_from([0, 0, 12, 40, 63, 120]), min_size=8, max_size=8), measured)
def test_the_quick_test_and_the_full_loop_agree(exponents, values):
    """next() and unsafe() decide first by a C-level min/max over the rows: whatever the
    rows hold (0, NaN, inf, tiny, huge), they answer what the loop over every row does."""
    exponents = exponents[: len(values)]
    scale = Pow2Scale(exponents, torch.float32, torch.device("cpu"))
    following, unsafe = _full_loop(scale, values)
    assert scale.next(values).exponents == following
    assert scale.unsafe(values) == unsafe
