"""Lesson 04_dead_relu: the master earns every point; plausible mistakes lose them."""

import pytest

from tests.lesson_harness import LessonCells, standard_tests

pytestmark = pytest.mark.dead_relu
LESSON = LessonCells("04_dead_relu")
DEAD = "dead = (activations == 0).all(dim=0)"
EMPTY = '    if activations.shape[0] == 0:\n        raise ValueError("activations holds no inputs (N = 0): cannot tell which units are dead")\n'

# (test cell, what the mistake is, [(solution cell, correct text, wrong text), ...])
WRONG = [
    (
        "test_dead_unit_fraction",
        "counts zero entries, not dead units",
        [("dead_unit_fraction", DEAD, "dead = activations == 0")],
    ),
    (
        "test_dead_unit_fraction",
        "mean activation below a threshold",
        [("dead_unit_fraction", DEAD, "dead = activations.mean(dim=0) < 0.01")],
    ),
    (
        "test_dead_unit_fraction",
        "zero for any input instead of all",
        [("dead_unit_fraction", DEAD, "dead = (activations == 0).any(dim=0)")],
    ),
    ("test_dead_unit_fraction", "no error for an empty batch", [("dead_unit_fraction", EMPTY, "")]),
    (
        "test_dead_unit_fraction",
        "just calls coursekit's monitor",
        [
            (
                "dead_unit_fraction",
                "    return dead.float().mean().item()",
                "    from coursekit import monitor\n\n    return float(monitor._activation_stats([activations], nn.ReLU())[0, 3])",
            )
        ],
    ),
    (
        "test_dead_units_by_layer",
        "leaves the hooks on",
        [
            (
                "dead_units_by_layer",
                "        for handle in handles:\n            handle.remove()",
                "        pass",
            )
        ],
    ),
    (
        "test_dead_units_by_layer",
        "ignores Leaky ReLU modules",
        [
            (
                "dead_units_by_layer",
                "isinstance(module, (nn.ReLU, nn.LeakyReLU))",
                "isinstance(module, nn.ReLU)",
            )
        ],
    ),
    (
        "test_dead_units_by_layer",
        "measures the linear layers' outputs",
        [
            (
                "dead_units_by_layer",
                "isinstance(module, (nn.ReLU, nn.LeakyReLU))",
                "isinstance(module, nn.Linear)",
            )
        ],
    ),
    (
        "test_leaky_relu_forward",
        "a constant alpha for negative inputs",
        [("leaky_relu_forward", "np.where(x > 0, x, alpha * x)", "np.where(x > 0, x, alpha)")],
    ),
    (
        "test_leaky_relu_forward",
        "sign error on the negative side",
        [("leaky_relu_forward", "np.where(x > 0, x, alpha * x)", "np.where(x > 0, x, -alpha * x)")],
    ),
    (
        "test_leaky_relu_forward",
        "changes its input in place",
        [
            (
                "leaky_relu_forward",
                "    out = np.where(x > 0, x, alpha * x)",
                "    x[x < 0] *= alpha\n    out = x",
            )
        ],
    ),
    (
        "test_leaky_relu_backward",
        "passes alpha for positive inputs",
        [
            (
                "leaky_relu_backward",
                "np.where(x > 0, dout, alpha * dout)",
                "np.where(x > 0, alpha * dout, dout)",
            )
        ],
    ),
    (
        "test_leaky_relu_backward",
        "forgets dout",
        [
            (
                "leaky_relu_backward",
                "np.where(x > 0, dout, alpha * dout)",
                "np.where(x > 0, 1.0, alpha)",
            )
        ],
    ),
    (
        "test_leaky_relu_backward",
        "plain ReLU's backward",
        [
            (
                "leaky_relu_backward",
                "np.where(x > 0, dout, alpha * dout)",
                "np.where(x > 0, dout, 0.0)",
            )
        ],
    ),
    (
        "test_answer_recover",
        "weights are zero",
        [("answer_recover", 'answer_recover = "c"', 'answer_recover = "a"')],
    ),
    (
        "test_answer_recover",
        "no derivative at 0",
        [("answer_recover", 'answer_recover = "c"', 'answer_recover = "d"')],
    ),
    (
        "test_answer_leaky_slope",
        "the output instead of the derivative",
        [("answer_leaky_slope", "answer_leaky_slope = 0.05", "answer_leaky_slope = 0.05 * -3")],
    ),
    (
        "test_answer_leaky_slope",
        "ReLU's derivative",
        [("answer_leaky_slope", "answer_leaky_slope = 0.05", "answer_leaky_slope = 0.0")],
    ),
]


FIXED_NAMES = [
    "def dead_unit_fraction(activations)",
    "def leaky_relu_forward(x, alpha=0.01)",
    "def leaky_relu_backward(dout, cache)",
]
# What the visible checks say to each mistake above (a part of the message that names it)
VISIBLE_MESSAGES = {
    "counts zero entries, not dead units": "0 for EVERY input",
    "mean activation below a threshold": "small is not dead",
    "zero for any input instead of all": "0 for EVERY input",
    "no error for an empty batch": "empty batch (0 inputs) must raise a ValueError",
    "just calls coursekit's monitor": "calls coursekit.monitor._activation_stats",
    "leaves the hooks on": "hooks are left on the model",
    "ignores Leaky ReLU modules": "a LeakyReLU counts too",
    "measures the linear layers' outputs": "(the ReLU modules)",
    "a constant alpha for negative inputs": "alpha * x elsewhere",
    "sign error on the negative side": "alpha * x elsewhere",
    "changes its input in place": "changed its input x in place",
    "passes alpha for positive inputs": "dout where x > 0, alpha * dout where x < 0",
    "forgets dout": "dout where x > 0, alpha * dout where x < 0",
    "plain ReLU's backward": "alpha * dout where x < 0",
}

globals().update(standard_tests(LESSON, WRONG, FIXED_NAMES, VISIBLE_MESSAGES))


def test_calling_the_monitor_is_caught_by_the_hidden_check():
    edits = next(e for t, m, e in WRONG if m == "just calls coursekit's monitor")
    outcome = LESSON.run("test_dead_unit_fraction", edits)
    assert "calls coursekit.monitor._activation_stats" in str(outcome.error), outcome.message
