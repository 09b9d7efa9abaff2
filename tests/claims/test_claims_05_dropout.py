"""Lesson 05: every number and comparison the text states, on the master's own outputs."""

from __future__ import annotations

import pytest

from tests.claims.executed import execute_master, header_points, quoted

pytestmark = [pytest.mark.slow, pytest.mark.dropout]

READ_BACK = """
claims_out = {
    "rates": drop_rates,
    "labels_right": labels_right,
    "seeds": seeds,
    "val_acc": {f"{p}|{seed}": h.val_acc for (p, seed), h in runs.items()},
    "train_acc": {f"{p}|{seed}": h.train_acc for (p, seed), h in runs.items()},
    "val_loss_none": {str(seed): runs[0.0, seed].val_loss for seed in seeds},
    "train_mode": noisy_accuracies,
    "eval_mode": accuracy,
    "weight_decays": weight_decays,
    "wd_val_acc": {f"{wd}|{seed}": h.val_acc for (wd, seed), h in decayed.items()},
    "wd_train_acc": {f"{wd}|{seed}": h.train_acc for (wd, seed), h in decayed.items()},
    "patience": patience,
    "stops": [[int(kept), int(stopped)] for kept, stopped in stops],
    "mc": mc_results,
}
"""


@pytest.fixture(scope="module")
def lesson():
    executed = execute_master("05_dropout", READ_BACK)
    assert not executed.errors, executed.errors
    return executed


def test_header_points_are_the_test_cells_points():
    stated, total = header_points("05_dropout")
    assert stated == total, f"the header says {stated} points, the test cells hold {total}"


def _final(lesson, key, p):
    return [lesson.values[key][f"{p}|{seed}"][-1] for seed in lesson.values["seeds"]]


def test_without_dropout_the_network_memorises(lesson):
    why = quoted(
        lesson,
        "Without dropout the network reaches 100 % on its training set — it has memorised the "
        "wrong labels too — and its validation accuracy falls after an early peak.",
    )
    assert all(acc == 1.0 for acc in _final(lesson, "train_acc", 0.0)), why
    for seed in lesson.values["seeds"]:
        curve = lesson.values["val_acc"][f"0.0|{seed}"]
        assert max(curve) - curve[-1] > 0.1, (why, seed)


def test_each_rate_up_to_0_8_beats_the_one_below_in_every_seed(lesson):
    why = quoted(
        lesson,
        "each rate up to $0.8$ beats the one below it in every seed — the ranges printed above "
        "do not overlap: no dropout 67–70 %, $p = 0.2$ 71–73 %, $p = 0.5$ 77–80 %, $p = 0.8$ about "
        "90 %.",
    )
    finals = {p: _final(lesson, "val_acc", p) for p in (0.0, 0.2, 0.5, 0.8)}
    for low, high in ((0.0, 0.2), (0.2, 0.5), (0.5, 0.8)):
        assert min(finals[high]) > max(finals[low]), (why, low, high)
    stated = {
        0.0: (0.665, 0.705),
        0.2: (0.705, 0.735),
        0.5: (0.765, 0.805),
        0.8: (0.89, 0.91),
    }  # about 90 %: a point either way
    for p, (low, high) in stated.items():
        assert all(low <= acc < high for acc in finals[p]), (why, p, finals[p])


def test_the_best_rate_fits_the_clean_labels(lesson):
    why = quoted(
        lesson,
        "At $p = 0.8$ the network fits its training set only to about 70 %, not far above the "
        "69 % of its labels that are right (printed above",
    )
    right = lesson.values["labels_right"]
    assert round(100 * right) == 69, (why, right)
    assert all(right <= acc < 0.75 for acc in _final(lesson, "train_acc", 0.8)), why
    why = quoted(
        lesson,
        "nothing is learned: evaluated with dropout off, the untrained network is at chance.",
    )
    assert all(acc < 0.15 for acc in _final(lesson, "val_acc", 1.0)), why


def test_evaluating_in_training_mode(lesson):
    why = quoted(
        lesson,
        "In training mode the predictions change from one call to the next and are worse on "
        "average",
    )
    noisy = lesson.values["train_mode"]
    assert len(set(noisy)) > 1, why
    assert sum(noisy) / len(noisy) < lesson.values["eval_mode"], why


def _decayed(lesson, key, wd):
    return [lesson.values[key][f"{wd}|{seed}"][-1] for seed in lesson.values["seeds"]]


