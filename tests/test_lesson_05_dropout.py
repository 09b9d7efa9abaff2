"""Lesson 05_dropout: the master earns every point; plausible mistakes lose them."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.lesson_harness import LessonCells, standard_tests

pytestmark = pytest.mark.dropout
LESSON = LessonCells("05_dropout")
MASK = "mask = (rng.random(x.shape) >= p) / (1.0 - p)"
CHECK_P = '    if not 0.0 <= p <= 1.0:\n        raise ValueError(f"p is the drop probability and must be in [0, 1], got {p}")\n'
P_ONE = "    if p == 1.0:\n        mask = np.zeros(x.shape)\n    else:\n        mask = (rng.random(x.shape) >= p) / (1.0 - p)"

# (test cell, what the mistake is, [(solution cell, correct text, wrong text), ...])
WRONG = [
    (
        "test_dropout_forward",
        "keep probability used as drop probability",
        [("dropout_forward", MASK, "mask = (rng.random(x.shape) < p) / (1.0 - p)")],
    ),
    (
        "test_dropout_forward",
        "no 1/(1-p) scaling",
        [("dropout_forward", MASK, "mask = (rng.random(x.shape) >= p) * 1.0")],
    ),
    (
        "test_dropout_forward",
        "scales at evaluation instead of training",
        [
            ("dropout_forward", MASK, "mask = (rng.random(x.shape) >= p) * 1.0"),
            (
                "dropout_forward",
                "    if not train or p == 0.0:\n        return x, None",
                "    if not train or p == 0.0:\n        return x * (1 - p), None",
            ),
        ],
    ),
    (
        "test_dropout_forward",
        "NumPy's global random state instead of rng",
        [("dropout_forward", "rng.random(x.shape)", "np.random.random(x.shape)")],
    ),
    (
        "test_dropout_forward",
        "divides by zero at p = 1",
        [("dropout_forward", P_ONE, "    mask = (rng.random(x.shape) >= p) / (1.0 - p)")],
    ),
    ("test_dropout_forward", "accepts p outside [0, 1]", [("dropout_forward", CHECK_P, "")]),
    (
        "test_dropout_forward",
        "lets p = nan through (p < 0 or p > 1 is False for NaN)",
        [("dropout_forward", "if not 0.0 <= p <= 1.0:", "if p < 0.0 or p > 1.0:")],
    ),
    (
        "test_dropout_backward",
        "a fresh mask in the backward pass",
        [
            (
                "dropout_backward",
                "    return dout * mask\n",
                "    fresh = np.random.default_rng(99).random(dout.shape) >= 0.5\n    return dout * fresh / 0.5\n",
            )
        ],
    ),
    (
        "test_dropout_backward",
        "forgets the 1/(1-p) scale",
        [("dropout_backward", "    return dout * mask\n", "    return dout * (mask != 0)\n")],
    ),
    (
        "test_dropout_backward",
        "breaks in eval mode",
        [("dropout_backward", "    if mask is None:\n        return dout\n", "")],
    ),
    (
        "test_early_stopping",
        "an equal loss counts as an improvement",
        [
            (
                "early_stopping",
                "if val_losses[epoch] < val_losses[best]:",
                "if val_losses[epoch] <= val_losses[best]:",
            )
        ],
    ),
    (
        "test_early_stopping",
        "the global minimum (looks ahead)",
        [
            (
                "early_stopping",
                "    best = 0\n",
                "    best = int(np.argmin(val_losses))\n"
                "    return best, min(best + patience, len(val_losses) - 1)\n",
            )
        ],
    ),
    (
        "test_early_stopping",
        "waits one epoch too many",
        [("early_stopping", "elif epoch - best >= patience:", "elif epoch - best > patience:")],
    ),
    (
        "test_early_stopping",
        "keeps the last epoch's weights",
        [("early_stopping", "            return best, epoch", "            return epoch, epoch")],
    ),
    (
        "test_early_stopping",
        "1-based epochs",
        [
            (
                "early_stopping",
                "            return best, epoch",
                "            return best + 1, epoch + 1",
            ),
            (
                "early_stopping",
                "    return best, len(val_losses) - 1",
                "    return best + 1, len(val_losses)",
            ),
        ],
    ),
    (
        "test_answer_all_dropped",
        "nothing dropped",
        [("answer_all_dropped", 'answer_all_dropped = "b"', 'answer_all_dropped = "a"')],
    ),
    (
        "test_answer_all_dropped",
        "doubled",
        [("answer_all_dropped", 'answer_all_dropped = "b"', 'answer_all_dropped = "c"')],
    ),
    (
        "test_answer_why_scale",
        "faster",
        [("answer_why_scale", 'answer_why_scale = "a"', 'answer_why_scale = "b"')],
    ),
    (
        "test_answer_why_scale",
        "dead units",
        [("answer_why_scale", 'answer_why_scale = "a"', 'answer_why_scale = "d"')],
    ),
    (
        "test_answer_kept_value",
        "multiplies by 1 - p",
        [("answer_kept_value", "2.0 / (1 - 0.2)", "2.0 * (1 - 0.2)")],
    ),
    ("test_answer_kept_value", "no scaling", [("answer_kept_value", "2.0 / (1 - 0.2)", "2.0")]),
    (
        "test_answer_decay_factor",
        "forgets the learning rate",
        [("answer_decay_factor", "1 - 0.1 * 0.01", "1 - 0.01")],
    ),
    (
        "test_answer_decay_factor",
        "the decrement instead of the factor",
        [("answer_decay_factor", "1 - 0.1 * 0.01", "0.1 * 0.01")],
    ),
]


FIXED_NAMES = [
    "def dropout_forward(x, p, train, rng)",
    "def dropout_backward(dout, cache)",
    "def early_stopping(val_losses, patience)",
]
# What the visible checks say to each mistake above (a part of the message that names it)
VISIBLE_MESSAGES = {
    "keep probability used as drop probability": "p = 0.3 is the probability of dropping",
    "no 1/(1-p) scaling": "dividing kept units by 1 - p",
    "scales at evaluation instead of training": "dividing kept units by 1 - p",
    "NumPy's global random state instead of rng": "used NumPy's global random state",
    "divides by zero at p = 1": "treat p = 1 apart",
    "accepts p outside [0, 1]": "must raise a ValueError",
    "lets p = nan through (p < 0 or p > 1 is False for NaN)": "with p=nan must raise a ValueError",
    "a fresh mask in the backward pass": "the same mask as the forward pass",
    "forgets the 1/(1-p) scale": "the same 1 / (1 - p)",
    "breaks in eval mode": "in eval mode",
    "an equal loss counts as an improvement": "not an improvement (strictly lower",
    "the global minimum (looks ahead)": "cannot look ahead",
    "waits one epoch too many": "epochs in a row without improvement",
    "keeps the last epoch's weights": "not the last epoch trained",
    "1-based epochs": "0-based indices",
}

globals().update(standard_tests(LESSON, WRONG, FIXED_NAMES, VISIBLE_MESSAGES))


@pytest.mark.parametrize("seed", range(5))
def test_a_correct_solution_passes_with_any_rng_seed(seed):
    """The statistical checks never fail a correct solution, whatever the draw."""
    outcome = LESSON.run(
        "test_dropout_forward",
        [
            (
                "dropout_forward",
                "    if p == 1.0:",
                f"    rng = np.random.default_rng({seed} + int(rng.integers(1 << 30)))\n    if p == 1.0:",
            )
        ],
    )
    assert outcome.passed, outcome.message


def _early_stopping_by_simulation(losses, patience):
    """Early stopping run epoch by epoch, as a training loop would: the test's own reference."""
    best_loss, best, waited = float("inf"), 0, 0
    for epoch, loss in enumerate(losses):
        if loss < best_loss:
            best_loss, best, waited = loss, epoch, 0
        else:
            waited += 1
            if waited == patience:
                return best, epoch
    return best, len(losses) - 1


@settings(max_examples=300, deadline=None)
@given(
    losses=st.lists(st.integers(0, 6).map(float), min_size=1, max_size=25),
    patience=st.integers(1, 6),
)
def test_the_hidden_properties_accept_exactly_the_right_answer(losses, patience):
    """The properties of the hidden check decide early stopping's answer: they accept the
    simulated one and reject every other pair of epochs."""
    from autograder.kernel.collect.dropout import _check_stop
    from coursekit.checks import CheckFailed

    right = _early_stopping_by_simulation(losses, patience)
    _check_stop(losses, patience, right)
    for kept in range(len(losses)):
        for stopped in range(len(losses)):
            if (kept, stopped) != right:
                with pytest.raises(CheckFailed):
                    _check_stop(losses, patience, (kept, stopped))
