"""Lesson 03: every number and comparison the text states, on the master's own outputs."""

from __future__ import annotations

import math
from statistics import fmean

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
    "unclipped_steps": [unclipped.grad_norm, unclipped.step_loss],
    "val_loss": {name: [h.val_loss for h in runs] for name, runs in rnn_runs.items()},
    "clipped_diverged": [h.diverged for runs in rnn_runs.values() for h in runs],
    "norm": {
        f"{depth}|{init}|{norm}": {
            "spread": [_hidden(h, "act_std")[0], _hidden(h, "act_std")[-1]],
            "grad_ratio": _hidden(h, "grad_norm")[0] / _hidden(h, "grad_norm")[-1],
        }
        for (depth, init, norm), h in norm_runs.items()
    },
    "seq_len": seq_len,
    "rnn_radius": [
        torch.linalg.eigvals(recurrent_model("tanh RNN", seed).cell.weight_hh_l0).abs().max().item()
        for seed in gate_seeds
    ],
    "gates_at_init": {name: [r[0] / r[-1] for r in runs] for name, runs in at_init.items()},
    "gates_trained": {name: [r[0] / r[-1] for r in runs] for name, runs in after_training.items()},
    "gates_acc": {name: [h.val_acc[-1] for h in runs] for name, runs in gate_runs.items()},
    "gates_steps": {name: [len(h.step_loss) for h in runs] for name, runs in gate_runs.items()},
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
        "The gradient arrives larger than it left only past a $\\rho$ somewhere between 1.2 and "
        "1.4, depending on the network",
    )
    assert all(run[1.2] < 1 < run[1.4] for run in at), why
    why = quoted(
        lesson,
        "At $\\rho = 2$ it **explodes**, growing with every extra step: at $T = 40$ the first "
        "step's gradient is between $10^4$ and $10^7$ times the last one's (over the three RNNs: "
        "printed above the band figure).",
    )
    growing = lesson.values["through_time"]["ρ = 2.0"]
    assert all(b > a for a, b in zip(growing, growing[1:], strict=False)), why
    assert all(1e4 <= run[2.0] < 1e7 for run in at), why
    at_two = [run[2.0] for run in at]
    printed = lesson.output_text("at_two = ")
    assert f"from {min(at_two):.1e} to {max(at_two):.1e} over the 3 RNNs" in printed, (why, printed)


def test_clipping_keeps_the_run_finite_but_sgd_learns_nothing(lesson):
    values = lesson.values
    why = quoted(lesson, "without clipping the run is lost within the first epoch")
    assert values["unclipped"] is not None and "epoch 1," in values["unclipped"], why
    why = quoted(
        lesson,
        "the gradient of its *weights* is large from the first step on (norm 60, printed below)",
    )
    norms, losses = values["unclipped_steps"]
    assert round(norms[0]) == 60 and round(0.05 * norms[0]) == 3, (why, norms)
    why = quoted(
        lesson,
        "The first SGD step therefore moves the weights by $0.05 \\times 60 = 3$, the next "
        "batch's loss is about $10^{16}$, and the one after it is `nan`",
    )
    assert 5e15 <= losses[1] < 5e16 and math.isnan(losses[2]) and len(losses) == 3, (why, losses)
    assert values["x_grads_12"][0] < values["x_grads_12"][1], why  # fades through time
    why = quoted(
        lesson, "Clipping the global norm to 1 keeps every step bounded and the run finite."
    )
    assert all(d is None for d in values["clipped_diverged"]), why
    assert all(math.isfinite(v) for runs in values["val_loss"].values() for r in runs for v in r)
    baseline = values["baseline"]
    sgd = [run[-1] for run in values["val_loss"]["SGD, clip_norm=1"]]
    why = quoted(
        lesson,
        "after 10 epochs clipped SGD is no better than predicting the mean (0.18–0.23 on the "
        "processors we tried, against 0.187)",
    )
    assert round(baseline, 3) == 0.187, why
    assert all(0.175 <= v < 0.235 and v > baseline - 0.01 for v in sgd), why
    adam = sorted(run[-1] for run in values["val_loss"]["Adam, clip_norm=1"])
    why = quoted(
        lesson,
        "ends well below the mean predictor in its best run (at a loss between 0.02 and 0.14 on "
        "the processors we tried), though not in every run.",
    )
    # well below: the best run ended 0.025 to 0.135 over 16 perturbed draws
    # (bench/claims_robustness.py), about 0.06 on Intel; another run stayed at 0.179 or more
    assert 0.02 <= adam[0] <= 0.14 and adam[-1] > baseline - 0.02, (why, adam)
    assert all(abs(v - baseline) < 0.05 for v in sgd) and adam[0] < baseline - 0.04, why