def _early_stopped(lesson, key):
    """Per seed, the run without dropout at the epoch early stopping keeps."""
    return [
        lesson.values[key][f"0.0|{seed}"][kept]
        for seed, (kept, _) in zip(lesson.values["seeds"], lesson.values["stops"], strict=True)
    ]


def test_early_stopping_stops_at_a_third_of_the_budget(lesson):
    why = quoted(
        lesson,
        "In every seed the validation loss is lowest at epoch 5, so early stopping ends training "
        "after epoch 10 — a third of the budget — and restores epoch 5.",
    )
    assert lesson.values["patience"] == 5, why
    for seed, (kept, stopped) in zip(lesson.values["seeds"], lesson.values["stops"], strict=True):
        losses = lesson.values["val_loss_none"][str(seed)]
        assert min(range(len(losses)), key=losses.__getitem__) == 4, (why, seed)  # epoch 5
        assert (kept, stopped) == (4, 9), (why, seed)
        assert (stopped + 1) * 3 == len(losses), why


def test_three_regularisers_against_none(lesson):
    why = quoted(
        lesson,
        "Without regularisation the network ends at 67–70 % on validation. Each of the three "
        "regularisers lifts it by more than 15 points in every seed: dropout ($p = 0.8$) ends at "
        "about 90 %, weight decay $0.05$ at about 87 %, and early stopping keeps weights worth "
        "88–92 %.",
    )
    none = _final(lesson, "val_acc", 0.0)
    assert all(0.665 <= acc < 0.705 for acc in none), (why, none)
    regularised = {
        "dropout": _final(lesson, "val_acc", 0.8),
        "weight decay": _decayed(lesson, "wd_val_acc", 0.05),
        "early stopping": _early_stopped(lesson, "val_acc"),
    }
    for name, accs in regularised.items():
        assert all(a - b > 0.15 for a, b in zip(accs, none, strict=True)), (why, name, accs)
    assert all(0.89 <= a <= 0.91 for a in regularised["dropout"]), why  # about: a point
    assert all(0.86 <= a <= 0.88 for a in regularised["weight decay"]), why
    assert all(0.875 <= a < 0.925 for a in regularised["early stopping"]), why


def test_regularisers_keep_training_accuracy_near_the_right_labels(lesson):
    why = quoted(
        lesson,
        "All three hold the training accuracy far below the 100 % of the unregularised network "
        "— between 69 % and 74 %, near the 69 % of labels that are right",
    )
    accs = (
        _final(lesson, "train_acc", 0.8)
        + _decayed(lesson, "wd_train_acc", 0.05)
        + _early_stopped(lesson, "train_acc")
    )
    assert all(0.685 <= a < 0.745 for a in accs), (why, accs)
    assert all(a == 1.0 for a in _final(lesson, "train_acc", 0.0)), why


def test_the_strength_of_weight_decay_matters(lesson):
    why = quoted(
        lesson,
        "$0.01$ barely helps (71–74 %), and at $0.1$ the decay overwhelms the data and the "
        "network underfits: about 50 % on validation and under 45 % on its own training set.",
    )
    assert all(0.705 <= a < 0.745 for a in _decayed(lesson, "wd_val_acc", 0.01)), why
    assert all(0.45 <= a < 0.55 for a in _decayed(lesson, "wd_val_acc", 0.1)), why
    assert all(a < 0.45 for a in _decayed(lesson, "wd_train_acc", 0.1)), why
    finals = [min(_decayed(lesson, "wd_val_acc", wd)) for wd in lesson.values["weight_decays"]]
    assert max(finals) == min(_decayed(lesson, "wd_val_acc", 0.05)), (why, finals)


def test_mc_dropout(lesson):
    why = quoted(
        lesson,
        "Averaged over 50 calls, the prediction is within a point of evaluation mode in every "
        "seed, and better than every single call in training mode above.",
    )
    mc = lesson.values["mc"]
    assert len(mc) == len(lesson.values["seeds"]) == 3, why
    for run in mc:
        assert abs(run["accuracy"] - lesson.values["eval_mode"]) <= 0.01, (why, run)
        assert run["accuracy"] > max(lesson.values["train_mode"]), (why, run)
    why = quoted(
        lesson,
        "the probability of the predicted class varies about four times more (3.9 to 4.2 times "
        "over the three seeds) from call to call on the digits the network gets wrong than on "
        "those it gets right",
    )
    ratios = [run["spread_wrong"] / run["spread_right"] for run in mc]
    assert (round(min(ratios), 1), round(max(ratios), 1)) == (3.9, 4.2), (why, ratios)
