"""Lesson 01: every number and comparison the text states, on the master's own outputs."""

from __future__ import annotations

import pytest

from tests.claims.executed import execute_master, header_points, quoted

pytestmark = [pytest.mark.slow, pytest.mark.backprop]

READ_BACK = """
claims_out = {
    "right_order": right_order_grad,
    "wrong_order": wrong_order_grad,
    "late": b_wrong.grad,
    "uses": [len(b_wrong._prev), b_wrong._op, len(c_wrong._prev), c_wrong._op],
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
    from coursekit.plots import _uses

    why = quoted(lesson, "`a` feeds `b` twice and `b` feeds `c` twice: one arrow per use.")
    n_b, op_b, n_c, op_c = lesson.values["uses"]
    assert n_b == n_c == 1 and op_b == op_c == "+", why  # _prev is a set: one entry each

    class Node:  # the same shape as b and c, for the figure's rule
        _prev, _op = {object()}, "+"

    assert _uses(Node()) == 2, why
