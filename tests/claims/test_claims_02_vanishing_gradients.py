"""Lesson 02: every number and comparison the text states, on the master's own outputs."""

from __future__ import annotations

import math

import pytest

from tests.claims.executed import execute_master, header_points, quoted

pytestmark = [pytest.mark.slow, pytest.mark.vanishing]

READ_BACK = """
claims_out = {
    "init_norms": list(norms.values()),
    "baseline_val_acc": baseline.val_acc,
    "baseline_loss": baseline.train_loss + baseline.val_loss,
    "update_ratio": list(baseline_monitor.mean_over_steps("update_ratio").values()),
    "spreads": spreads,
    "seeds": list(SEEDS),
    "runs": {  # per network, one value per seed
        name: {
            "ratio": [hidden_ratio(mon) for _, mon in runs],
            "val_acc": [history.val_acc[-1] for history, _ in runs],
        }
        for name, runs in by_seed.items()
    },
    "table": list(results),
}
"""


@pytest.fixture(scope="module")
def lesson():
    executed = execute_master("02_vanishing_gradients", READ_BACK)
    assert not executed.errors, executed.errors
    return executed


def test_header_points_are_the_test_cells_points():
    stated, total = header_points("02_vanishing_gradients")
    assert stated == total, f"the header says {stated} points, the test cells hold {total}"


def test_nineteen_factors_between_the_first_and_the_last_of_20_layers(lesson):
    why = quoted(
        lesson,
        "it passes the 19 layers in between (the last layer's own $\\sigma'$ is shared by both "
        "ends): $0.25^{19} \\approx 4 \\cdot 10^{-12}$",
    )
    assert round(0.25**19 / 1e-12) == 4, why
    hidden = lesson.values["init_norms"][:-1]
    assert len(hidden) == 20, why
    assert hidden[0] / hidden[-1] < 0.25**19, why  # the bound, with the weights' own shrinking