def test_normalisation_forwards_and_backwards(lesson):
    runs = lesson.values["norm"]
    why = quoted(
        lesson,
        "both normalisations do what they promise: the spread of the activations is the same at "
        "the first and the last hidden layer (about 0.6)",
    )
    for key, run in runs.items():
        if not key.endswith("|none"):
            assert all(0.5 < s < 0.7 for s in run["spread"]), (why, key)
    why = quoted(
        lesson,
        "the plain network's activations grow past $10^8$ (20 layers) or overflow to `nan` "
        "(50 layers)",
    )
    assert 1e8 <= runs["20|normal(0.5)|none"]["spread"][1] < 1e9, why
    assert math.isnan(runs["50|normal(0.5)|none"]["spread"][1]), why
    why = quoted(
        lesson,
        "in 20 ReLU layers with He init the first layer's gradient is about 28 times the last "
        "hidden layer's instead of about half of it, and in 50 layers about $10^4$ times",
    )
    assert 25 <= runs["20|he|batch"]["grad_ratio"] < 31, why
    assert 0.4 <= runs["20|he|none"]["grad_ratio"] < 0.6, why
    assert 5e3 <= runs["50|he|batch"]["grad_ratio"] < 2e4, why
    assert all(runs[k]["grad_ratio"] > 20 for k in runs if k.endswith("|batch")), why
    why = quoted(
        lesson,
        "in all four networks the first hidden layer's gradient is between 0.07 and 0.4 times "
        "the last hidden layer's — it fades towards the input, as in the plain 20-layer He "
        "network, and never explodes",
    )
    layer = [run["grad_ratio"] for key, run in runs.items() if key.endswith("|layer")]
    assert len(layer) == 4 and all(0.07 <= r <= 0.4 for r in layer), why
    assert runs["20|he|none"]["grad_ratio"] < 1, why
    why = quoted(
        lesson,
        "with weights about three times too large ($\\sigma = 0.5$, where He's is "
        "$\\sqrt{2/64} \\approx 0.18$)",
    )
    assert round(math.sqrt(2 / 64), 2) == 0.18 and round(0.5 / math.sqrt(2 / 64)) == 3, why


def test_gates_at_initialisation(lesson):
    at_init = lesson.values["gates_at_init"]
    why = quoted(
        lesson,
        "At initialisation the tanh RNN's gradient at the first step is $10^{-13}$ to $10^{-9}$ "
        "of the last step's",
    )
    assert all(1e-13 <= r < 1e-9 for r in at_init["tanh RNN"]), why
    why = quoted(
        lesson,
        "it has vanished too ($10^{-12}$ to $10^{-9}$): a forget gate at 0.5 halves the cell "
        "state's gradient at every step ($0.5^{49} \\approx 2 \\cdot 10^{-15}$ along the cell "
        "state alone; the paths through the gates leave a little more)",
    )
    assert all(1e-12 <= r < 1e-9 for r in at_init["LSTM, forget bias 0"]), why
    assert all(r > 100 * 0.5**49 for r in at_init["LSTM, forget bias 0"]), why
    assert 0.5**49 == pytest.approx(2e-15, rel=0.15)
    assert 1 / (1 + math.exp(-5)) == pytest.approx(0.993, abs=5e-4)
    why = quoted(lesson, "5 keeps the gate open over all 50 steps: $0.993^{49} \\approx 0.7$.")
    assert 0.993**49 == pytest.approx(0.7, abs=0.03), why
    why = quoted(
        lesson,
        "with the forget bias at 5 the first step still receives between a third and half of "
        "the last step's gradient",
    )
    assert all(0.3 <= r <= 0.5 for r in at_init["LSTM, forget bias 5"]), why
    assert lesson.values["seq_len"] == 50
    why = quoted(
        lesson,
        "A **tanh** RNN is the classic *vanishing* case: $\\tanh' \\le 1$, and PyTorch's default "
        "$W_{hh}$ shrinks the signal too",
    )
    assert all(r < 1 for r in lesson.values["rnn_radius"]), why


