"""Lesson 05: every number and comparison the text states, on the master's own outputs."""

from __future__ import annotations

import pytest

from tests.claims.executed import execute_master, header_points, quoted

pytestmark = [pytest.mark.slow, pytest.mark.dropout]

READ_BACK = """
claims_out = {
    "rates": drop_rates,
    "seeds": seeds,
    "val_acc": {f"{p}|{seed}": h.val_acc for (p, seed), h in runs.items()},
    "train_acc": {f"{p}|{seed}": h.train_acc for (p, seed), h in runs.items()},
    "train_mode": noisy_accuracies,
    "eval_mode": accuracy,
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
        "do not overlap: no dropout 67–70 %, $p = 0.2$ 71–73 %, $p = 0.5$ 77–80 %, $p = 0.8$ 90 %.",
    )
    finals = {p: _final(lesson, "val_acc", p) for p in (0.0, 0.2, 0.5, 0.8)}
    for low, high in ((0.0, 0.2), (0.2, 0.5), (0.5, 0.8)):
        assert min(finals[high]) > max(finals[low]), (why, low, high)
    stated = {0.0: (0.665, 0.705), 0.2: (0.705, 0.735), 0.5: (0.765, 0.805), 0.8: (0.895, 0.905)}
    for p, (low, high) in stated.items():
        assert all(low <= acc < high for acc in finals[p]), (why, p, finals[p])


def test_the_best_rate_fits_the_clean_labels(lesson):
    why = quoted(
        lesson,
        "At $p = 0.8$ the network fits its training set only to about 70 %, not far above the "
        "64 % of its labels that are right",
    )
    assert all(0.64 < acc < 0.75 for acc in _final(lesson, "train_acc", 0.8)), why
    why = quoted(lesson, "nothing is learned: chance.")
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