def test_each_layer_gets_a_smaller_gradient(lesson):
    why = quoted(
        lesson, "Every layer further from the output gets a gradient several times smaller"
    )
    hidden = lesson.values["init_norms"][:-1]
    steps = sorted(b / a for a, b in zip(hidden, hidden[1:], strict=False))
    assert all(s > 1 for s in steps), why
    assert 2 < steps[len(steps) // 2] < 10, why


def test_the_sigmoid_network_stays_at_chance_and_its_first_layers_do_not_move(lesson):
    why = quoted(lesson, "The validation accuracy stays at chance (10 %).")
    assert all(0.05 < acc < 0.15 for acc in lesson.values["baseline_val_acc"]), why
    assert all(abs(v - math.log(10)) < 0.05 for v in lesson.values["baseline_loss"]), why
    ratios = lesson.values["update_ratio"]
    why = quoted(lesson, "the weights of the first layers do not move at all")
    assert ratios[0] == 0 and ratios[1] == 0, why
    why = quoted(lesson, "the last ones about as large as the dashed line")
    assert 1e-4 < ratios[-1] < 1e-2, why


def test_xavier_slows_tanh_down_and_the_gain_keeps_it(lesson):
    spreads = lesson.values["spreads"]
    why = quoted(
        lesson,
        "With PyTorch's default initialisation the signal fades by orders of magnitude, for "
        "tanh and for ReLU. He's initialisation keeps ReLU's signal at about the same size "
        "through all 20 layers.",
    )
    for name in ("tanh, PyTorch default", "ReLU, PyTorch default"):
        assert spreads[name][-1] < 1e-3 * spreads[name][0], (why, name)
    he = spreads["ReLU, your He"]
    assert 0.5 < he[-1] / he[0] < 2, why
    why = quoted(
        lesson,
        "Xavier's slows tanh's fading down but does not stop it: the spread still falls to about "
        "a quarter of its size after layer 1.",
    )
    xavier = spreads["tanh, your Xavier"]
    assert 0.2 < xavier[-1] / xavier[0] < 0.3, why
    assert xavier[-1] > 100 * spreads["tanh, PyTorch default"][-1], why
    why = quoted(lesson, "Xavier's weights times $5/3$ keep tanh's signal level")
    gained = spreads["tanh, your Xavier × 5/3"]
    assert 0.8 < gained[-1] / gained[0] < 1.0 and max(gained[5:]) / min(gained[5:]) < 1.05, why


def test_each_network_runs_with_two_seeds(lesson):
    why = quoted(lesson, "The table repeats each network with a second seed")
    assert lesson.values["seeds"] == [0, 1], why
    runs = lesson.values["runs"]
    assert all(len(r["ratio"]) == len(r["val_acc"]) == 2 for r in runs.values()), why


def test_what_the_spread_of_the_seeds_shows(lesson):
    runs = lesson.values["runs"]
    why = quoted(lesson, "The seeds move the ratios by less than a factor of 2")
    for name, r in runs.items():
        assert max(r["ratio"]) / min(r["ratio"]) < 2, (why, name, r["ratio"])
    spread = {name: max(r["val_acc"]) - min(r["val_acc"]) for name, r in runs.items()}
    assert max(spread, key=spread.get) == "ReLU + He init" and spread["ReLU + He init"] > 0.03, (
        why,
        spread,
    )
    others = sorted(v for name, v in spread.items() if name != "ReLU + He init")
    assert others[len(others) // 2] <= 0.02, (why, spread)  # most: a point or two
    why = quoted(lesson, "the ranking of the eight networks does not change")
    for a in runs:
        for b in runs:
            pairs = list(zip(runs[a]["val_acc"], runs[b]["val_acc"], strict=True))
            above = [x > y for x, y in pairs]
            if min(abs(x - y) for x, y in pairs) > 0.05:  # closer ones (chance) tie: noise
                assert all(above) or not any(above), (why, a, b)


@pytest.mark.parametrize("seed", [0, 1])
def test_each_fix_alone_and_in_pairs(lesson, seed):
    """Every claim of the comparison holds for each seed the table shows."""
    runs = {
        name: {"ratio": r["ratio"][seed], "val_acc": r["val_acc"][seed]}
        for name, r in lesson.values["runs"].items()
    }
    why = quoted(
        lesson,
        "On their own, residual connections and batch normalisation raise it from about "
        "$10^{-16}$ to between $0.1$ and $10$, and the networks learn (above 90 % on the "
        "validation set).",
    )
    assert 1e-17 < runs["sigmoid (baseline)"]["ratio"] < 1e-15, why
    for name in ("residual", "batch norm"):
        assert 0.1 < runs[name]["ratio"] < 10 and runs[name]["val_acc"] > 0.9, (why, name)
    why = quoted(
        lesson,
        "ReLU alone (about $10^{-6}$) and Xavier's initialisation alone ($10^{-12}$) leave the "
        "gradient vanishing, and the network at chance.",
    )
    assert 5e-7 <= runs["ReLU"]["ratio"] < 2e-6, why  # about 1e-6
    assert 1e-12 <= runs["Xavier init"]["ratio"] < 1e-11, why
    for name in ("ReLU", "Xavier init"):
        assert runs[name]["val_acc"] < 0.15, (why, name)
    why = quoted(
        lesson,
        "Each activation with its own initialisation — ReLU + He, tanh + Xavier — brings the "
        "ratio to between $0.1$ and $10$ and learns, where the same activation with PyTorch's "
        "default initialisation stays at chance. On this budget ReLU + He learns more slowly "
        "than the others (below 90 %).",
    )
    for name in ("ReLU + He init", "tanh + Xavier init"):
        assert 0.1 < runs[name]["ratio"] < 10 and runs[name]["val_acc"] > 0.5, (why, name)
    for name in ("ReLU", "tanh, default init"):  # "ReLU, default init" is the run "ReLU"
        assert runs[name]["val_acc"] < 0.15, (why, name)
    assert runs["ReLU + He init"]["val_acc"] < 0.9, why
    assert all(
        runs[name]["val_acc"] > 0.9 for name in ("tanh + Xavier init", "residual", "batch norm")
    ), why
    assert len(lesson.values["table"]) == 8, "the figure's title says: eight networks"
