"""Lesson 03: every number and comparison the text states, on the master's own outputs."""

from __future__ import annotations

import math

import pytest

from tests.claims.executed import execute_master, header_points, quoted

pytestmark = [pytest.mark.slow, pytest.mark.exploding]

READ_BACK = """
def _first_over_last(history):
    norms = list(history.mean_over_steps("grad_norm").values())
    return norms[0] / norms[-1]


def _hidden(history, metric):
    return list(history.mean_over_steps(metric).values())[:-1]


claims_out = {
    "init_ratio": {label: _first_over_last(h) for label, h in init_runs.items()},
    "lr_loss": {label: h.step_loss[:40] for label, h in lr_runs.items()},
    "lr_diverged": {label: h.diverged for label, h in lr_runs.items()},
    "x_grads_12": input_gradients(1.2, 40),
    "through_time": through_time,
    "radii": radii,
    "by_radius": by_radius,
    "baseline": mean_predictor_loss,
    "unclipped": unclipped.diverged,
    "val_loss": {name: [h.val_loss for h in runs] for name, runs in rnn_runs.items()},
    "clipped_diverged": [h.diverged for runs in rnn_runs.values() for h in runs],
    "bn": {
        f"{depth}|{init}|{bn}": {
            "spread": [_hidden(h, "act_std")[0], _hidden(h, "act_std")[-1]],
            "grad_ratio": _hidden(h, "grad_norm")[0] / _hidden(h, "grad_norm")[-1],
        }
        for (depth, init, bn), h in bn_runs.items()
    },
}
"""


@pytest.fixture(scope="module")
def lesson():
    executed = execute_master("03_exploding_gradients", READ_BACK)
    assert not executed.errors, executed.errors
    return executed


def test_header_points_are_the_test_cells_points():
    stated, total = header_points("03_exploding_gradients")
    assert stated == total, f"the header says {stated} points, the test cells hold {total}"


def test_too_large_an_init(lesson):
    ratio = lesson.values["init_ratio"]
    why = quoted(
        lesson,
        "With Xavier's $\\sigma = 0.125$ the first layer's gradient and the output layer's are "
        "about the same size; with $\\sigma = 0.5$ the first layer's is thousands of times larger.",
    )
    assert 0.5 < ratio["σ = 0.125"] < 2, why
    assert 1e3 <= ratio["σ = 0.5"] < 1e4, why


def test_learning_rates(lesson):
    losses = lesson.values["lr_loss"]
    why = quoted(
        lesson,
        "At $\\eta = 0.1$ the loss falls steadily; at $\\eta = 1$ it falls too, but with jumps up "
        "along the way; at $\\eta = 2$ it grows by many orders of magnitude within a few steps",
    )

    def biggest_jump(values):
        return max(b / a for a, b in zip(values, values[1:], strict=False))

    slow, fast, wild = losses["lr = 0.1"], losses["lr = 1.0"], losses["lr = 2.0"]
    assert sum(slow[-5:]) / 5 < 0.4 * slow[0], why
    assert sum(fast[-5:]) / 5 < fast[0], why
    assert biggest_jump(fast) > 2 > biggest_jump(slow), why
    finite = [v for v in wild if math.isfinite(v)]
    assert max(finite) > 1e6 * wild[0] and len(finite) < 10, why
    assert lesson.values["lr_diverged"]["lr = 2.0"] is not None, why
    assert lesson.values["lr_diverged"]["lr = 0.1"] is None, why


def test_spectral_radius_above_one_is_not_enough(lesson):
    radii, runs = lesson.values["radii"], lesson.values["by_radius"]
    at = [{r: v for r, v in zip(radii, run, strict=True)} for run in runs]
    why = quoted(
        lesson,
        "At $\\rho = 1$ and even at $\\rho = 1.2$ the gradient still **vanishes** on its way "
        "back through 40 steps",
    )
    assert all(run[1.0] < 1e-3 and run[1.2] < 1 for run in at), why
    falling = lesson.values["through_time"]["ρ = 1.2"]
    assert falling[-1] < falling[0] < 1, why
    first, last = lesson.values["x_grads_12"]
    why = quoted(lesson, "the first step receives a gradient of norm 0.0002, the last one 0.06")
    assert 1.5e-4 <= first < 2.5e-4 and 0.055 <= last < 0.065, why
    why = quoted(
        lesson,
        "The gradient arrives larger than it left only past $\\rho \\approx 1.2$–$1.4$, "
        "depending on the network",
    )
    assert all(run[1.2] < 1 < run[1.4] for run in at), why
    why = quoted(
        lesson,
        "At $\\rho = 2$ it **explodes**, growing with every extra step: at $T = 40$ the first "
        "step's gradient is $10^4$ to $10^6$ times the last one's.",
    )
    growing = lesson.values["through_time"]["ρ = 2.0"]
    assert all(b > a for a, b in zip(growing, growing[1:], strict=False)), why
    assert all(1e4 <= run[2.0] < 1e7 for run in at), why


def test_clipping_keeps_the_run_finite_but_sgd_learns_nothing(lesson):
    values = lesson.values
    why = quoted(lesson, "the loss is `nan` within the first epoch")
    assert values["unclipped"] is not None and "epoch 1," in values["unclipped"], why
    why = quoted(
        lesson, "Clipping the global norm to 1 keeps every step bounded and the run finite."
    )
    assert all(d is None for d in values["clipped_diverged"]), why
    assert all(math.isfinite(v) for runs in values["val_loss"].values() for r in runs for v in r)
    baseline = values["baseline"]
    sgd = [run[-1] for run in values["val_loss"]["SGD, clip_norm=1"]]
    why = quoted(
        lesson,
        "after 10 epochs clipped SGD is no better than predicting the mean (0.18–0.22 against "
        "0.187)",
    )
    assert round(baseline, 3) == 0.187, why
    assert all(0.175 <= v < 0.225 and v > baseline - 0.01 for v in sgd), why
    adam = sorted(run[-1] for run in values["val_loss"]["Adam, clip_norm=1"])
    why = quoted(
        lesson,
        "gets clearly below the mean predictor in two of the three runs (about 0.11 and 0.06), "
        "and not in the third",
    )
    assert sum(v < baseline - 0.05 for v in adam) == 2, why
    assert abs(adam[0] - 0.06) < 0.01 and abs(adam[1] - 0.11) < 0.01, why
    assert adam[2] > baseline - 0.02, why


def test_batch_norm_forwards_and_backwards(lesson):
    bn = lesson.values["bn"]
    why = quoted(
        lesson,
        "the spread of the activations is the same at the first and the last hidden layer "
        "(about 0.6)",
    )
    for key, run in bn.items():
        if key.endswith("|True"):
            assert all(0.5 < s < 0.7 for s in run["spread"]), (why, key)
    why = quoted(
        lesson,
        "the plain network's activations grow to $10^8$ (20 layers) or overflow to `nan` "
        "(50 layers)",
    )
    assert 1e8 <= bn["20|normal(0.5)|False"]["spread"][1] < 1e9, why
    assert math.isnan(bn["50|normal(0.5)|False"]["spread"][1]), why
    why = quoted(
        lesson,
        "in 20 ReLU layers with He init the first layer's gradient is about 28 times the last "
        "one's instead of about half of it, and in 50 layers about $10^4$ times",
    )
    assert 25 <= bn["20|he|True"]["grad_ratio"] < 31, why
    assert 0.4 <= bn["20|he|False"]["grad_ratio"] < 0.6, why
    assert 5e3 <= bn["50|he|True"]["grad_ratio"] < 2e4, why
