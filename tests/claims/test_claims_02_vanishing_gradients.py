"""Lesson 02: every number and comparison the text states, on the master's own outputs."""

from __future__ import annotations

import math

import pytest

from tests.claims.executed import execute_master, header_points, quoted

pytestmark = [pytest.mark.slow, pytest.mark.vanishing]

READ_BACK = """
claims_out = {
    "layers_plotted": [len(layer_grad_norms(deep_sigmoid)), len(layer_grad_norms(stack))],
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
            "val_acc_per_epoch": [history.val_acc for history, _ in runs],
        }
        for name, runs in by_seed.items()
    },
    "table": list(results),
    "symmetry": symmetry,
    "factors": factors,
    "backward": backward,
    "inside": {  # per network, per seed: per-layer means over training (hidden layers only)
        name: [
            {
                metric: list(mon.mean_over_steps(metric).values())[:-1]
                for metric in ("saturated", "dead", "update_ratio", "act_mean", "act_std")
            }
            for _, mon in runs
        ]
        for name, runs in by_seed.items()
    },
    "ratio_steps": {  # per learning network, per seed: each hidden layer's ratio at each step
        name: [[mon.series("update_ratio", layer) for layer in mon.layers[:-1]] for _, mon in runs]
        for name, runs in by_seed.items()
        if name in ("residual", "batch norm", "ReLU + He init", "tanh + Xavier init")
    },
    "validation": {  # seed 0 after training, on the validation set: per shown layer
        name: {layer: [out.mean().item(), out.std().item()] for layer, out in layers.items()}
        for name, layers in inside.items()
    },
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
        "it is multiplied by 19 such factors, one for each step down from a layer to the one "
        "below it (the last layer's own $\\sigma'$ is shared by both ends): "
        "$0.25^{19} \\approx 4 \\cdot 10^{-12}$",
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


def test_units_that_start_equal_stay_equal(lesson):
    symmetry = lesson.values["symmetry"]
    why = quoted(
        lesson,
        "Both constant starts end as they began: one distinct unit in each hidden layer of 32. "
        "Started at 0, not one hidden weight moves (the largest change is exactly 0). Started "
        "at 0.1, the weights do move, but all in step, and the network stays near chance (below "
        "15 %), where the randomly initialised one passes 80 % in the same three epochs.",
    )
    zero, constant, random = (symmetry[k] for k in ("all 0", "all 0.1", "random (PyTorch default)"))
    assert zero[0] == [1, 1] and zero[1] == 0 and zero[2] < 0.15, why
    assert constant[0] == [1, 1] and constant[1] > 1e-3 and constant[2] < 0.15, why
    assert random[0] == [32, 32] and random[2] > 0.8, why


def test_the_derivation_predicts_the_factor_per_layer(lesson):
    factors = lesson.values["factors"]
    why = quoted(
        lesson,
        "The factors per layer are the ones the derivation predicts, $\\sqrt{1/3} \\approx 0.58$ "
        "for tanh and $\\sqrt{1/6} \\approx 0.41$ for ReLU with PyTorch's default, and "
        "$\\sqrt{1/2} \\approx 0.71$ for ReLU with your Xavier (no gain): each measured factor "
        "(printed above) is within 0.05 of its prediction.",
    )
    for name, predicted in [
        ("tanh, PyTorch default", math.sqrt(1 / 3)),
        ("ReLU, PyTorch default", math.sqrt(1 / 6)),
        ("ReLU, your Xavier", math.sqrt(1 / 2)),
    ]:
        assert abs(factors[name] - predicted) < 0.05, (why, name, factors[name])
    assert round(math.sqrt(1 / 3), 2) == 0.58 and round(math.sqrt(1 / 6), 2) == 0.41, why
    assert round(math.sqrt(1 / 2), 2) == 0.71, why


def test_backwards_it_is_the_same_story(lesson):
    backward = lesson.values["backward"]
    why = quoted(
        lesson,
        "the gradient that reaches layer 1 is the same size as the one arriving at layer 20 with "
        "He's weights (ReLU), within a factor of 2, and smaller by orders of magnitude with "
        "PyTorch's default, for tanh and for ReLU.",
    )
    assert 0.5 < backward["ReLU, your He"] < 2, why
    for name in ("tanh, PyTorch default", "ReLU, PyTorch default"):
        assert backward[name] < 1e-3, (why, name)
    why = quoted(
        lesson,
        "With Xavier's times $5/3$, tanh's gradient grows on its way back, by a factor of "
        "3 to 10 over the 19 layers",
    )
    assert 3 < backward["tanh, your Xavier × 5/3"] < 10, why


def _inside(lesson, name, seed):
    return lesson.values["inside"][name][seed]


@pytest.mark.parametrize("seed", [0, 1])
def test_what_the_units_do(lesson, seed):
    baseline = _inside(lesson, "sigmoid (baseline)", seed)
    why = quoted(
        lesson,
        "The sigmoid baseline is **not** saturated: fewer than 1 % of its units are, in every "
        "layer. Its activations sit in a narrow peak around 0.5 — a mean between 0.45 and 0.55 "
        "and a spread below 0.1 in every layer after the first",
    )
    assert len(baseline["saturated"]) == 20, why
    assert max(baseline["saturated"]) < 0.01, why
    assert all(0.45 < m < 0.55 for m in baseline["act_mean"]), why
    assert max(baseline["act_std"][1:]) < 0.1, why
    residual = _inside(lesson, "residual", seed)
    why = quoted(
        lesson,
        "The residual network is the most saturated of all, more than half of the units in each "
        "of its last ten layers, and learns anyway",
    )
    assert min(residual["saturated"][10:]) > 0.5, why
    for name, runs in lesson.values["inside"].items():
        if name != "residual" and not math.isnan(runs[seed]["saturated"][0]):
            assert max(runs[seed]["saturated"]) < max(residual["saturated"]), (why, name)
    assert lesson.values["runs"]["residual"]["val_acc"][seed] > 0.9, why
    norm = _inside(lesson, "batch norm", seed)
    why = quoted(
        lesson,
        "Batch normalisation keeps every layer alike: a mean of 0.5, a spread between 0.2 and "
        "0.25 in all 20 layers, and almost no unit saturated (below 1 %).",
    )
    assert all(abs(m - 0.5) < 0.01 for m in norm["act_mean"]), why
    assert all(0.2 <= s < 0.25 for s in norm["act_std"]) and max(norm["saturated"]) < 0.01, why
    tanh_xavier = _inside(lesson, "tanh + Xavier init", seed)
    tanh_default = _inside(lesson, "tanh, default init", seed)
    why = quoted(
        lesson,
        "tanh with Xavier's initialisation keeps between 10 and 25 % of its units saturated in "
        "every layer, with a spread of about 0.7 throughout; with PyTorch's default, none past "
        "layer 1 are, because the signal has faded to a spread below 0.12 from layer 4 on.",
    )
    assert all(0.1 <= s <= 0.25 for s in tanh_xavier["saturated"]), why
    assert all(0.65 < s < 0.75 for s in tanh_xavier["act_std"]), why
    assert max(tanh_default["saturated"][1:]) == 0, why
    assert max(tanh_default["act_std"][3:]) < 0.12, why
    relu, he = _inside(lesson, "ReLU", seed), _inside(lesson, "ReLU + He init", seed)
    why = quoted(
        lesson,
        "ReLU with PyTorch's default initialisation has about half of its units dead in the "
        "deeper layers (between 35 and 60 % in each of layers 5 to 20); with He's, at most "
        "40 % in any layer.",
    )
    assert all(0.35 <= d <= 0.6 for d in relu["dead"][4:]), why
    # up to 33 % over 14 perturbed draws
    assert max(he["dead"]) < 0.405, why


@pytest.mark.parametrize("seed", [0, 1])
def test_how_much_each_step_moves_each_layer(lesson, seed):
    why = quoted(
        lesson,
        "The four networks that learn — residual, batch norm, ReLU + He, tanh + Xavier — move "
        "every hidden layer by between $5 \\cdot 10^{-4}$ and $10^{-2}$ of its size "
        "per step, on average over training: within a factor of ten of the guide line at "
        "$10^{-3}$.",
    )
    for name in ("residual", "batch norm", "ReLU + He init", "tanh + Xavier init"):
        ratios = _inside(lesson, name, seed)["update_ratio"]
        assert len(ratios) == 20 and all(5e-4 <= r <= 1e-2 for r in ratios), (why, name, ratios)
    why = quoted(
        lesson,
        "The four that stay at chance hardly move their first layers: below $10^{-6}$ in each of "
        "the first five layers, and exactly 0 (the ▽ marks) for the sigmoid baseline and for "
        "Xavier's sigmoid network.",
    )
    for name in ("sigmoid (baseline)", "Xavier init", "ReLU", "tanh, default init"):
        assert max(_inside(lesson, name, seed)["update_ratio"][:5]) < 1e-6, (why, name)
        assert lesson.values["runs"][name]["val_acc"][seed] < 0.15, (why, name)
    for name in ("sigmoid (baseline)", "Xavier init"):
        assert _inside(lesson, name, seed)["update_ratio"][0] == 0, (why, name)
    why = quoted(
        lesson,
        "Step by step the range is wider: the residual network's smallest ratio falls to about "
        "$10^{-4}$ by the end of training, while the other three stay above $3 \\cdot 10^{-4}$ "
        "at every step.",
    )
    steps = lesson.values["ratio_steps"]
    residual = steps["residual"][seed]
    at_end = min(layer[-1] for layer in residual)
    assert 5e-5 <= at_end <= 2e-4, (why, at_end)
    early = min(min(layer[: len(layer) // 2]) for layer in residual)
    assert at_end < early / 2, (why, "it does not fall", early, at_end)
    for name in ("batch norm", "ReLU + He init", "tanh + Xavier init"):
        smallest = min(min(layer) for layer in steps[name][seed])
        assert smallest > 3e-4, (why, name, smallest)


def test_the_validation_activations_show_the_same(lesson):
    """The densities (seed 0, validation set) agree with what the text says of the baseline."""
    why = quoted(lesson, "Its activations sit in a narrow peak around 0.5")
    layers = lesson.values["validation"]["sigmoid (baseline)"]
    assert list(layers) == ["layer 1", "layer 5", "layer 10", "layer 15", "layer 20"], why
    for layer, (mean, std) in layers.items():
        assert 0.45 < mean < 0.55, (why, layer)
        assert layer == "layer 1" or std < 0.1, (why, layer)


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
    why = quoted(
        lesson,
        "and the accuracies of the seven networks that learn well or not at all by at most six "
        "points.",
    )
    spread = {name: max(r["val_acc"]) - min(r["val_acc"]) for name, r in runs.items()}
    del spread["ReLU + He init"]
    # tanh + Xavier's moves most: up to 4.7 points in ten perturbed draws
    assert max(spread.values()) < 0.06, (why, spread)
    why = quoted(
        lesson,
        "ReLU + He is different: in the middle of its climb when the budget runs out, it ends "
        "below 90 % with both seeds,",
    )
    for curve in runs["ReLU + He init"]["val_acc_per_epoch"]:
        assert 0.2 < curve[-1] < 0.9 and max(curve) - curve[0] > 0.1, (why, curve)
    why = quoted(
        lesson,
        "The ranking of the eight networks does not change (the four at chance, within two "
        "points of each other, count as a tie)",
    )
    chance = ("sigmoid (baseline)", "ReLU", "Xavier init", "tanh, default init")
    for seed in (0, 1):
        accuracies = [runs[name]["val_acc"][seed] for name in chance]
        assert max(accuracies) - min(accuracies) < 0.02, (why, seed, accuracies)
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
        "than the others: it ends more than ten points below each of the three others that learn.",
    )
    for name in ("ReLU + He init", "tanh + Xavier init"):
        # learns: from chance (10 %) to more than twice it (ReLU + He ends mid-climb)
        assert 0.1 < runs[name]["ratio"] < 10 and runs[name]["val_acc"] > 0.2, (why, name)
    for name in ("ReLU", "tanh, default init"):  # "ReLU, default init" is the run "ReLU"
        assert runs[name]["val_acc"] < 0.15, (why, name)
    others = [runs[name]["val_acc"] for name in ("tanh + Xavier init", "residual", "batch norm")]
    # ReLU + He 29-67 % against 90-96 % in four perturbed draws
    assert runs["ReLU + He init"]["val_acc"] < min(others) - 0.10, (why, others)
    assert len(lesson.values["table"]) == 8, "the figure's title says: eight networks"


def test_the_numbers_behind_the_figures_are_printed(lesson):
    """Section 6 quotes per-layer numbers: the lesson prints them, both seeds, all 20 layers,
    as the claims above read them from the same monitors."""
    quoted(lesson, "then the numbers behind them, layer by layer and for both seeds")
    text = lesson.output_text("per_layer(mon, metric)")
    inside = lesson.values["inside"]
    for metric, title, scale, digits in (
        ("act_mean", "activation mean", 1, 2),
        ("act_std", "activation spread", 1, 2),
        ("saturated", "% saturated units", 100, 0),
        ("dead", "% dead units", 100, 0),
    ):
        block = text.split(title + " per hidden layer", 1)[1].split("\n\n", 1)[0]
        for name, seeds in inside.items():
            for seed, values in enumerate(seeds):
                label = f"{name[:19]:19s} seed {seed}"
                line = next(row for row in block.splitlines() if row.startswith(label))
                printed = line[len(label) :].split()
                expected = [
                    "-" if math.isnan(v) else f"{scale * v:.{digits}f}" for v in values[metric]
                ]
                assert printed == expected, (metric, name, seed, printed, expected)


def test_the_update_ratios_behind_section_6_are_printed(lesson):
    """ "Each statement here holds for both seeds (the last table above)": the table prints
    each hidden layer's mean ratio for every network and seed, and its smallest over the
    steps, as the claims of test_how_much_each_step_moves_each_layer read them."""
    quoted(lesson, "Each statement here holds for both seeds (the last table above).")
    text = lesson.output_text("per_layer(mon, metric)")
    block = text.split("update : data ratio per hidden layer", 1)[1]
    rows = block.splitlines()
    for name, seeds in lesson.values["inside"].items():
        for seed, values in enumerate(seeds):
            label = f"{name[:19]:19s} seed {seed}"
            (at,) = [i for i, row in enumerate(rows) if row.startswith(label)]
            means = [f"{v:.0e}" for v in values["update_ratio"]]
            assert rows[at][len(label) :].split() == means, (name, seed)
            assert rows[at + 1].split()[0] == "min", (name, seed)
            if name in lesson.values["ratio_steps"]:
                smallest = [f"{min(s):.0e}" for s in lesson.values["ratio_steps"][name][seed]]
                assert rows[at + 1].split()[1:] == smallest, (name, seed)


def test_the_residual_stack_figure_counts_its_layers(lesson):
    why = quoted(
        lesson,
        "the gradient norm of every layer with a weight — the input layer, the 20 blocks, the "
        "output layer (22 in all, against the plain network's 21)",
    )
    assert lesson.values["layers_plotted"] == [21, 22], (why, lesson.values["layers_plotted"])
