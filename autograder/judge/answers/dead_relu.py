"""Answer keys of 04_dead_relu: judge side only, never in a kernel."""

from __future__ import annotations

import torch
from torch import nn

from autograder.judge.answers.keys import check_choice, check_number

LESSON = "04_dead_relu"

_Q_RECOVER = "4ca3c86a6b83166d"  # digest("04_dead_relu", "q_recover", <the answer>)


def q_recover(answer) -> None:
    check_choice(answer, "answer_recover", "04_dead_relu", "q_recover", _Q_RECOVER, "abcd")


def q_leaky_slope(answer) -> None:
    x = torch.tensor(-3.0, requires_grad=True, dtype=torch.float64)
    nn.functional.leaky_relu(x, 0.05).backward()
    check_number(answer, "answer_leaky_slope", x.grad.item(), rel=1e-6)


QUESTIONS = {
    "q_recover": q_recover,
    "q_leaky_slope": q_leaky_slope,
}
