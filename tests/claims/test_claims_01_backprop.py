"""Lesson 01: every number and comparison the text states, on the master's own outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.claims.executed import execute_master, header_points, quoted

pytestmark = [pytest.mark.slow, pytest.mark.backprop]

READ_BACK = """
claims_out = {
    "right_order": right_order_grad,
    "wrong_order": wrong_order_grad,
    "late": b_wrong.grad,
    "uses": [len(b_wrong._prev), b_wrong._op, len(c_wrong._prev), c_wrong._op],
    "sizes": {key: int(value.size) for key, value in params.items()},
    "initial_losses": {str(scale): loss for scale, loss in initial_losses.items()},
    "first_steps": first_steps,
    "distances": distances.tolist(),
    "h": h,
    "kink_errors": {label: [float(e) for e in errors] for label, errors in kink_errors.items()},
    "dropout_errors": {label: errors.tolist() for label, errors in dropout_errors.items()},
    "precision_errors": precision_errors,
}
"""


@pytest.fixture(scope="module")
def lesson():
    executed = execute_master("01_backprop", READ_BACK)
    assert not executed.errors, executed.errors
    return executed


def test_header_points_are_the_test_cells_points():
    stated, total = header_points("01_backprop")
    assert stated == total, f"the header says {stated} points, the test cells hold {total}"


def test_the_wrong_order_loses_the_gradient(lesson):
    why = quoted(
        lesson,
        "and `b` passes on its gradient while it is still 0: `a.grad` comes out as **0** instead "
        "of 4, and the 2 that `c` then gives `b` arrives too late to reach `a`.",
    )
    assert lesson.values["right_order"] == 4.0, why
    assert lesson.values["wrong_order"] == 0.0, why
    assert lesson.values["late"] == 2.0, why


def test_the_graph_draws_one_arrow_per_use(lesson):
    from coursekit.plots.geometry import _uses

    why = quoted(lesson, "`a` feeds `b` twice and `b` feeds `c` twice: one arrow per use.")
    n_b, op_b, n_c, op_c = lesson.values["uses"]
    assert n_b == n_c == 1 and op_b == op_c == "+", why  # _prev is a set: one entry each

    class Node:  # the same shape as b and c, for the figure's rule
        _prev, _op = {object()}, "+"

    assert _uses(Node()) == 2, why


LN10 = math.log(10)


def test_the_initial_loss_against_ln_c(lesson):
    why = quoted(
        lesson,
        "With the last layer shrunk, the initial loss is $\\ln 10$ to three decimals: 2.303. As "
        "initialised, it is 2.62, a little above: the scores already differ a little between "
        "classes. Ten times larger, it is 12.0, five times $\\ln 10$,",
    )
    losses = lesson.values["initial_losses"]
    assert round(losses["0.01"], 3) == round(LN10, 3) == 2.303, why
    assert LN10 < losses["1.0"] and round(losses["1.0"], 2) == 2.62, why
    assert round(losses["10.0"], 1) == 12.0 and round(losses["10.0"] / LN10) == 5, why


def test_the_hockey_stick(lesson):
    why = quoted(
        lesson,
        "it stays above $\\ln 10$ for its first 5 steps, while the other two are below it by step "
        "4: the hockey stick.",
    )
    steps = {k: np.array(v) for k, v in lesson.values["first_steps"].items()}
    first_below = {k: int(np.argmax(v < LN10)) + 1 for k, v in steps.items()}  # 1-based step
    assert first_below["W2 x 10"] == 6, (why, first_below)
    assert first_below["W2 x 0.01"] <= 4 and first_below["W2 x 1"] <= 4, (why, first_below)
    why = quoted(
        lesson,
        "After that it does not lag behind on this small problem — its confident predictions "
        "even fit the training batches faster — but from step 20 on its loss swings from batch "
        "to batch several times more than the others'",
    )
    late = {k: v[-10:].mean() for k, v in steps.items()}
    assert late["W2 x 10"] < min(late["W2 x 0.01"], late["W2 x 1"]), (why, late)
    swing = {k: np.std(np.diff(np.log(v[19:]))) for k, v in steps.items()}
    assert swing["W2 x 10"] > 3 * max(swing["W2 x 0.01"], swing["W2 x 1"]), (why, swing)


def test_the_parameter_counts(lesson):
    sizes = lesson.values["sizes"]
    why = quoted(lesson, "2 × 4,160 for the first layer of our small network")
    assert sizes["W1"] + sizes["b1"] == 4160, why
    why = quoted(lesson, "(80 forward passes instead of 2 × 4,810)")
    assert sum(sizes.values()) == 4810 and 2 * 10 * len(sizes) == 80, why


def test_a_correct_relu_fails_the_check_at_its_kink(lesson):
    why = quoted(
        lesson,
        "Closer to the kink than $h$, the relative error is 0.07 to 0.33 where the slope is 1, and "
        "1 where it is 0; farther away it is at most $2 \\cdot 10^{-14}$.",
    )
    d, h = np.array(lesson.values["distances"]), lesson.values["h"]
    assert (d < h).any() and (d > h).any() and not (d == h).any(), why
    plus = np.array(lesson.values["kink_errors"]["x = +d (slope 1)"])
    minus = np.array(lesson.values["kink_errors"]["x = -d (slope 0)"])
    assert round(plus[d < h].min(), 2) == 0.07 and round(plus[d < h].max(), 2) == 0.33, why
    assert np.all(minus[d < h] == 1.0), why
    assert max(plus[d > h].max(), minus[d > h].max()) <= 2.5e-14, why


def test_dropout_breaks_the_check_unless_the_mask_is_fixed(lesson):
    why = quoted(
        lesson,
        "With a new mask at every call the relative error is about 1 at every entry: the check is "
        "meaningless. With the mask fixed (the same seed for every call) or dropout off, it is "
        "below $10^{-10}$: it passes.",
    )
    errors = lesson.values["dropout_errors"]
    assert all(e > 0.99 for e in errors["a new mask at every call"]), why
    assert max(errors["the same mask at every call"]) < 1e-10, why
    assert max(errors["dropout off (p = 0)"]) < 1e-10, why


def test_float32_fails_the_check_float64_passes(lesson):
    why = quoted(
        lesson,
        "in float64 the worst of the 40 entries is below $10^{-8}$; in float32 the worst reaches "
        "1, a complete failure",
    )
    errors = lesson.values["precision_errors"]
    assert errors["float64"] < 1e-8, why
    assert errors["float32"] > 0.99, why