def test_gates_solve_the_task_the_rnn_does_not(lesson):
    """The claims hold for averages and seed-by-seed comparisons, not single runs: on the
    Intel and AMD processors the course is tested on, and on this one with the initial weights
    perturbed by a relative 1e-6 (16 draws, bench/claims_robustness.py), the LSTM's mean was
    0.75 or more, the RNN's 0.26 to 0.34, the LSTM's best run solved the task, and with every
    seed the LSTM's trained ratio was larger than the RNN's: 1e3 times or more in 57 of 60 runs
    (20 draws), 20 to 600 times in the other three, never two in one draw."""
    acc, trained = lesson.values["gates_acc"], lesson.values["gates_trained"]
    lstm, rnn = acc["LSTM, forget bias 5"], acc["tanh RNN"]
    why = quoted(
        lesson,
        "With every seed the LSTM with its forget gate open does better than the tanh RNN: on "
        "average it gets two thirds or more of the new sequences right, the RNN less than half "
        "(printed above), and in its best run the LSTM learns the task (90 % or more).",
    )
    assert all(a > b for a, b in zip(lstm, rnn, strict=True)), why  # run by run (same seed)
    assert fmean(lstm) >= 2 / 3 and fmean(rnn) < 0.5 and max(lstm) >= 0.9, why
    why = quoted(lesson, "These are runs of 160 steps each, the same for both")
    assert all(n == 160 for runs in lesson.values["gates_steps"].values() for n in runs), why
    why = quoted(
        lesson,
        "The ratios printed after training show why the RNN learns so little: with every seed, "
        "the first step's gradient relative to the last step's is larger in the LSTM than in the "
        "RNN, and for at least two of the three seeds by a factor of a thousand or more.",
    )
    pairs = list(zip(trained["LSTM, forget bias 5"], trained["tanh RNN"], strict=True))
    assert all(lstm_r > rnn_r for lstm_r, rnn_r in pairs), (why, trained)
    # 1e3 or more in 57 of 60 runs of 20 perturbed draws (the others 20, 200 and 600 times)
    assert sum(lstm_r >= 1e3 * rnn_r for lstm_r, rnn_r in pairs) >= 2, (why, trained)


def test_summary_of_normalisation_and_gates(lesson):
    runs, at_init = lesson.values["norm"], lesson.values["gates_at_init"]
    why = quoted(
        lesson,
        "backwards, at initialisation, batch norm makes a deep ReLU network's gradient grow "
        "towards the input (about 28 times over 20 layers, $10^4$ over 50), layer norm does not.",
    )
    assert 25 <= runs["20|he|batch"]["grad_ratio"] < 31, why
    assert 5e3 <= runs["50|he|batch"]["grad_ratio"] < 2e4, why
    assert all(run["grad_ratio"] < 1 for key, run in runs.items() if key.endswith("|layer")), why
    why = quoted(lesson, "($10^{-13}$ to $10^{-9}$ of it reaches step 1 of 50)")
    assert all(1e-13 <= r < 1e-9 for r in at_init["tanh RNN"]), why
    why = quoted(
        lesson,
        "with the gate open (bias 5) a third to a half reaches step 1, and the LSTM learns to "
        "remember the first symbol better than the tanh RNN with every seed (two thirds or more on "
        "average, against less than half)",
    )
    assert all(0.3 <= r <= 0.5 for r in at_init["LSTM, forget bias 5"]), why
    lstm, rnn = (
        lesson.values["gates_acc"]["LSTM, forget bias 5"],
        lesson.values["gates_acc"]["tanh RNN"],
    )
    assert all(a > b for a, b in zip(lstm, rnn, strict=True)), why
    assert fmean(lstm) >= 2 / 3 and fmean(rnn) < 0.5, why
    why = quoted(lesson, "With PyTorch's default forget bias the LSTM's gradient vanishes too")
    assert all(r < 1e-9 for r in at_init["LSTM, forget bias 0"]), why
