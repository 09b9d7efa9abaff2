"""Wrong answers that hide their mistake by what they do to the grader's objects, found by a
red team: each must lose its points (an honest kernel, judged as the grader judges).

- changing the inputs in place so that an oracle computed afterwards agrees;
- a residual block that never applies its layer, with weights that make that invisible.
"""

from __future__ import annotations

import pytest

from tests.lesson_harness import LessonCells, assert_loses_points

ZERO_INPUTS = "    x[...] = 0.0\n    w[...] = 0.0\n    b[...] = 0.0\n    return np.zeros((x.shape[0], w.shape[1])), None\n"
CASES = [
    (
        "01_backprop",
        "test_linear_forward",
        [("linear_forward", "    out = x @ w + b\n", ZERO_INPUTS + "    out = x @ w + b\n")],
        "linear_forward zeroes x, w, b and returns zeros",
    ),
    (
        "01_backprop",
        "test_sigmoid_forward",
        [
            (
                "sigmoid_forward",
                "    out = 1.0 / (1.0 + np.exp(-x))\n",
                "    x[...] = 0.0\n    out = np.full(x.shape, 0.5)\n",
            )
        ],
        "sigmoid_forward zeroes x and returns 0.5",
    ),
    (
        "01_backprop",
        "test_relu_forward",
        [
            (
                "relu_forward",
                "    out = np.maximum(0, x)\n",
                "    x[...] = 0.0\n    out = x.copy()\n",
            )
        ],
        "relu_forward zeroes x and returns zeros",
    ),
    (
        "04_dead_relu",
        "test_leaky_relu_forward",
        [
            (
                "leaky_relu_forward",
                "    out = np.where(x > 0, x, alpha * x)\n",
                "    x[...] = 0.0\n    out = x.copy()\n",
            )
        ],
        "leaky_relu_forward zeroes x and returns zeros",
    ),
    (
        "05_dropout",
        "test_dropout_backward",
        [
            (
                "dropout_backward",
                "    return dout * mask\n",
                "    dout[...] = 0.0\n    return dout * 0\n",
            )
        ],
        "dropout_backward zeroes dout and returns zeros",
    ),
    (
        "02_vanishing_gradients",
        "test_residual_block",
        [
            (
                "residual_block",
                "        self.act = act\n",
                "        self.act = act\n        nn.init.zeros_(self.linear.weight)\n"
                "        nn.init.zeros_(self.linear.bias)\n",
            ),
            (
                "residual_block",
                "        return x + self.act(self.linear(x))\n",
                "        return x + self.act(torch.zeros_like(x))\n",
            ),
        ],
        "ResidualBlock never applies its layer (zero weights hide it)",
    ),
]


@pytest.mark.parametrize(
    ("lesson", "test_id", "edits", "mistake"), CASES, ids=[c[3] for c in CASES]
)
def test_a_wrong_answer_that_moves_the_oracle_loses_its_points(lesson, test_id, edits, mistake):
    outcome = LessonCells(lesson).run(test_id, edits)
    assert_loses_points(outcome, mistake)
