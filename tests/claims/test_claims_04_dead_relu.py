"""Lesson 04: every number and comparison the text states, on the master's own outputs."""

from __future__ import annotations

import pytest

from tests.claims.executed import execute_master, header_points, quoted

pytestmark = [pytest.mark.slow, pytest.mark.dead_relu]

READ_BACK = """
def _plain(run):
    return {key: value for key, value in run.items() if key != "activity"}


claims_out = {
    "learning_rates": learning_rates,
    "dead_after": dead_after,
    "lr_accuracy": list(lr_accuracy.values()),
    "first_only": _plain(first_only),
    "all_layers": _plain(all_layers),
    "curves": curves,
    "accuracies": accuracies,
}
"""


@pytest.fixture(scope="module")
def lesson():
    executed = execute_master("04_dead_relu", READ_BACK)
    assert not executed.errors, executed.errors
    return executed


def test_header_points_are_the_test_cells_points():
    stated, total = header_points("04_dead_relu")
    assert stated == total, f"the header says {stated} points, the test cells hold {total}"


def test_too_high_a_learning_rate(lesson):
    rates = lesson.values["learning_rates"]
    last_layer = dict(zip(rates, lesson.values["dead_after"]["hidden layer 4"], strict=True))
    why = quoted(lesson, "at $\\eta = 5$ the last hidden layer is entirely dead")
    assert last_layer[5.0] == 1.0, why
    assert all(last_layer[lr] < 0.1 for lr in rates if lr <= 2.0), why
    acc = dict(zip(rates, lesson.values["lr_accuracy"], strict=True))
    why = quoted(lesson, "(the accuracy rises up to $\\eta = 1$)")
    assert acc[0.1] < acc[0.5] < acc[1.0] > acc[2.0] > acc[3.0] > acc[5.0], why
    why = quoted(lesson, "and the accuracy is at chance")
    assert acc[5.0] < 0.15, why


def test_selective_death_by_a_negative_bias(lesson):
    run = lesson.values["first_only"]
    why = quoted(
        lesson, "about half of its units start dead. The other layers are left as they were."
    )
    assert 0.4 <= run["before"]["blocks.0.act"] <= 0.6, why
    why = quoted(
        lesson,
        "The units of layer 1 that were dead at initialisation are still dead, and their weights "
        "have not changed at all (the largest change is exactly 0)",
    )
    assert run["still_dead"] == run["born_dead"] > 0, why
    assert run["dead_rows_moved"] == 0.0, why
    why = quoted(lesson, "The live units of the same layer did move.")
    assert run["live_rows_moved"] > 0, why


def test_a_whole_dead_layer_stops_every_gradient_below_it(lesson):
    run = lesson.values["all_layers"]
    why = quoted(
        lesson,
        "layers 2 to 4 start entirely dead, so no gradient reaches anything below the output "
        "layer. Only the output layer's bias changes; every weight — the live half of layer 1's "
        "included — stays exactly where it was",
    )
    assert all(run["before"][f"blocks.{i}.act"] == 1.0 for i in (1, 2, 3)), why
    assert 0 < run["before"]["blocks.0.act"] < 1, why
    assert run["moved"]["head.bias"] > 0, why
    assert all(change == 0.0 for name, change in run["moved"].items() if name != "head.bias"), why


def test_the_fixes_side_by_side(lesson):
    dead = {name: curve[-1] for name, curve in lesson.values["curves"].items()}
    acc = lesson.values["accuracies"]
    why = quoted(
        lesson, "A **lower learning rate** removes the cause: few units die and the network learns."
    )
    assert dead["ReLU, lr 0.5"] < 0.05 and acc["ReLU, lr 0.5"] > 0.9, why
    assert dead["ReLU, lr 4"] > 0.3, why
    why = quoted(
        lesson,
        "**Leaky ReLU** makes death impossible — no unit is ever stuck at a zero gradient — but "
        "it does not make $\\eta = 4$ a good learning rate",
    )
    assert dead["Leaky ReLU, lr 4"] == 0.0 and acc["Leaky ReLU, lr 4"] < 0.5, why
    why = quoted(
        lesson,
        "at $\\eta = 4$ it leaves about as many units dead as PyTorch's default initialisation, "
        "and the network does not learn either.",
    )
    assert abs(dead["ReLU + He init, lr 4"] - dead["ReLU, lr 4"]) < 0.05, why
    assert acc["ReLU + He init, lr 4"] < 0.15, why
